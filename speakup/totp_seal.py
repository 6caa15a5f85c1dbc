"""TOTP secrets sealed at rest (issue 13, finding 7).

`User.totp_sealed` holds ``v1:`` + base64(nonce ‖ ChaCha20-Poly1305 ciphertext) under
a key derived from SPEAKUP_SECRET_KEY (speakup/derived_keys.py), with the account's
e-mail address as associated data so a sealed secret cannot be moved to another
account. Code uses `User.totp_secret`, which lives only in memory: sessions carrying
the key in ``session.info["totp_key"]`` unseal it when a user is loaded and seal it
when one is flushed. A value without the prefix is a secret from before sealing: it
is read as is and sealed at the account's next change (`speakup db upgrade` seals
them all at once).
"""

from __future__ import annotations

import base64
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from speakup.models import User

TOTP_KEY = "totp_key"
PREFIX = "v1:"


class SealError(RuntimeError):
    """A sealed secret could not be opened (wrong SPEAKUP_SECRET_KEY, or tampering)."""


def _aad(email: str) -> bytes:
    return b"speakup totp " + email.encode()


def seal(key: bytes, email: str, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, secret.encode(), _aad(email))
    return PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes | None, email: str, stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # from before sealing
    if key is None:
        raise SealError("This session has no TOTP key: it cannot read sealed secrets.")
    raw = base64.b64decode(stored.removeprefix(PREFIX))
    try:
        return ChaCha20Poly1305(key).decrypt(raw[:12], raw[12:], _aad(email)).decode()
    except InvalidTag as exc:
        raise SealError("A TOTP secret does not open: is SPEAKUP_SECRET_KEY the one "
                        "it was sealed under?") from exc


def _on_load(user: User, context: Any, *_args: Any) -> None:
    stored = user.__dict__.get("totp_sealed")
    plain = None if stored is None else unseal(
        context.session.info.get(TOTP_KEY), user.email, stored)
    user.__dict__["_totp_plain"] = plain  # not the setter: loading changes nothing


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    key = session.info.get(TOTP_KEY)
    for user in (*session.new, *session.dirty):
        if not isinstance(user, User):
            continue
        plain = user.totp_secret
        stored = user.__dict__.get("totp_sealed")
        if plain is None:
            user.totp_sealed = None
        elif key is None:
            # Only a bare session factory (tests' helpers, scripts) lacks the key; the
            # app's always has it. It writes the pre-sealing format, which the app reads
            # and `speakup db upgrade` seals.
            if stored != plain and (stored is None or not stored.startswith(PREFIX)):
                user.totp_sealed = plain
        elif stored is None or not stored.startswith(PREFIX) or unseal(
                key, user.email, stored) != plain:
            user.totp_sealed = seal(key, user.email, plain)


# Every session: only one that carries the key (create_app's, the test fixtures')
# seals, so these listeners hold no key and no state of their own.
event.listen(User, "load", _on_load)
event.listen(User, "refresh", _on_load)
event.listen(Session, "before_flush", _before_flush)


def seal_legacy_secrets(session: Session) -> int:
    """Seal every secret stored before sealing existed; return how many."""
    key = session.info[TOTP_KEY]
    count = 0
    for user in session.scalars(select(User).where(User.totp_sealed.is_not(None))):
        stored = user.totp_sealed or ""
        if not stored.startswith(PREFIX):
            user.totp_sealed = seal(key, user.email, stored)
            count += 1
    return count
