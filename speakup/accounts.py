"""Staff accounts: creation, sign-in with TOTP and lockout, password changes."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from speakup import audit, totp_seal  # noqa: F401 - totp_seal seals secrets on flush
from speakup.clock import Clock, as_utc
from speakup.models import Role, StaffSession, User
from speakup.translatable import N_, TranslatableError

ISSUER = "Speak Up"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_LOCKOUT_SECONDS = 24 * 3600
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps the time of "unknown e-mail" equal to "wrong password". The
# hash of a random password nobody kept, made with the shipped hasher's parameters (a test
# checks they still match): hashing one at import cost every process about a second.
_DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$AOIddiBYMqECUqSSEgS6xg$"
               "U2iFkIuke9+biR6IKvbXzB8bVgT8zL2s5C5kWHEZSnQ")

# Called with (session, user, password) after a successful sign-in, and with
# (session, user, old_password, new_password) after a password change; the concerns
# package uses them to unlock and re-wrap a handler's private key.
LoginHook = Callable[[Session, User, str], None]
PasswordHook = Callable[[Session, User, str, str], None]


class AccountError(TranslatableError, ValueError):
    """An account operation was refused; the message is safe to show."""


class LoginError(AccountError):
    """Sign-in failed; deliberately vague about why."""


# One answer for every refused sign-in: wrong password, wrong code, unknown address or
# a locked account all read the same, so the page never tells which addresses exist.
LOGIN_REFUSED = N_(
    "Those details are not right. After several failed attempts an account is locked "
    "for a while: if that is why, wait a few minutes or ask an administrator."
)
# Seconds between writes of a session's last-seen time: idle timeouts are minutes long,
# and a write on every page view would queue staff behind each other on SQLite.
SEEN_WRITE_INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 5
    base_seconds: int = 60

    def lock_seconds(self, failures: int) -> int:
        """Back off exponentially once the threshold is reached, capped at a day."""
        if failures < self.threshold:
            return 0
        return min(self.base_seconds * 2 ** (failures - self.threshold), MAX_LOCKOUT_SECONDS)


def normalise_email(email: str) -> str:
    cleaned = email.strip().lower()
    if not EMAIL_RE.match(cleaned) or len(cleaned) > 254:
        raise AccountError(N_("Enter a valid e-mail address."))
    return cleaned


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(N_("Use a password of at least %(length)s characters."),
                           length=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(N_("That password is too long."))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def totp_uri(user: User) -> str | None:
    if not user.totp_secret:
        return None
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _lock(policy: LockoutPolicy, failures: int, now: dt.datetime) -> dt.datetime | None:
    seconds = policy.lock_seconds(failures)
    return now + dt.timedelta(seconds=seconds) if seconds else None


def _locked(until: dt.datetime | None, now: dt.datetime) -> bool:
    return until is not None and as_utc(until) > now


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(
    session: Session,
    clock: Clock,
    *,
    email: str,
    role: str,
    password: str,
    actor: str,
    with_totp: bool | None = None,
) -> User:
    """Create an account; TOTP is set up for admins and handlers, optional for reviewers."""
    email = normalise_email(email)
    try:
        role_enum = Role(role)
    except ValueError as exc:
        raise AccountError(N_("Unknown role %(role)s: use admin, handler or reviewer."),
                           role=repr(role)) from exc
    check_password_strength(password)
    if find_user(session, email) is not None:
        raise AccountError(N_("An account with that e-mail address already exists."))
    now = clock.now()
    user = User(
        email=email,
        role=role_enum.value,
        password_hash=hash_password(password),
        failed_logins=0,
        disabled=False,
        session_token=secrets.token_hex(16),
        created_at=now,
        password_changed_at=now,
    )
    if with_totp or (with_totp is None and user.needs_totp):
        user.totp_secret = pyotp.random_base32()
    session.add(user)
    session.flush()
    audit.record(
        session, clock, actor=actor, action="account.create", subject=email, detail={"role": role}
    )
    return user


def _totp_step(user: User, code: str, now: dt.datetime) -> int | None:
    """Return the accepted time step for a code (±1 step of drift), or None."""
    if not user.totp_secret:
        return None
    code = re.sub(r"\s+", "", code or "")
    # isascii: "²" and "①" pass isdigit() but are no TOTP digits (and break compare_digest).
    if not (code.isascii() and code.isdigit()) or len(code) != 6:
        return None
    totp = pyotp.TOTP(user.totp_secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def authenticate(
    session: Session,
    clock: Clock,
    policy: LockoutPolicy,
    *,
    email: str,
    password: str,
    totp_code: str = "",
    hooks: Sequence[LoginHook] = (),
    with_key: Callable[[User], bool] | None = None,
) -> User:
    """Check credentials and second factor; count failures per account, never per address.

    Two counters (issue 13, finding 6). Wrong passwords, which anyone who knows an
    address can send, lock the password: for an account with a second factor that
    lock stops everything except the right password *and* the right code, so a
    stranger cannot keep its owner out. Wrong codes after a right password can only
    come from someone who knows the password: they lock the account entirely.
    Every refusal reads the same (LOGIN_REFUSED), known address or not.

    With `with_key` (true when the account has a passkey), the second factor is a key
    checked in the next request instead of the code: a right password returns the
    account without signing it in, and `finish_key_login` completes the sign-in.
    """
    now = clock.now()
    user = find_user(session, email[:254])
    if user is None:
        password_matches(_DUMMY_HASH, password)
        audit.record(session, clock, actor="anonymous", action="login.failed", subject="unknown")
        raise LoginError(LOGIN_REFUSED)
    # The hash is checked even when locked, so a locked account answers as slowly.
    ok = password_matches(user.password_hash, password)
    password_locked = _locked(user.locked_until, now)
    if _locked(user.factor_locked_until, now) or (password_locked and not user.totp_secret):
        audit.record(session, clock, actor=user.email, action="login.locked", subject=user.email)
        raise LoginError(LOGIN_REFUSED)
    if not ok:
        user.failed_logins += 1
        user.locked_until = _lock(policy, user.failed_logins, now) or user.locked_until
        audit.record(
            session, clock, actor=user.email, action="login.failed", subject=user.email,
            detail={"failures": user.failed_logins},
        )
        raise LoginError(LOGIN_REFUSED)
    if with_key is not None:
        if user.disabled or not with_key(user):
            audit.record(session, clock, actor=user.email, action="login.failed",
                         subject=user.email, detail={"no_key": True})
            raise LoginError(LOGIN_REFUSED)
        return user
    step = _totp_step(user, totp_code, now) if user.totp_secret else None
    if user.totp_secret and (step is None or step <= (user.totp_last_step or -1)):
        user.factor_failures += 1
        user.factor_locked_until = _lock(policy, user.factor_failures, now)
        audit.record(
            session, clock, actor=user.email, action="login.failed", subject=user.email,
            detail={"factor_failures": user.factor_failures},
        )
        raise LoginError(LOGIN_REFUSED)
    if user.disabled:
        audit.record(session, clock, actor=user.email, action="login.disabled", subject=user.email)
        raise LoginError(N_("This account is disabled. Ask an administrator."))
    if password_locked:
        audit.record(session, clock, actor=user.email, action="login.through_lock",
                     subject=user.email, detail={"failures": user.failed_logins})
    user.failed_logins = user.factor_failures = 0
    user.locked_until = user.factor_locked_until = None
    if step is not None:
        user.totp_last_step = step
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record(session, clock, actor=user.email, action="login", subject=user.email)
    for hook in hooks:
        hook(session, user, password)
    return user


def finish_key_login(session: Session, clock: Clock, user: User) -> None:
    """Complete a sign-in whose password was right and whose key has just answered."""
    if _locked(user.locked_until, clock.now()):
        audit.record(session, clock, actor=user.email, action="login.through_lock",
                     subject=user.email, detail={"failures": user.failed_logins})
    user.failed_logins = user.factor_failures = 0
    user.locked_until = user.factor_locked_until = None
    audit.record(session, clock, actor=user.email, action="login", subject=user.email,
                 detail={"via": "passkey"})


def key_failed(session: Session, clock: Clock, policy: LockoutPolicy, user: User) -> None:
    """Count a key that did not answer rightly after a right password, like a wrong code."""
    user.factor_failures += 1
    user.factor_locked_until = _lock(policy, user.factor_failures, clock.now())


def check_second_factor(
    session: Session, clock: Clock, policy: LockoutPolicy, user: User, code: str
) -> bool:
    """Check the authenticator code of someone who already proved who they are elsewhere.

    Used after a sign-in through the identity provider: failures count and lock like a
    wrong code after a right password, and a code is accepted once.
    """
    now = clock.now()
    if _locked(user.factor_locked_until, now):
        audit.record(session, clock, actor=user.email, action="login.locked", subject=user.email)
        return False
    step = _totp_step(user, code, now)
    if step is None or step <= (user.totp_last_step or -1):
        user.factor_failures += 1
        user.factor_locked_until = _lock(policy, user.factor_failures, now)
        audit.record(
            session, clock, actor=user.email, action="login.failed", subject=user.email,
            detail={"factor_failures": user.factor_failures, "via": "identity provider"},
        )
        return False
    user.factor_failures = 0
    user.factor_locked_until = None
    user.totp_last_step = step
    return True


def confirm_password(
    session: Session, clock: Clock, policy: LockoutPolicy, user: User, password: str,
    *, action: str,
) -> bool:
    """Check a signed-in person's password again (e.g. to unlock a key), counting failures.

    Only someone holding the session can fail here, so failures go to the factor counter
    that strangers cannot fill; once it is locked, even the right password is refused
    and the caller should end the session (a stolen cookie is no guessing machine).
    """
    now = clock.now()
    ok = password_matches(user.password_hash, password)
    if _locked(user.factor_locked_until, now):
        audit.record(session, clock, actor=user.email, action=f"{action}_locked",
                     subject=user.email)
        return False
    if not ok:
        user.factor_failures += 1
        user.factor_locked_until = _lock(policy, user.factor_failures, now)
        audit.record(session, clock, actor=user.email, action=f"{action}_failed",
                     subject=user.email, detail={"factor_failures": user.factor_failures})
        return False
    user.factor_failures = 0
    user.factor_locked_until = None
    return True


def is_factor_locked(user: User, now: dt.datetime) -> bool:
    return _locked(user.factor_locked_until, now)


# --- server-side sessions (issue 13, finding 1) -----------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, clock: Clock, user: User) -> str:
    """Open a session for a signed-in person; return the token their cookie carries."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(StaffSession(token_hash=_token_hash(token), user_id=user.id, started_at=now,
                             last_seen_at=now))
    session.flush()
    return token


def resume_session(
    session: Session, clock: Clock, token: object, *, idle_minutes: int, max_hours: int
) -> User | None:
    """Return the session's person if it is still open, and note that it was used.

    A session ends when idle for `idle_minutes`, `max_hours` after it started however
    busy it was, at sign-out, or when the account is disabled: the row is deleted, so
    the same cookie can never come back.
    """
    if not isinstance(token, str) or not token or len(token) > 128:
        return None
    row = session.get(StaffSession, _token_hash(token))
    if row is None:
        return None
    now = clock.now()
    user = session.get(User, row.user_id)
    expired = (
        now - as_utc(row.last_seen_at) > dt.timedelta(minutes=idle_minutes)
        or now - as_utc(row.started_at) > dt.timedelta(hours=max_hours)
    )
    if expired or user is None or user.disabled:
        session.delete(row)
        session.flush()
        return None
    if (now - as_utc(row.last_seen_at)).total_seconds() >= SEEN_WRITE_INTERVAL_SECONDS:
        row.last_seen_at = now
        session.flush()
    return user


def end_session(session: Session, token: object) -> None:
    if isinstance(token, str) and token:
        session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))


def end_all_sessions(session: Session, user: User) -> None:
    """Sign a person out everywhere (password change, disabling, new second factor)."""
    session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))


def change_password(
    session: Session,
    clock: Clock,
    user: User,
    *,
    current: str,
    new: str,
    hooks: Sequence[PasswordHook] = (),
) -> None:
    """Replace a password after checking the current one; ends other sessions."""
    if not password_matches(user.password_hash, current):
        raise AccountError(N_("Your current password is not right."))
    check_password_strength(new)
    if new == current:
        raise AccountError(N_("Choose a password different from the current one."))
    user.password_hash = hash_password(new)
    user.password_changed_at = clock.now()
    user.session_token = secrets.token_hex(16)
    end_all_sessions(session, user)
    for hook in hooks:
        hook(session, user, current, new)
    audit.record(session, clock, actor=user.email, action="account.password", subject=user.email)


def update_account(
    session: Session, clock: Clock, user: User, *, role: str, disabled: bool, actor: User
) -> bool:
    """Change an account's role or disable it, keeping at least one active admin.

    Return True when the new role needed a second factor that was set up just now: its
    provisioning URI must then be handed to the person, once.
    """
    try:
        role_enum = Role(role)
    except ValueError as exc:
        raise AccountError(N_("Unknown role %(role)s."), role=repr(role)) from exc
    stays_admin = role_enum is Role.ADMIN and not disabled
    if user.role == Role.ADMIN and not stays_admin and count_active_admins(session) <= 1:
        raise AccountError(N_("At least one active administrator must remain."))
    changes: dict[str, list[object]] = {}
    new_totp = False
    if user.role != role_enum.value:
        changes["role"] = [user.role, role_enum.value]
        user.role = role_enum.value
        if user.needs_totp and not user.totp_secret:
            user.totp_secret = pyotp.random_base32()
            user.totp_last_step = None
            changes["totp"] = ["off", "on"]
            new_totp = True
            # Their current sessions never proved the new factor: they must sign in again.
            user.session_token = secrets.token_hex(16)
            end_all_sessions(session, user)
    if user.disabled != disabled:
        changes["disabled"] = [user.disabled, disabled]
        user.disabled = disabled
        user.session_token = secrets.token_hex(16)
        end_all_sessions(session, user)
    if changes:
        audit.record(
            session, clock, actor=actor.email, action="account.update", subject=user.email,
            detail=changes,
        )
    return new_totp


def count_active_admins(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(User).where(
            User.role == Role.ADMIN.value, User.disabled.is_(False)
        )
    ) or 0


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.email)))
