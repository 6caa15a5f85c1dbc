"""Envelope encryption for concerns: receipts, sealing, wrapping, handler and recovery keys."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from concerns import crypto
from concerns.crypto import (
    Argon2Params,
    DecryptionError,
    KeyFormatError,
    MalformedReceiptError,
    MessageTooLargeError,
)

# Cheapest parameters Argon2id accepts, so the suite stays fast; production uses
# crypto.HANDLER_KEY_ARGON2.
CHEAP = Argon2Params(memory_kib=8, iterations=1, lanes=1)
SECRET = "test-secret-key-not-for-production"
AAD = b"concern:17/message:3"
RECEIPT_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$")


@pytest.fixture
def lookup_key() -> bytes:
    return crypto.derive_server_key(SECRET, "receipt-lookup")


@pytest.fixture
def reporter_salt_key() -> bytes:
    return crypto.derive_server_key(SECRET, "reporter-salt")


@pytest.fixture
def handler() -> X25519PrivateKey:
    return crypto.new_keypair()[0]


@pytest.fixture
def sealed(handler: X25519PrivateKey) -> crypto.Sealed:
    return crypto.seal(b"my manager said something racist", {"h1": handler.public_key()}, AAD)


def flip_bit(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def same_key(a: X25519PrivateKey, b: X25519PrivateKey) -> bool:
    return a.private_bytes_raw() == b.private_bytes_raw()


# --------------------------------------------------------------------------- receipts


def test_receipt_format_is_five_groups_of_four_crockford_symbols() -> None:
    receipt = crypto.new_receipt()

    assert RECEIPT_PATTERN.match(receipt), receipt
    assert len(receipt.replace("-", "")) == 20
    assert set(receipt.replace("-", "")) <= set(crypto.RECEIPT_ALPHABET)


def test_receipt_alphabet_has_32_unambiguous_symbols_so_100_bits() -> None:
    assert len(set(crypto.RECEIPT_ALPHABET)) == 32
    assert not set("ILOU") & set(crypto.RECEIPT_ALPHABET)
    assert crypto.RECEIPT_SYMBOLS * 5 >= 100


def test_receipts_are_unique_and_use_the_whole_alphabet() -> None:
    receipts = {crypto.new_receipt() for _ in range(1000)}

    assert len(receipts) == 1000
    assert set("".join(receipts).replace("-", "")) == set(crypto.RECEIPT_ALPHABET)


def test_new_receipt_is_already_canonical() -> None:
    receipt = crypto.new_receipt()

    assert crypto.normalise_receipt(receipt) == receipt


@pytest.mark.parametrize(
    "typed",
    [
        "7KQ2-M9XD-4TRB-WZ8E-P3HN",
        "7kq2-m9xd-4trb-wz8e-p3hn",
        "7KQ2M9XD4TRBWZ8EP3HN",
        "  7KQ2 M9XD 4TRB WZ8E P3HN \n",
        "7KQ2 - M9XD - 4TRB - WZ8E - P3HN",
        "7KQ2\u2013M9XD\u20134TRB\u2013WZ8E\u2013P3HN",
        "7kq2m9xd-4trb wz8ep3hn",
    ],
)
def test_normalise_forgives_case_spaces_and_dashes(typed: str) -> None:
    assert crypto.normalise_receipt(typed) == "7KQ2-M9XD-4TRB-WZ8E-P3HN"


def test_normalise_reads_o_as_zero_and_i_l_as_one() -> None:
    assert crypto.normalise_receipt("OOOO-IIII-LLLL-oooo-ilil") == "0000-1111-1111-0000-1111"
    assert crypto.normalise_receipt("7KQ2-M9XD-4TRB-WZ8E-P3HO") == "7KQ2-M9XD-4TRB-WZ8E-P3H0"


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "   ",
        "----",
        "7KQ2-M9XD-4TRB-WZ8E-P3H",  # one symbol short
        "7KQ2-M9XD-4TRB-WZ8E-P3HNX",  # one symbol long
        "7KQ2-M9XD-4TRB-WZ8E-P3HU",  # U is not in Crockford's alphabet
        "7KQ2-M9XD-4TRB-WZ8E-P3H!",
        "7KQ2-M9XD-4TRB-WZ8E-P3H\u0131",  # dotless i upper-cases to I: still junk
        "7KQ2-M9XD-4TRB-WZ8E-P3H\u0661",  # Arabic-Indic digit one
        "x" * 10_000,
        "<script>alert(1)</script>",
    ],
)
def test_normalise_rejects_junk(junk: str) -> None:
    assert crypto.normalise_receipt(junk) is None


def test_lookup_key_is_32_bytes_and_same_for_any_typing(lookup_key: bytes) -> None:
    receipt = crypto.new_receipt()

    key = crypto.receipt_lookup_key(receipt, lookup_key)

    assert len(key) == 32
    assert crypto.receipt_lookup_key(receipt.lower().replace("-", " "), lookup_key) == key
    assert receipt.encode() not in key


def test_lookup_key_depends_on_server_key_and_receipt(lookup_key: bytes) -> None:
    receipt = crypto.new_receipt()
    other_server = crypto.derive_server_key("another deployment's secret", "receipt-lookup")

    key = crypto.receipt_lookup_key(receipt, lookup_key)

    assert crypto.receipt_lookup_key(receipt, other_server) != key
    assert crypto.receipt_lookup_key(crypto.new_receipt(), lookup_key) != key


def test_lookup_key_refuses_a_malformed_receipt_or_short_server_key(lookup_key: bytes) -> None:
    with pytest.raises(MalformedReceiptError):
        crypto.receipt_lookup_key("not a receipt", lookup_key)
    with pytest.raises(ValueError, match="server key"):
        crypto.receipt_lookup_key(crypto.new_receipt(), b"short")


def test_reporter_key_is_deterministic_from_the_receipt(reporter_salt_key: bytes) -> None:
    receipt = crypto.new_receipt()

    first = crypto.reporter_private_key(receipt, reporter_salt_key)
    retyped = crypto.reporter_private_key(receipt.lower().replace("-", ""), reporter_salt_key)

    assert same_key(first, retyped)


def test_reporter_key_differs_by_receipt_and_by_server_key(reporter_salt_key: bytes) -> None:
    receipt = crypto.new_receipt()
    key = crypto.reporter_private_key(receipt, reporter_salt_key)
    other_server = crypto.derive_server_key("another deployment's secret", "reporter-salt")

    assert not same_key(key, crypto.reporter_private_key(crypto.new_receipt(), reporter_salt_key))
    assert not same_key(key, crypto.reporter_private_key(receipt, other_server))


def test_reporter_key_is_not_the_lookup_hash_even_if_keys_are_mixed_up(lookup_key: bytes) -> None:
    # Given a caller that passes the lookup key where the reporter salt key belongs
    receipt = crypto.new_receipt()
    stored = crypto.receipt_lookup_key(receipt, lookup_key)

    # When the reporter key is derived with it
    key = crypto.reporter_private_key(receipt, lookup_key)

    # Then nothing in the database (the lookup hash) is, or expands to, that key
    assert key.private_bytes_raw() != stored
    expanded = crypto._hkdf(stored, info=b"speakup reporter key v1")
    assert not same_key(key, X25519PrivateKey.from_private_bytes(expanded))


def test_reporter_can_open_what_was_sealed_to_their_receipt(reporter_salt_key: bytes) -> None:
    receipt = crypto.new_receipt()
    public = crypto.reporter_private_key(receipt, reporter_salt_key).public_key()
    sealed = crypto.seal(b"reply from the handler", {"reporter": public}, AAD)

    # Later, the reporter types the receipt back in from paper
    private = crypto.reporter_private_key(receipt.lower(), reporter_salt_key)

    assert crypto.open_sealed(sealed.ciphertext, sealed.wraps["reporter"], private, AAD) == (
        b"reply from the handler"
    )


# --------------------------------------------------------------------------- server keys


def test_server_keys_are_independent_per_purpose_and_deterministic() -> None:
    lookup = crypto.derive_server_key(SECRET, "receipt-lookup")

    assert len(lookup) == 32
    assert crypto.derive_server_key(SECRET.encode(), "receipt-lookup") == lookup
    assert crypto.derive_server_key(SECRET, "reporter-salt") != lookup
    assert crypto.derive_server_key(SECRET + "x", "receipt-lookup") != lookup
    assert SECRET.encode() not in lookup


@pytest.mark.parametrize(("secret", "purpose"), [("", "receipt-lookup"), (SECRET, "")])
def test_server_key_needs_a_secret_and_a_purpose(secret: str, purpose: str) -> None:
    with pytest.raises(ValueError):
        crypto.derive_server_key(secret, purpose)


# --------------------------------------------------------------------------- sealing


def test_seal_round_trip_for_every_recipient() -> None:
    keys = {name: crypto.new_keypair()[0] for name in ("h1", "h2", "reporter", "recovery")}
    plaintext = "Ich wurde beleidigt — 私は侮辱された".encode()

    sealed = crypto.seal(plaintext, {n: k.public_key() for n, k in keys.items()}, AAD)

    assert set(sealed.wraps) == set(keys)
    for name, key in keys.items():
        assert crypto.open_sealed(sealed.ciphertext, sealed.wraps[name], key, AAD) == plaintext


@pytest.mark.parametrize("size", [0, 1, 900, 1020, 1021, 5000, crypto.MAX_PLAINTEXT_BYTES])
def test_round_trip_at_bucket_edges(size: int, handler: X25519PrivateKey) -> None:
    plaintext = bytes(range(256)) * (size // 256) + bytes(range(size % 256))

    sealed = crypto.seal(plaintext, {"h": handler.public_key()}, AAD)

    assert crypto.open_sealed(sealed.ciphertext, sealed.wraps["h"], handler, AAD) == plaintext


def test_trailing_zero_bytes_survive_unpadding(handler: X25519PrivateKey) -> None:
    sealed = crypto.seal(b"ends in zeros\x00\x00\x00", {"h": handler.public_key()}, AAD)

    opened = crypto.open_sealed(sealed.ciphertext, sealed.wraps["h"], handler, AAD)

    assert opened == b"ends in zeros\x00\x00\x00"


def test_short_and_longer_messages_have_identical_ciphertext_length(
    handler: X25519PrivateKey,
) -> None:
    recipients = {"h": handler.public_key()}

    one_byte = crypto.seal(b"x", recipients, AAD)
    nine_hundred = crypto.seal(b"y" * 900, recipients, AAD)

    assert len(one_byte.ciphertext) == len(nine_hundred.ciphertext)
    assert len(one_byte.wraps["h"]) == len(nine_hundred.wraps["h"]) == crypto.WRAP_BYTES


@pytest.mark.parametrize("size", [0, 1, 1020, 1021, 3000, 40_000, 131_068])
def test_ciphertext_lengths_fall_in_buckets(size: int, handler: X25519PrivateKey) -> None:
    sealed = crypto.seal(b"a" * size, {"h": handler.public_key()}, AAD)

    padded = len(sealed.ciphertext) - crypto.NONCE_BYTES - crypto.TAG_BYTES

    assert padded in crypto.PAD_BUCKETS
    assert padded == min(b for b in crypto.PAD_BUCKETS if b >= size + 4)


def test_oversize_message_is_refused(handler: X25519PrivateKey) -> None:
    with pytest.raises(MessageTooLargeError):
        crypto.seal(b"a" * (crypto.MAX_PLAINTEXT_BYTES + 1), {"h": handler.public_key()}, AAD)
    assert crypto.MAX_PLAINTEXT_BYTES == 128 * 1024 - 4


def test_sealing_to_nobody_is_refused() -> None:
    with pytest.raises(ValueError):
        crypto.seal(b"lost forever", {}, AAD)


def test_plaintext_never_appears_in_sealed_output(handler: X25519PrivateKey) -> None:
    plaintext = b"The team lead made a racist remark at the Tuesday meeting."

    sealed = crypto.seal(plaintext, {"h": handler.public_key()}, AAD)

    everything = sealed.ciphertext + b"".join(sealed.wraps.values())
    assert plaintext not in everything
    assert plaintext[:16] not in everything
    assert b"racist" not in everything


def test_same_plaintext_seals_differently_each_time(handler: X25519PrivateKey) -> None:
    recipients = {"h": handler.public_key()}

    first = crypto.seal(b"same words", recipients, AAD)
    second = crypto.seal(b"same words", recipients, AAD)

    assert first.ciphertext != second.ciphertext
    assert first.ciphertext[:12] != second.ciphertext[:12]
    assert first.wraps["h"] != second.wraps["h"]


def test_sealed_is_frozen(sealed: crypto.Sealed) -> None:
    with pytest.raises(AttributeError):
        sealed.ciphertext = b""  # type: ignore[misc]


# --------------------------------------------------------------------------- tampering


def test_flipping_any_bit_of_the_nonce_raises(
    sealed: crypto.Sealed, handler: X25519PrivateKey
) -> None:
    for bit in range(crypto.NONCE_BYTES * 8):
        with pytest.raises(DecryptionError):
            crypto.open_sealed(flip_bit(sealed.ciphertext, bit), sealed.wraps["h1"], handler, AAD)


def test_flipping_bits_of_the_body_and_tag_raises(
    sealed: crypto.Sealed, handler: X25519PrivateKey
) -> None:
    body_start = crypto.NONCE_BYTES * 8
    end = len(sealed.ciphertext) * 8
    tag_start = end - crypto.TAG_BYTES * 8
    bits = [body_start, body_start + 7, body_start + 8 * 500, tag_start - 1]
    bits += list(range(tag_start, end))  # every bit of the tag
    for bit in bits:
        with pytest.raises(DecryptionError):
            crypto.open_sealed(flip_bit(sealed.ciphertext, bit), sealed.wraps["h1"], handler, AAD)


@pytest.mark.parametrize(
    ("part", "start", "stop"),
    [("ephemeral public key", 0, 32), ("nonce", 32, 44), ("wrapped key and tag", 44, 92)],
)
def test_flipping_any_bit_of_the_wrap_raises(
    part: str, start: int, stop: int, sealed: crypto.Sealed, handler: X25519PrivateKey
) -> None:
    # Every bit, including the ephemeral key's top bit, which X25519 itself ignores
    wrap = sealed.wraps["h1"]
    for bit in range(start * 8, stop * 8):
        with pytest.raises(DecryptionError):
            crypto.open_sealed(sealed.ciphertext, flip_bit(wrap, bit), handler, AAD)


def test_flipping_any_bit_of_the_aad_raises(
    sealed: crypto.Sealed, handler: X25519PrivateKey
) -> None:
    for bit in range(len(AAD) * 8):
        with pytest.raises(DecryptionError):
            crypto.open_sealed(sealed.ciphertext, sealed.wraps["h1"], handler, flip_bit(AAD, bit))


@pytest.mark.parametrize("aad", [b"", b"concern:17/message:4", AAD + b"\x00"])
def test_other_aad_raises(aad: bytes, sealed: crypto.Sealed, handler: X25519PrivateKey) -> None:
    with pytest.raises(DecryptionError):
        crypto.open_sealed(sealed.ciphertext, sealed.wraps["h1"], handler, aad)


def test_ciphertext_swapped_between_rows_raises(handler: X25519PrivateKey) -> None:
    recipients = {"h": handler.public_key()}
    row_a = crypto.seal(b"message a", recipients, b"concern:1/message:1")
    row_b = crypto.seal(b"message b", recipients, b"concern:1/message:2")

    with pytest.raises(DecryptionError):
        crypto.open_sealed(row_a.ciphertext, row_b.wraps["h"], handler, b"concern:1/message:2")
    with pytest.raises(DecryptionError):
        crypto.open_sealed(row_b.ciphertext, row_a.wraps["h"], handler, b"concern:1/message:1")


@pytest.mark.parametrize("cut", [0, 1, 27, 12 + 1024 + 15])
def test_truncated_ciphertext_raises(
    cut: int, sealed: crypto.Sealed, handler: X25519PrivateKey
) -> None:
    with pytest.raises(DecryptionError):
        crypto.open_sealed(sealed.ciphertext[:cut], sealed.wraps["h1"], handler, AAD)


@pytest.mark.parametrize("wrap", [b"", b"\x00" * 91, b"\x00" * 93])
def test_wrong_length_wrap_raises(
    wrap: bytes, sealed: crypto.Sealed, handler: X25519PrivateKey
) -> None:
    with pytest.raises(DecryptionError):
        crypto.open_sealed(sealed.ciphertext, wrap, handler, AAD)


def test_low_order_ephemeral_key_in_wrap_raises(
    sealed: crypto.Sealed, handler: X25519PrivateKey
) -> None:
    wrap = bytes(32) + sealed.wraps["h1"][32:]

    with pytest.raises(DecryptionError):
        crypto.open_sealed(sealed.ciphertext, wrap, handler, AAD)


def test_wrapping_to_a_low_order_public_key_is_refused() -> None:
    with pytest.raises(KeyFormatError):
        crypto.wrap_key(bytes(32), crypto.public_key_from_raw(bytes(32)), AAD)


def test_wrong_private_key_raises(sealed: crypto.Sealed) -> None:
    stranger = crypto.new_keypair()[0]

    with pytest.raises(DecryptionError):
        crypto.open_sealed(sealed.ciphertext, sealed.wraps["h1"], stranger, AAD)


def test_wrap_for_one_handler_cannot_be_opened_by_another() -> None:
    alice, bob = crypto.new_keypair()[0], crypto.new_keypair()[0]
    sealed = crypto.seal(b"for both", {"a": alice.public_key(), "b": bob.public_key()}, AAD)

    with pytest.raises(DecryptionError):
        crypto.open_sealed(sealed.ciphertext, sealed.wraps["a"], bob, AAD)


# --------------------------------------------------------------------------- wrapping


def test_wrap_unwrap_round_trip_and_size() -> None:
    private, public_raw = crypto.new_keypair()
    data_key = bytes(range(32))

    wrapped = crypto.wrap_key(data_key, crypto.public_key_from_raw(public_raw), AAD)

    assert len(wrapped) == crypto.WRAP_BYTES == 92
    assert data_key not in wrapped
    assert crypto.unwrap_key(wrapped, private, AAD) == data_key


def test_wrap_key_refuses_a_data_key_of_the_wrong_size(handler: X25519PrivateKey) -> None:
    with pytest.raises(ValueError):
        crypto.wrap_key(b"short", handler.public_key(), AAD)


def test_rewrap_shares_with_a_new_handler(sealed: crypto.Sealed, handler: X25519PrivateKey) -> None:
    newcomer = crypto.new_keypair()[0]

    new_wrap = crypto.rewrap(sealed.wraps["h1"], handler, newcomer.public_key(), AAD)

    opened = crypto.open_sealed(sealed.ciphertext, new_wrap, newcomer, AAD)
    assert opened == b"my manager said something racist"
    assert new_wrap != sealed.wraps["h1"]


def test_rewrap_needs_a_key_that_can_already_open(sealed: crypto.Sealed) -> None:
    stranger, newcomer = crypto.new_keypair()[0], crypto.new_keypair()[0]

    with pytest.raises(DecryptionError):
        crypto.rewrap(sealed.wraps["h1"], stranger, newcomer.public_key(), AAD)


# --------------------------------------------------------------------------- public keys


def test_public_key_raw_round_trip() -> None:
    private, public_raw = crypto.new_keypair()

    assert len(public_raw) == 32
    assert crypto.public_key_to_raw(private.public_key()) == public_raw
    assert crypto.public_key_to_raw(crypto.public_key_from_raw(public_raw)) == public_raw


@pytest.mark.parametrize("raw", [b"", b"\x01" * 31, b"\x01" * 33, "not bytes"])
def test_public_key_from_raw_refuses_wrong_sizes(raw: bytes) -> None:
    with pytest.raises(KeyFormatError):
        crypto.public_key_from_raw(raw)


# --------------------------------------------------------------------------- handler keys


def test_lock_unlock_round_trip() -> None:
    private, _ = crypto.new_keypair()

    blob = crypto.lock_private_key(private, "correct horse battery staple", params=CHEAP)

    assert same_key(crypto.unlock_private_key(blob, "correct horse battery staple"), private)
    assert private.private_bytes_raw() not in blob


def test_locked_blob_is_self_describing() -> None:
    blob = crypto.lock_private_key(crypto.new_keypair()[0], "pw", params=CHEAP)

    assert len(blob) == 1 + 4 + 4 + 4 + 16 + 12 + 32 + 16
    assert blob[0] == 1
    assert int.from_bytes(blob[1:5], "big") == CHEAP.memory_kib
    assert int.from_bytes(blob[5:9], "big") == CHEAP.iterations
    assert int.from_bytes(blob[9:13], "big") == CHEAP.lanes


def test_each_lock_uses_a_fresh_salt_and_nonce() -> None:
    private = crypto.new_keypair()[0]

    first = crypto.lock_private_key(private, "pw", params=CHEAP)
    second = crypto.lock_private_key(private, "pw", params=CHEAP)

    assert first[13:29] != second[13:29]
    assert first != second


@pytest.mark.parametrize("attempt", ["wrong", "Correct horse battery staple", "", " "])
def test_wrong_password_raises(attempt: str) -> None:
    blob = crypto.lock_private_key(
        crypto.new_keypair()[0], "correct horse battery staple", params=CHEAP
    )

    with pytest.raises(DecryptionError):
        crypto.unlock_private_key(blob, attempt)


def test_tampered_locked_blob_raises() -> None:
    blob = crypto.lock_private_key(crypto.new_keypair()[0], "pw", params=CHEAP)

    # Every bit of the blob except the cost parameters' high bytes, which would
    # only make Argon2 slow before failing; those are covered by the limits test.
    for bit in range(len(blob) * 8):
        if 8 <= bit < 13 * 8 and (bit // 8) not in (4, 8, 12):
            continue
        with pytest.raises(DecryptionError):
            crypto.unlock_private_key(flip_bit(blob, bit), "pw")


@pytest.mark.parametrize(
    "header_fix",
    [
        lambda b: b"\x02" + b[1:],  # unknown version
        lambda b: b[:1] + (10**9).to_bytes(4, "big") + b[5:],  # ~1 TiB of memory
        lambda b: b[:5] + (10**6).to_bytes(4, "big") + b[9:],  # a million passes
        lambda b: b[:9] + (0).to_bytes(4, "big") + b[13:],  # zero lanes
        lambda b: b[:-1],  # truncated
        lambda b: b + b"\x00",  # extended
    ],
)
def test_implausible_locked_blobs_are_refused_without_running_argon2(
    header_fix: Callable[[bytes], bytes],
) -> None:
    blob = crypto.lock_private_key(crypto.new_keypair()[0], "pw", params=CHEAP)

    with pytest.raises(DecryptionError):
        crypto.unlock_private_key(header_fix(blob), "pw")


def test_relock_keeps_the_same_key_under_the_new_password() -> None:
    private = crypto.new_keypair()[0]
    blob = crypto.lock_private_key(private, "old password", params=CHEAP)

    relocked = crypto.relock_private_key(blob, "old password", "new password", params=CHEAP)

    assert same_key(crypto.unlock_private_key(relocked, "new password"), private)
    with pytest.raises(DecryptionError):
        crypto.unlock_private_key(relocked, "old password")


def test_relock_with_the_wrong_old_password_raises() -> None:
    blob = crypto.lock_private_key(crypto.new_keypair()[0], "old password", params=CHEAP)

    with pytest.raises(DecryptionError):
        crypto.relock_private_key(blob, "guess", "new password", params=CHEAP)


def test_empty_password_is_refused_when_locking() -> None:
    with pytest.raises(ValueError):
        crypto.lock_private_key(crypto.new_keypair()[0], "", params=CHEAP)


def test_unicode_password_round_trip() -> None:
    private = crypto.new_keypair()[0]

    blob = crypto.lock_private_key(private, "pässwörd ✓ 密码", params=CHEAP)

    assert same_key(crypto.unlock_private_key(blob, "pässwörd ✓ 密码"), private)


def test_default_argon2_parameters_are_strong() -> None:
    # Not exercised (0.15 s each); only checked to be at least RFC 9106's second option.
    assert crypto.HANDLER_KEY_ARGON2.memory_kib >= 64 * 1024
    assert crypto.HANDLER_KEY_ARGON2.iterations >= 3


@pytest.mark.parametrize(("memory", "iterations", "lanes"), [(7, 1, 1), (8, 0, 1), (16, 1, 4)])
def test_argon2_params_are_validated(memory: int, iterations: int, lanes: int) -> None:
    with pytest.raises(ValueError):
        Argon2Params(memory_kib=memory, iterations=iterations, lanes=lanes)


def test_handler_round_trip_from_locked_key_to_message() -> None:
    # Given a handler whose key is stored only locked, and a message sealed to them
    private, public_raw = crypto.new_keypair()
    blob = crypto.lock_private_key(private, "handler password", params=CHEAP)
    sealed = crypto.seal(b"concern text", {"h": crypto.public_key_from_raw(public_raw)}, AAD)

    # When they log in and unlock their key
    unlocked = crypto.unlock_private_key(blob, "handler password")

    # Then they can read the message
    assert crypto.open_sealed(sealed.ciphertext, sealed.wraps["h"], unlocked, AAD) == (
        b"concern text"
    )


# --------------------------------------------------------------------------- recovery key


def test_recovery_key_round_trip() -> None:
    pem, public_raw = crypto.recovery_keypair()
    sealed = crypto.seal(
        b"for the recovery key", {"recovery": crypto.public_key_from_raw(public_raw)}, AAD
    )

    private = crypto.load_recovery_private_key(pem)

    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert crypto.public_key_to_raw(private.public_key()) == public_raw
    opened = crypto.open_sealed(sealed.ciphertext, sealed.wraps["recovery"], private, AAD)
    assert opened == b"for the recovery key"


def test_recovery_key_with_passphrase_round_trip() -> None:
    pem, public_raw = crypto.recovery_keypair(passphrase="kept in the safe")

    private = crypto.load_recovery_private_key(pem, passphrase="kept in the safe")

    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert crypto.public_key_to_raw(private.public_key()) == public_raw
    with pytest.raises(KeyFormatError):
        crypto.load_recovery_private_key(pem, passphrase="wrong")
    with pytest.raises(KeyFormatError):
        crypto.load_recovery_private_key(pem)


def test_recovery_keypairs_are_distinct() -> None:
    assert crypto.recovery_keypair()[1] != crypto.recovery_keypair()[1]


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN PRIVATE KEY-----\nxx\n"])
def test_load_recovery_key_refuses_garbage(data: bytes) -> None:
    with pytest.raises(KeyFormatError):
        crypto.load_recovery_private_key(data)


def test_load_recovery_key_refuses_other_key_types() -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    with pytest.raises(KeyFormatError):
        crypto.load_recovery_private_key(pem)
