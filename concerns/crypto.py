"""Envelope encryption for anonymous concerns (DESIGN.md rules 2 and 3).

Pure functions composed from `cryptography` primitives: no Flask, no database,
no I/O, no module-level state. Every secret comes in as an argument.

Shapes of what this module produces (all lengths in bytes):

* **Receipt**: 20 Crockford base32 symbols (100 bits from `secrets`), shown as
  ``XXXX-XXXX-XXXX-XXXX-XXXX``. Never stored; the server keeps only
  `receipt_lookup_key` (32-byte HMAC-SHA256).
* **Message ciphertext** (`Sealed.ciphertext`): ``nonce (12) || ChaCha20-Poly1305
  output`` where the plaintext was padded to a bucket (1 KiB … 128 KiB), so its
  length is always ``12 + bucket + 16``.
* **Wrap** (one per recipient): ``ephemeral X25519 public (32) || nonce (12) ||
  ChaCha20-Poly1305(data key) (32 + 16)`` = 92 bytes.
* **Locked handler key**: ``version (1) = 1 || memory KiB (4, big-endian) ||
  iterations (4) || lanes (4) || salt (16) || nonce (12) || ChaCha20-Poly1305(raw
  private key) (32 + 16)`` = 89 bytes; the 29-byte header is the AEAD's
  associated data, so parameters cannot be altered without detection.
* **Recovery private key**: PKCS#8 PEM (optionally passphrase-encrypted), meant
  for a 0600 file or paper kept offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "HANDLER_KEY_ARGON2",
    "MAX_PLAINTEXT_BYTES",
    "PAD_BUCKETS",
    "Argon2Params",
    "CryptoError",
    "DecryptionError",
    "KeyFormatError",
    "MalformedReceiptError",
    "MessageTooLargeError",
    "Sealed",
    "derive_server_key",
    "load_recovery_private_key",
    "lock_private_key",
    "new_keypair",
    "new_receipt",
    "normalise_receipt",
    "open_sealed",
    "public_key_from_raw",
    "public_key_to_raw",
    "receipt_lookup_key",
    "recovery_keypair",
    "relock_private_key",
    "reporter_private_key",
    "rewrap",
    "seal",
    "unlock_private_key",
    "unwrap_key",
    "wrap_key",
]


class CryptoError(Exception):
    """Base class for every error this module raises on purpose."""


class DecryptionError(CryptoError):
    """Something could not be decrypted: wrong key, wrong password, or tampered data.

    Deliberately one error for every cause, so callers cannot tell (or leak)
    which part failed.
    """


class MessageTooLargeError(CryptoError, ValueError):
    """The plaintext does not fit in the largest padding bucket."""


class MalformedReceiptError(CryptoError, ValueError):
    """The text is not a receipt (after forgiving case, spaces, dashes, O/0, I/L/1)."""


class KeyFormatError(CryptoError, ValueError):
    """Bytes that should hold a key do not."""


# --------------------------------------------------------------------------- receipts

# Crockford's base32: digits and capitals without I, L, O (read as 1, 1, 0) or U.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_SYMBOLS = 20  # 20 symbols x 5 bits = 100 bits, above DESIGN rule 3's 96.
RECEIPT_GROUP = 4
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Separators people (or word processors) put between groups; all are ignored.
_SEPARATORS = "-\u2010\u2011\u2012\u2013\u2014\u2212_"
_MAX_RECEIPT_INPUT = 200  # Anything longer is not a receipt; don't bother scanning it.

_MIN_SERVER_KEY_BYTES = 16
_RECEIPT_LOOKUP_LABEL = b"speakup receipt lookup v1\x00"
_REPORTER_SALT_LABEL = b"speakup reporter salt v1"
_REPORTER_KEY_INFO = b"speakup reporter key v1"
_SERVER_KEY_INFO_PREFIX = b"speakup server key v1\x00"


def new_receipt() -> str:
    """Return a fresh receipt (100 random bits) in canonical grouped form."""
    symbols = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_SYMBOLS))
    return _group(symbols)


def normalise_receipt(text: str) -> str | None:
    """Return the canonical form of a receipt typed by hand, or None if it is not one."""
    if not isinstance(text, str) or len(text) > _MAX_RECEIPT_INPUT:
        return None
    compact = "".join(ch for ch in "".join(text.split()) if ch not in _SEPARATORS)
    # ASCII check before upper(): "ı".upper() is "I", and we want no such surprises.
    if not compact.isascii():
        return None
    compact = compact.upper().translate(_CONFUSABLE)
    if len(compact) != RECEIPT_SYMBOLS or any(ch not in RECEIPT_ALPHABET for ch in compact):
        return None
    return _group(compact)


def receipt_lookup_key(receipt: str, server_key: bytes) -> bytes:
    """Return the 32-byte keyed hash the server stores to find a receipt's concern.

    `server_key` should be ``derive_server_key(secret, "receipt-lookup")``.
    """
    canonical = _require_receipt(receipt)
    _check_server_key(server_key)
    message = _RECEIPT_LOOKUP_LABEL + canonical.encode("ascii")
    return hmac.new(server_key, message, hashlib.sha256).digest()


def reporter_private_key(receipt: str, server_key: bytes) -> X25519PrivateKey:
    """Derive the reporter's X25519 private key from their receipt.

    `server_key` should be ``derive_server_key(secret, "reporter-salt")``.
    """
    canonical = _require_receipt(receipt)
    _check_server_key(server_key)
    # DESIGN rule 3: the receipt carries 100 bits of entropy, so a fast KDF (HKDF)
    # is enough; nobody can enumerate 2**100 receipts. A memory-hard KDF would only
    # make every submission slow and hand attackers a denial-of-service lever.
    #
    # The salt is an HMAC of server_key rather than server_key itself: HKDF-Extract
    # is HMAC(salt, ikm), so if a caller passed the receipt-lookup key here by
    # mistake, a raw salt would make the extracted key equal the stored lookup hash
    # and the reporter key computable from the database.
    salt = hmac.new(server_key, _REPORTER_SALT_LABEL, hashlib.sha256).digest()
    seed = _hkdf(canonical.encode("ascii"), info=_REPORTER_KEY_INFO, salt=salt)
    return X25519PrivateKey.from_private_bytes(seed)


def derive_server_key(secret_key: str | bytes, purpose: str) -> bytes:
    """Derive an independent 32-byte key for `purpose` from the configured secret."""
    secret = secret_key.encode("utf-8") if isinstance(secret_key, str) else bytes(secret_key)
    if not secret:
        raise ValueError("The server secret key is empty.")
    if not purpose:
        raise ValueError("A server key needs a purpose, e.g. 'receipt-lookup'.")
    return _hkdf(secret, info=_SERVER_KEY_INFO_PREFIX + purpose.encode("utf-8"))


def _group(symbols: str) -> str:
    return "-".join(symbols[i : i + RECEIPT_GROUP] for i in range(0, len(symbols), RECEIPT_GROUP))


def _require_receipt(receipt: str) -> str:
    canonical = normalise_receipt(receipt)
    if canonical is None:
        raise MalformedReceiptError("That is not a receipt.")
    return canonical


def _check_server_key(server_key: bytes) -> None:
    if not isinstance(server_key, bytes) or len(server_key) < _MIN_SERVER_KEY_BYTES:
        raise ValueError(
            f"The server key must be at least {_MIN_SERVER_KEY_BYTES} bytes "
            "(use derive_server_key)."
        )


# --------------------------------------------------------------------------- keys

KEY_BYTES = 32


def new_keypair() -> tuple[X25519PrivateKey, bytes]:
    """Return a fresh X25519 private key and its raw 32-byte public key."""
    private_key = X25519PrivateKey.generate()
    return private_key, public_key_to_raw(private_key.public_key())


def public_key_to_raw(public_key: X25519PublicKey) -> bytes:
    """Return the raw 32-byte encoding of an X25519 public key."""
    return public_key.public_bytes_raw()


def public_key_from_raw(raw: bytes) -> X25519PublicKey:
    """Return the X25519 public key whose raw 32-byte encoding is `raw`."""
    if not isinstance(raw, bytes) or len(raw) != KEY_BYTES:
        raise KeyFormatError(f"An X25519 public key is {KEY_BYTES} bytes.")
    return X25519PublicKey.from_public_bytes(raw)


def recovery_keypair(passphrase: str | None = None) -> tuple[bytes, bytes]:
    """Return the organisation's recovery key as (PKCS#8 PEM private, raw public).

    The PEM is for offline custody (a 0600 file, or printed); with `passphrase`
    it is encrypted with the best scheme `cryptography` offers. Only the raw
    public half goes into the server's configuration.
    """
    private_key, public_raw = new_keypair()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase
        else serialization.NoEncryption()
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return pem, public_raw


def load_recovery_private_key(data: bytes, passphrase: str | None = None) -> X25519PrivateKey:
    """Load the recovery private key written by `recovery_keypair`."""
    password = passphrase.encode("utf-8") if passphrase else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # Wrong passphrase and malformed file look alike here on purpose.
        raise KeyFormatError("Not a readable recovery key (or the passphrase is wrong).") from exc
    if not isinstance(key, X25519PrivateKey):
        raise KeyFormatError("The recovery key must be an X25519 key.")
    return key


# --------------------------------------------------------------------------- messages

KIB = 1024
PAD_BUCKETS = tuple(KIB * 2**i for i in range(8))  # 1 KiB, 2 KiB, … 128 KiB
_LENGTH_PREFIX = struct.Struct(">I")
MAX_PLAINTEXT_BYTES = PAD_BUCKETS[-1] - _LENGTH_PREFIX.size
NONCE_BYTES = 12
TAG_BYTES = 16
WRAP_BYTES = KEY_BYTES + NONCE_BYTES + KEY_BYTES + TAG_BYTES
_WRAP_INFO = b"speakup wrap v1"


@dataclass(frozen=True)
class Sealed:
    """One encrypted message and its data key wrapped for each recipient.

    `ciphertext` is ``nonce (12) || ChaCha20-Poly1305(padded plaintext)``;
    `wraps` maps a caller-chosen recipient id to that recipient's 92-byte wrap.
    """

    ciphertext: bytes
    wraps: dict[str, bytes]


def seal(plaintext: bytes, recipients: Mapping[str, X25519PublicKey], aad: bytes) -> Sealed:
    """Encrypt `plaintext` under a fresh data key and wrap that key to each recipient.

    `aad` must identify the row (e.g. concern id + message id) so that a
    ciphertext or wrap moved to another row fails to open.
    """
    if not recipients:
        raise ValueError("A message sealed to nobody could never be read.")
    data_key = ChaCha20Poly1305.generate_key()
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = nonce + ChaCha20Poly1305(data_key).encrypt(nonce, _pad(plaintext), aad)
    wraps = {rid: wrap_key(data_key, public, aad) for rid, public in recipients.items()}
    return Sealed(ciphertext=ciphertext, wraps=wraps)


def open_sealed(ciphertext: bytes, wrap: bytes, private_key: X25519PrivateKey, aad: bytes) -> bytes:
    """Unwrap the data key with `private_key`, decrypt `ciphertext` and remove padding."""
    data_key = unwrap_key(wrap, private_key, aad)
    if len(ciphertext) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("Could not decrypt.")
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        padded = ChaCha20Poly1305(data_key).decrypt(nonce, body, aad)
    except InvalidTag as exc:
        raise DecryptionError("Could not decrypt.") from exc
    return _unpad(padded)


def wrap_key(data_key: bytes, recipient_public: X25519PublicKey, aad: bytes) -> bytes:
    """Encrypt a 32-byte data key so only the holder of the recipient's private key can read it."""
    if len(data_key) != KEY_BYTES:
        raise ValueError(f"A data key is {KEY_BYTES} bytes.")
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = public_key_to_raw(ephemeral.public_key())
    try:
        shared = ephemeral.exchange(recipient_public)
    except ValueError as exc:  # a low-order point gives an all-zero secret
        raise KeyFormatError("The recipient's public key is not usable.") from exc
    kek = _wrap_kek(shared, ephemeral_raw, public_key_to_raw(recipient_public))
    nonce = secrets.token_bytes(NONCE_BYTES)
    return ephemeral_raw + nonce + ChaCha20Poly1305(kek).encrypt(nonce, data_key, aad)


def unwrap_key(wrapped: bytes, recipient_private: X25519PrivateKey, aad: bytes) -> bytes:
    """Recover the data key from a wrap made by `wrap_key`."""
    if len(wrapped) != WRAP_BYTES:
        raise DecryptionError("Could not decrypt.")
    ephemeral_raw = wrapped[:KEY_BYTES]
    nonce = wrapped[KEY_BYTES : KEY_BYTES + NONCE_BYTES]
    body = wrapped[KEY_BYTES + NONCE_BYTES :]
    recipient_raw = public_key_to_raw(recipient_private.public_key())
    try:
        shared = recipient_private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
        kek = _wrap_kek(shared, ephemeral_raw, recipient_raw)
        return ChaCha20Poly1305(kek).decrypt(nonce, body, aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("Could not decrypt.") from exc


def rewrap(
    wrap: bytes,
    private_key: X25519PrivateKey,
    new_recipient_public: X25519PublicKey,
    aad: bytes,
) -> bytes:
    """Share a message's data key with a new recipient, using a key that can already open it."""
    return wrap_key(unwrap_key(wrap, private_key, aad), new_recipient_public, aad)


def _wrap_kek(shared: bytes, ephemeral_raw: bytes, recipient_raw: bytes) -> bytes:
    # Both public keys go into `info` so the wrap is bound to them: X25519 ignores
    # the top bit of a public key, and without this a flipped bit would go unnoticed.
    return _hkdf(shared, info=_WRAP_INFO + ephemeral_raw + recipient_raw)


def _pad(plaintext: bytes) -> bytes:
    if len(plaintext) > MAX_PLAINTEXT_BYTES:
        raise MessageTooLargeError(
            f"A message may hold at most {MAX_PLAINTEXT_BYTES} bytes, not {len(plaintext)}."
        )
    framed = _LENGTH_PREFIX.pack(len(plaintext)) + plaintext
    bucket = next(size for size in PAD_BUCKETS if size >= len(framed))
    return framed.ljust(bucket, b"\x00")


def _unpad(padded: bytes) -> bytes:
    # Authenticated already, so a failure here means our own bug or a stolen data
    # key; either way refuse rather than return something half-right.
    if len(padded) not in PAD_BUCKETS:
        raise DecryptionError("Could not decrypt.")
    (length,) = _LENGTH_PREFIX.unpack_from(padded)
    end = _LENGTH_PREFIX.size + length
    if end > len(padded) or any(padded[end:]):
        raise DecryptionError("Could not decrypt.")
    return padded[_LENGTH_PREFIX.size : end]


# --------------------------------------------------------------------------- handler keys


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters (memory in KiB)."""

    memory_kib: int
    iterations: int
    lanes: int

    def __post_init__(self) -> None:
        if self.lanes < 1 or self.iterations < 1 or self.memory_kib < 8 * self.lanes:
            raise ValueError("Argon2id needs lanes >= 1, iterations >= 1, memory >= 8 KiB/lane.")


# RFC 9106's second recommended option (64 MiB, 3 passes), single lane because
# cryptography computes lanes sequentially; about 0.15 s per unlock on a laptop.
HANDLER_KEY_ARGON2 = Argon2Params(memory_kib=64 * KIB, iterations=3, lanes=1)
# Refuse blobs demanding more than this, so a corrupted or planted blob cannot
# make an unlock eat the server's memory or CPU.
_ARGON2_LIMIT = Argon2Params(memory_kib=1024 * KIB, iterations=64, lanes=16)

_LOCK_VERSION = 1
_LOCK_HEADER = struct.Struct(">BIII16s")  # version, memory KiB, iterations, lanes, salt
_LOCKED_BYTES = _LOCK_HEADER.size + NONCE_BYTES + KEY_BYTES + TAG_BYTES


def lock_private_key(
    private_key: X25519PrivateKey, password: str, params: Argon2Params | None = None
) -> bytes:
    """Encrypt a handler's private key under a key derived from their password."""
    if not password:
        raise ValueError("A private key cannot be locked with an empty password.")
    params = params or HANDLER_KEY_ARGON2
    salt = secrets.token_bytes(16)
    header = _LOCK_HEADER.pack(
        _LOCK_VERSION, params.memory_kib, params.iterations, params.lanes, salt
    )
    key = _argon2(password, salt, params)
    nonce = secrets.token_bytes(NONCE_BYTES)
    raw = private_key.private_bytes_raw()
    return header + nonce + ChaCha20Poly1305(key).encrypt(nonce, raw, header)


def unlock_private_key(blob: bytes, password: str) -> X25519PrivateKey:
    """Decrypt a handler's private key; a wrong password raises DecryptionError."""
    if len(blob) != _LOCKED_BYTES:
        raise DecryptionError("Could not unlock the key.")
    header = blob[: _LOCK_HEADER.size]
    version, memory_kib, iterations, lanes, salt = _LOCK_HEADER.unpack(header)
    if version != _LOCK_VERSION:
        raise DecryptionError("Could not unlock the key.")
    try:
        params = Argon2Params(memory_kib=memory_kib, iterations=iterations, lanes=lanes)
    except ValueError as exc:
        raise DecryptionError("Could not unlock the key.") from exc
    if (
        params.memory_kib > _ARGON2_LIMIT.memory_kib
        or params.iterations > _ARGON2_LIMIT.iterations
        or params.lanes > _ARGON2_LIMIT.lanes
    ):
        raise DecryptionError("Could not unlock the key.")
    nonce = blob[_LOCK_HEADER.size : _LOCK_HEADER.size + NONCE_BYTES]
    body = blob[_LOCK_HEADER.size + NONCE_BYTES :]
    try:
        raw = ChaCha20Poly1305(_argon2(password, salt, params)).decrypt(nonce, body, header)
    except InvalidTag as exc:
        raise DecryptionError("Could not unlock the key.") from exc
    return X25519PrivateKey.from_private_bytes(raw)


def relock_private_key(
    blob: bytes, old_password: str, new_password: str, params: Argon2Params | None = None
) -> bytes:
    """Re-encrypt a locked key under a new password (and the current default parameters)."""
    return lock_private_key(unlock_private_key(blob, old_password), new_password, params)


def _argon2(password: str, salt: bytes, params: Argon2Params) -> bytes:
    return Argon2id(
        salt=salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    ).derive(password.encode("utf-8"))


def _hkdf(key_material: bytes, *, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(
        key_material
    )


# --------------------------------------------------------------------------- files

# Attachments are sealed in chunks (the STREAM construction of Hoang, Reyhanitabar,
# Rogaway and Vizár, 2015, over ChaCha20-Poly1305) so memory stays flat whatever the
# file's size. Each file has a fresh key, used for nothing else, so a counter nonce is
# safe; the nonce carries the chunk's index and whether it is the last, so chunks can
# be neither reordered, dropped from the end nor appended to.
FILE_CHUNK_BYTES = 64 * 1024


def _chunk_nonce(index: int, last: bool) -> bytes:
    return struct.pack(">IQ", 1 if last else 0, index)


def new_file_key() -> bytes:
    return ChaCha20Poly1305.generate_key()


def seal_chunks(read: Callable[[int], bytes], key: bytes, aad: bytes) -> Iterator[bytes]:
    """Encrypt what `read(n)` yields, chunk by chunk; yield each sealed chunk.

    Holds at most two plaintext chunks at a time (to know which one is last).
    """
    cipher = ChaCha20Poly1305(key)
    index = 0
    current = read(FILE_CHUNK_BYTES)
    while True:
        following = read(FILE_CHUNK_BYTES) if current else b""
        last = not following
        yield cipher.encrypt(_chunk_nonce(index, last), current, aad)
        if last:
            return
        current, index = following, index + 1


def open_chunks(chunks: Iterable[bytes], key: bytes, aad: bytes) -> Iterator[bytes]:
    """Decrypt sealed chunks in order, yielding plaintext; raise DecryptionError if a chunk
    was changed, moved or dropped, or the last one is missing."""
    cipher = ChaCha20Poly1305(key)
    pending: bytes | None = None
    index = 0
    for chunk in chunks:
        if pending is not None:
            try:
                yield cipher.decrypt(_chunk_nonce(index, False), pending, aad)
            except InvalidTag as exc:
                raise DecryptionError("A file chunk was changed, moved or is missing.") from exc
            index += 1
        pending = chunk
    if pending is None:
        raise DecryptionError("The file has no chunks.")
    try:
        yield cipher.decrypt(_chunk_nonce(index, True), pending, aad)
    except InvalidTag as exc:
        raise DecryptionError("The file was cut short or changed.") from exc
