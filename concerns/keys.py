"""Handler key pairs, their server-side unlocked sessions, and the recovery key.

A handler's X25519 private key exists in three forms only:

* locked under their password (Argon2id) in `handler_keys` — the only lasting copy;
* while they are signed in, sealed under a random per-session key in
  `handler_key_sessions`, that per-session key living only in their signed,
  HttpOnly session cookie (SecureDrop issue #204 kept the unwrapped key in the
  cookie itself; here neither the cookie nor the database alone reveals it);
* in memory, for the length of one request.

Key pairs are created at a handler's first sign-in (the login hook), because that is
the first moment the server holds the password that must lock the key; an account
created by an admin or the CLI has no key until then, and concerns that arrived
before it are shared with the handler later (by another handler, or the recovery key).
No concern is taken until at least one active handler has a key pair (concerns.readers).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from concerns import crypto
from concerns.config import ConcernConfig
from concerns.models import HandlerKey, HandlerKeySession, RecoveryKey
from speakup import audit
from speakup.clock import Clock, as_utc
from speakup.models import Role, User

_SESSION_AAD = b"speakup handler key session v1|"


class KeyManagementError(Exception):
    """Base for key-management refusals; the message is safe to show."""


class RecoveryKeyExistsError(KeyManagementError):
    """`speakup keys init` ran before: the recovery key is made once."""


class RecoveryKeyMismatchError(KeyManagementError):
    """The recovery key file given is not the one whose public half the database holds."""


class NoHandlerKeyError(KeyManagementError):
    """The handler has not signed in yet, so no key pair exists to share concerns with."""


# --------------------------------------------------------------------------- handler keys


def handler_key(session: Session, user_id: int) -> HandlerKey | None:
    return session.get(HandlerKey, user_id)


def unlock_handler_key(
    session: Session, clock: Clock, config: ConcernConfig, user: User, password: str
) -> X25519PrivateKey | None:
    """Return a handler's private key, creating the pair at their first sign-in.

    Called by the login hook with the password that was just verified. If the locked
    key no longer opens with it (the password was changed outside Speak Up), a new
    pair is made: the old wraps stay unreadable to this handler until someone shares
    the concerns again, which is the honest outcome.
    """
    if user.role != Role.HANDLER.value or user.disabled:
        return None
    stored = handler_key(session, user.id)
    if stored is not None:
        try:
            return crypto.unlock_private_key(stored.locked_private_key, password)
        except crypto.DecryptionError:
            action = "handler_key.replace"
    else:
        action = "handler_key.create"
    private_key, public_raw = crypto.new_keypair()
    locked = crypto.lock_private_key(private_key, password, config.argon2)
    if stored is None:
        session.add(
            HandlerKey(
                user_id=user.id, public_key=public_raw, locked_private_key=locked,
                created_on=config.today(clock),
            )
        )
    else:
        stored.public_key, stored.locked_private_key = public_raw, locked
        stored.created_on = config.today(clock)
    session.flush()
    audit.record(session, clock, actor=user.email, action=action, subject=user.email)
    return private_key


def relock_handler_key(
    session: Session, config: ConcernConfig, user: User, old_password: str, new_password: str
) -> None:
    """Re-lock a handler's private key under their new password (the password hook)."""
    stored = handler_key(session, user.id)
    if stored is None:
        return
    try:
        stored.locked_private_key = crypto.relock_private_key(
            stored.locked_private_key, old_password, new_password, config.argon2
        )
    except crypto.DecryptionError:
        # Locked under some earlier password: nothing to carry over. The next sign-in
        # makes a fresh pair (see unlock_handler_key).
        return


# --------------------------------------------------------------------------- key sessions


def open_key_session(
    session: Session, clock: Clock, config: ConcernConfig, user: User,
    private_key: X25519PrivateKey,
) -> str:
    """Store the unlocked key sealed under a fresh session key; return the cookie value.

    The cookie value is ``<row id>.<session key, base64>``: useless without the row,
    and the row is useless without it.
    """
    session_id = secrets.token_hex(16)
    session_key = ChaCha20Poly1305.generate_key()
    nonce = secrets.token_bytes(crypto.NONCE_BYTES)
    sealed = nonce + ChaCha20Poly1305(session_key).encrypt(
        nonce, private_key.private_bytes_raw(), _session_aad(session_id, user.id)
    )
    session.add(
        HandlerKeySession(
            id=session_id, user_id=user.id, sealed_private_key=sealed,
            expires_at=clock.now() + dt.timedelta(hours=config.key_session_hours),
        )
    )
    session.flush()
    return f"{session_id}.{base64.urlsafe_b64encode(session_key).decode('ascii')}"


def load_key_session(
    session: Session, clock: Clock, user: User, cookie_value: str | None
) -> X25519PrivateKey | None:
    """Return the private key of a live key session belonging to `user`, or None."""
    parsed = _parse_cookie_value(cookie_value)
    if parsed is None:
        return None
    session_id, session_key = parsed
    row = session.get(HandlerKeySession, session_id)
    if row is None or row.user_id != user.id or as_utc(row.expires_at) <= clock.now():
        return None
    sealed = row.sealed_private_key
    nonce, body = sealed[: crypto.NONCE_BYTES], sealed[crypto.NONCE_BYTES :]
    try:
        raw = ChaCha20Poly1305(session_key).decrypt(nonce, body, _session_aad(session_id, user.id))
    except InvalidTag:
        return None
    return X25519PrivateKey.from_private_bytes(raw)


def end_key_session(session: Session, cookie_value: str | None) -> None:
    parsed = _parse_cookie_value(cookie_value)
    if parsed is not None:
        session.execute(delete(HandlerKeySession).where(HandlerKeySession.id == parsed[0]))


def purge_key_sessions(session: Session, clock: Clock) -> int:
    """Delete expired key sessions and those of accounts no longer able to sign in."""
    inactive = select(User.id).where((User.disabled.is_(True)) | (User.role != Role.HANDLER.value))
    result = session.execute(
        delete(HandlerKeySession).where(
            (HandlerKeySession.expires_at <= clock.now())
            | HandlerKeySession.user_id.in_(inactive)
        )
    )
    return result.rowcount or 0


def _session_aad(session_id: str, user_id: int) -> bytes:
    return _SESSION_AAD + f"{session_id}|{user_id}".encode("ascii")


def _parse_cookie_value(value: str | None) -> tuple[str, bytes] | None:
    if not isinstance(value, str) or value.count(".") != 1:
        return None
    session_id, encoded = value.split(".")
    try:
        session_key = base64.urlsafe_b64decode(encoded.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    if len(session_id) != 32 or len(session_key) != crypto.KEY_BYTES:
        return None
    return session_id, session_key


# --------------------------------------------------------------------------- recovery key


def active_recovery_key(session: Session) -> RecoveryKey | None:
    return session.scalar(
        select(RecoveryKey).where(RecoveryKey.active.is_(True)).order_by(RecoveryKey.id.desc())
    )


def create_recovery_key(
    session: Session, clock: Clock, config: ConcernConfig, *, actor: str,
    passphrase: str | None = None,
) -> tuple[bytes, RecoveryKey]:
    """Make the organisation's recovery key; return its private PEM (to hand over once)."""
    if active_recovery_key(session) is not None:
        raise RecoveryKeyExistsError(
            "A recovery key already exists. Its private half is wherever `speakup keys init` "
            "wrote it; a second one is never made."
        )
    pem, public_raw = crypto.recovery_keypair(passphrase)
    key = RecoveryKey(public_key=public_raw, created_on=config.today(clock), active=True)
    session.add(key)
    session.flush()
    audit.record(
        session, clock, actor=actor, action="recovery_key.create", subject=f"recovery:{key.id}",
        detail={"fingerprint": fingerprint(public_raw)},
    )
    return pem, key


def matching_recovery_key(session: Session, private_key: X25519PrivateKey) -> RecoveryKey:
    public_raw = crypto.public_key_to_raw(private_key.public_key())
    key = session.scalar(select(RecoveryKey).where(RecoveryKey.public_key == public_raw))
    if key is None:
        raise RecoveryKeyMismatchError(
            "That file holds a key this database does not know: it is not this "
            "installation's recovery key."
        )
    return key


def fingerprint(public_raw: bytes) -> str:
    """A short, readable digest of a public key, for people to compare."""
    digest = hashlib.sha256(public_raw).hexdigest()[:20]
    return "-".join(digest[i : i + 4] for i in range(0, 20, 4))
