"""The organisation's signing keys (Ed25519, from `cryptography`) and canonical JSON.

The private half is sealed like the TOTP secrets (speakup/totp_seal.py): ChaCha20-
Poly1305 under a key derived from SPEAKUP_SECRET_KEY, with the key's fingerprint as
associated data, so a copy of the database cannot sign and a sealed key cannot be
passed off as another. Sessions made by the app carry the sealing key in
``session.info["signing_seal_key"]``.

A fingerprint is the SHA-256 of the raw 32-byte public key, in hex; people read it in
groups of four (`grouped`). Keys are only ever added: the newest one signs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re

import rfc8785
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from sqlalchemy import select
from sqlalchemy.orm import Session

from speakup.models import SigningKey

SEAL_KEY = "signing_seal_key"
PREFIX = "v1:"
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


class SigningError(RuntimeError):
    """No key can sign here (no sealing key, or SPEAKUP_SECRET_KEY changed)."""


def canonical(value: object) -> str:
    """Return `value` as RFC 8785 canonical JSON text: one value, one exact text."""
    return rfc8785.dumps(value).decode()


def fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


def grouped(fp: str) -> str:
    """A fingerprint as people read it aloud or compare it in print: 16 groups of four."""
    return " ".join(fp[i:i + 4] for i in range(0, len(fp), 4))


def normalise_fingerprint(text: str) -> str:
    """Accept a fingerprint as printed (spaces, colons, capitals); return the bare hex."""
    bare = re.sub(r"[\s:]", "", text).lower()
    if not _FINGERPRINT.fullmatch(bare):
        raise ValueError(f"{text!r} is not a key fingerprint: expected 64 hexadecimal digits.")
    return bare


def _aad(fp: str) -> bytes:
    return b"speakup signing key " + fp.encode()


def _seal_key(session: Session) -> bytes:
    key = session.info.get(SEAL_KEY)
    if key is None:
        raise SigningError("This session has no signing seal key: only sessions made by "
                           "the app (or `speakup` commands) can sign.")
    return key


def public_raw(row: SigningKey) -> bytes:
    return bytes.fromhex(row.public_key)


def public_pem(row: SigningKey) -> str:
    key = Ed25519PublicKey.from_public_bytes(public_raw(row))
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def active_key(session: Session) -> SigningKey | None:
    """The key that signs now: the newest."""
    return session.scalar(select(SigningKey).order_by(SigningKey.id.desc()).limit(1))


def all_keys(session: Session) -> list[SigningKey]:
    return list(session.scalars(select(SigningKey).order_by(SigningKey.id)))


def new_key(session: Session, today: dt.date) -> tuple[SigningKey, Ed25519PrivateKey]:
    """Make and store a new key, sealed; it becomes the active one. Never commits."""
    seal_key = _seal_key(session)
    private = Ed25519PrivateKey.generate()
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
    fp = fingerprint(raw_public)
    raw_private = private.private_bytes(serialization.Encoding.Raw,
                                        serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    nonce = os.urandom(12)
    sealed = PREFIX + b64(nonce + ChaCha20Poly1305(seal_key).encrypt(nonce, raw_private, _aad(fp)))
    row = SigningKey(fingerprint=fp, public_key=raw_public.hex(), sealed_private=sealed,
                     created_on=today)
    session.add(row)
    session.flush()
    return row, private


def private_key(session: Session, row: SigningKey) -> Ed25519PrivateKey:
    """Unseal a key's private half (checked against its public half)."""
    raw = base64.b64decode(row.sealed_private.removeprefix(PREFIX))
    try:
        opened = ChaCha20Poly1305(_seal_key(session)).decrypt(raw[:12], raw[12:],
                                                              _aad(row.fingerprint))
    except InvalidTag as exc:
        raise SigningError("The signing key does not open: is SPEAKUP_SECRET_KEY the one it "
                           "was sealed under?") from exc
    private = Ed25519PrivateKey.from_private_bytes(opened)
    if private.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw) != public_raw(row):
        raise SigningError(f"Signing key {row.fingerprint[:16]}… does not match its public key.")
    return private
