"""Core tables: staff accounts, the hash-chained audit log, shared rate-limit counters
and the signed publication log."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import flag_modified

from speakup.db import Base


class Role(enum.StrEnum):
    ADMIN = "admin"
    HANDLER = "handler"
    REVIEWER = "reviewer"


# Roles whose accounts must have a second factor (DESIGN.md: admins and handlers).
ROLES_REQUIRING_TOTP = frozenset({Role.ADMIN, Role.HANDLER})


class User(Base):
    """A member of staff with a privileged role (reporters never have accounts)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'handler', 'reviewer')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    # The TOTP secret sealed under a key derived from SPEAKUP_SECRET_KEY ("v1:…", see
    # speakup/totp_seal.py), so a copy of the database does not defeat the second
    # factor. Code reads and writes `totp_secret`, which lives only in memory.
    totp_sealed: Mapped[str | None] = mapped_column(String(255), default=None)
    # Last accepted TOTP time step, so a code cannot be replayed within its window.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    # Failures by someone who already proved something (the password before a wrong TOTP
    # code, a signed-in session before a wrong unlock password). A stranger who knows
    # only the address cannot add to them, so this lock cannot be used to keep the
    # account's owner out (issue 13, finding 6).
    factor_failures: Mapped[int] = mapped_column(Integer, default=0)
    factor_locked_until: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Rotated on password change or disabling, which ends every existing session.
    session_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def needs_totp(self) -> bool:
        return self.role_enum in ROLES_REQUIRING_TOTP

    # Plain text, in memory only: unsealed on load and sealed on flush (totp_seal.py).
    @property
    def totp_secret(self) -> str | None:
        return self.__dict__.get("_totp_plain")

    @totp_secret.setter
    def totp_secret(self, value: str | None) -> None:
        self.__dict__["_totp_plain"] = value
        if inspect(self).persistent:
            flag_modified(self, "totp_sealed")  # so the next flush seals the new value

    # The user protocol Flask-Login expects, written out so models import no Flask.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return not self.disabled

    def get_id(self) -> str:
        # The session token is part of the id, so rotating it signs out every session.
        return f"{self.id}:{self.session_token}"


class StaffSession(Base):
    """One signed-in browser, checked on every request and deleted at sign-out.

    The cookie holds a random token; only its SHA-256 is stored, so a copy of the
    database holds no live session.
    """

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class WebAuthnCredential(Base):
    """A passkey or security key registered as a second factor for one account.

    Only the public key is stored: a copy of the database cannot sign in with it.
    """

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))
    # The authenticator's signature counter: one that goes backwards means a cloned key.
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )


class OidcSubject(Base):
    """The provider's stable id (issuer, sub) of the person an account belongs to.

    Stored at the first sign-in through the provider and matched first afterwards, so
    an e-mail address handed to someone else later does not hand them the account.
    """

    __tablename__ = "oidc_subjects"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One privileged action; each row carries the hash of the one before it."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(254), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # True: entry_hash is an HMAC under the derived audit key; False: plain SHA-256
    # (entries written before issue 13 keyed the chain).
    keyed: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditHead(Base):
    """The latest entry's id and hash, kept apart so deleting the tail is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class SchedulerLease(Base):
    """Who runs the scheduler: a lease renewed while alive, so only one process runs jobs."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class SiteSetting(Base):
    """One named switch an admin sets on the admin pages (e.g. the staff results page)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class RateLimitWindow(Base):
    """A fixed-window request counter shared by every worker (never per IP address).

    `bucket` names what is counted ("concern-submit", a keyed hash of a receipt,
    "survey-code-miss"); `window` is a keyed hash of the window's minute (see
    speakup/ratelimit.py), so the table never says when anyone came by.
    """

    __tablename__ = "rate_limit_windows"
    __table_args__ = ({"sqlite_with_rowid": False},)

    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)
    window: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class SigningKey(Base):
    """An organisation signing key (Ed25519). Rows are only ever added: the newest signs.

    The private half is sealed under a key derived from SPEAKUP_SECRET_KEY
    (speakup/signing.py), so a copy of the database cannot sign; database triggers
    (migration 0019) refuse UPDATE and DELETE.
    """

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, hex
    public_key: Mapped[str] = mapped_column(String(64))  # the raw 32 bytes, hex
    sealed_private: Mapped[str] = mapped_column(Text)
    created_on: Mapped[dt.date] = mapped_column(Date)


class PublicationLogEntry(Base):
    """One signed publication, chained to the one before; never updated or deleted.

    ``header`` and ``payload`` are the exact canonical JSON texts (RFC 8785) that were
    hashed and signed: they are kept as text so a verifier checks the very bytes.
    Database triggers (migration 0019) refuse UPDATE and DELETE.
    """

    __tablename__ = "publication_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    ref: Mapped[str] = mapped_column(String(64))
    header: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))  # base64
    payload: Mapped[str] = mapped_column(Text)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
