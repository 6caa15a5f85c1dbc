"""Typed, frozen settings read from the environment (never at import time)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The smallest minimum group size anyone may configure (DESIGN.md rule 5).
MIN_GROUP_SIZE_FLOOR = 3
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
_DIGEST_AT = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


class SettingsError(ValueError):
    """A setting is missing or out of range; the message says which and why."""


def default_instance_path() -> Path:
    return Path.cwd() / "instance"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}.") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}.")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}.")


@dataclass(frozen=True)
class Settings:
    """Everything Speak Up can be configured with; see README for each variable."""

    instance_path: Path = field(default_factory=default_instance_path)
    database_url: str = ""
    secret_key: str | None = None
    min_group_size: int = 5
    smtp_url: str | None = None
    mail_from: str = "Speak Up <speakup@localhost>"
    base_url: str = "http://127.0.0.1:5000"
    timezone: str = "Europe/London"
    # Cookies are Secure everywhere except the plain-HTTP local server (`make run`).
    secure_cookies: bool = True
    idle_timeout_minutes: int = 30
    # A staff session ends this long after sign-in however busy it is (server-side).
    session_max_hours: int = 12
    lockout_threshold: int = 5
    lockout_base_seconds: int = 60
    max_request_bytes: int = 256 * 1024
    concerns_per_minute: int = 30
    # Over that limit a reporter waits this long and sends again outside it (issue 13).
    submit_wait_seconds: int = 15
    stamped_concerns_per_minute: int = 300
    submit_stamp_minutes: int = 30
    receipt_checks_per_minute: int = 120
    concern_retention_days: int = 365
    checks_per_receipt_per_minute: int = 10
    # File downloads with one receipt, counted apart from its checks (issue 19).
    downloads_per_receipt_per_minute: int = 30
    handler_key_session_hours: int = 12
    raw_retention_days: int = 0
    # Days after a quarter ends before its concern statistics are computed and frozen.
    stats_grace_days: int = 14
    # Local time ("HH:MM" in `timezone`) of the handlers' daily summary e-mail.
    handler_digest_at: str = "08:00"
    # Whether reporters may name handlers who must not receive their concern.
    concern_exclusions: bool = True
    # Days after closing during which a reporter's reply reopens their concern.
    reopen_days: int = 30
    # Files a reporter may attach to a report, and the largest size of each.
    attachments_max: int = 5
    attachment_max_mb: int = 10
    # Where each open round's private key lives (README "Raw answers are crypto-shredded");
    # None: <instance>/round-keys. Never inside the database, so no copy of it holds one.
    round_keys_path: Path | None = None
    # Minutes a publication may spend deciding what can be shown before it stops.
    publish_time_limit_minutes: int = 15
    # Languages pages and e-mails are offered in; the first is the default (README "Languages").
    languages: tuple[str, ...] = ("en", "cy")
    # Staff sign-in through the organisation's OpenID Connect provider (README "Signing in
    # through your identity provider"); off while oidc_issuer is empty.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret_file: Path | None = None
    oidc_role_claim: str = "groups"
    oidc_role_map: str = ""
    oidc_required_amr: str = ""
    oidc_required_acr: str = ""
    testing: bool = False

    def __post_init__(self) -> None:
        if self.min_group_size < MIN_GROUP_SIZE_FLOOR:
            raise SettingsError(
                f"SPEAKUP_MIN_GROUP_SIZE is {self.min_group_size}, but it can never be below "
                f"{MIN_GROUP_SIZE_FLOOR}: smaller groups would let people be identified."
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(
                f"SPEAKUP_TIMEZONE {self.timezone!r} is not a known time zone "
                "(use a name such as Europe/London)."
            ) from exc
        if not _DIGEST_AT.fullmatch(self.handler_digest_at):
            raise SettingsError(
                f"SPEAKUP_HANDLER_DIGEST_AT must be a time such as 08:00 (24-hour HH:MM), "
                f"not {self.handler_digest_at!r}."
            )
        if not self.languages or not all(_LANGUAGE.fullmatch(c) for c in self.languages):
            raise SettingsError(
                f"SPEAKUP_LANGUAGES must list language codes such as en,cy, not "
                f"{','.join(self.languages)!r}."
            )
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{self.instance_path / 'speakup.sqlite3'}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from SPEAKUP_* environment variables."""
        env = os.environ if environ is None else environ
        instance = Path(env.get("SPEAKUP_INSTANCE_PATH") or default_instance_path()).resolve()
        return cls(
            instance_path=instance,
            database_url=env.get("SPEAKUP_DATABASE_URL", ""),
            secret_key=env.get("SPEAKUP_SECRET_KEY") or None,
            min_group_size=_int(env, "SPEAKUP_MIN_GROUP_SIZE", 5, minimum=-(10**9)),
            smtp_url=env.get("SPEAKUP_SMTP_URL") or None,
            mail_from=env.get("SPEAKUP_MAIL_FROM", cls.mail_from),
            base_url=env.get("SPEAKUP_BASE_URL", cls.base_url).rstrip("/"),
            timezone=env.get("SPEAKUP_TIMEZONE", cls.timezone),
            secure_cookies=_bool(env, "SPEAKUP_SECURE_COOKIES", True),
            idle_timeout_minutes=_int(env, "SPEAKUP_IDLE_TIMEOUT_MINUTES", 30, minimum=1),
            session_max_hours=_int(env, "SPEAKUP_SESSION_MAX_HOURS", 12, minimum=1),
            lockout_threshold=_int(env, "SPEAKUP_LOCKOUT_THRESHOLD", 5, minimum=1),
            lockout_base_seconds=_int(env, "SPEAKUP_LOCKOUT_SECONDS", 60, minimum=1),
            max_request_bytes=_int(env, "SPEAKUP_MAX_REQUEST_BYTES", 256 * 1024, minimum=1024),
            concerns_per_minute=_int(env, "SPEAKUP_CONCERNS_PER_MINUTE", 30, minimum=1),
            submit_wait_seconds=_int(env, "SPEAKUP_SUBMIT_WAIT_SECONDS", 15, minimum=1),
            stamped_concerns_per_minute=_int(
                env, "SPEAKUP_STAMPED_CONCERNS_PER_MINUTE", 300, minimum=1
            ),
            submit_stamp_minutes=_int(env, "SPEAKUP_SUBMIT_STAMP_MINUTES", 30, minimum=1),
            receipt_checks_per_minute=_int(
                env, "SPEAKUP_RECEIPT_CHECKS_PER_MINUTE", 120, minimum=1
            ),
            concern_retention_days=_int(env, "SPEAKUP_CONCERN_RETENTION_DAYS", 365),
            checks_per_receipt_per_minute=_int(
                env, "SPEAKUP_CHECKS_PER_RECEIPT_PER_MINUTE", 10, minimum=1
            ),
            downloads_per_receipt_per_minute=_int(
                env, "SPEAKUP_DOWNLOADS_PER_RECEIPT_PER_MINUTE", 30, minimum=1
            ),
            handler_key_session_hours=_int(
                env, "SPEAKUP_HANDLER_KEY_SESSION_HOURS", 12, minimum=1
            ),
            raw_retention_days=_int(env, "SPEAKUP_RAW_RETENTION_DAYS", 0),
            stats_grace_days=_int(env, "SPEAKUP_STATS_GRACE_DAYS", 14),
            handler_digest_at=(env.get("SPEAKUP_HANDLER_DIGEST_AT") or "08:00").strip(),
            concern_exclusions=_bool(env, "SPEAKUP_CONCERN_EXCLUSIONS", True),
            reopen_days=_int(env, "SPEAKUP_REOPEN_DAYS", 30),
            attachments_max=_int(env, "SPEAKUP_ATTACHMENTS_MAX", 5),
            attachment_max_mb=_int(env, "SPEAKUP_ATTACHMENT_MAX_MB", 10, minimum=1),
            publish_time_limit_minutes=_int(env, "SPEAKUP_PUBLISH_TIME_LIMIT", 15, minimum=1),
            languages=tuple(
                c.strip().lower() for c in (env.get("SPEAKUP_LANGUAGES") or "en,cy").split(",")
            ),
            round_keys_path=Path(env["SPEAKUP_ROUND_KEYS_PATH"]).resolve()
            if env.get("SPEAKUP_ROUND_KEYS_PATH") else None,
            oidc_issuer=(env.get("SPEAKUP_OIDC_ISSUER") or "").strip().rstrip("/"),
            oidc_client_id=(env.get("SPEAKUP_OIDC_CLIENT_ID") or "").strip(),
            oidc_client_secret_file=Path(env["SPEAKUP_OIDC_CLIENT_SECRET_FILE"]).resolve()
            if env.get("SPEAKUP_OIDC_CLIENT_SECRET_FILE") else None,
            oidc_role_claim=(env.get("SPEAKUP_OIDC_ROLE_CLAIM") or "groups").strip(),
            oidc_role_map=env.get("SPEAKUP_OIDC_ROLE_MAP", ""),
            oidc_required_amr=env.get("SPEAKUP_OIDC_REQUIRED_AMR", ""),
            oidc_required_acr=env.get("SPEAKUP_OIDC_REQUIRED_ACR", ""),
        )

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)

    @property
    def secret_key_file(self) -> Path:
        return self.instance_path / SECRET_KEY_FILE

    @property
    def round_keys_folder(self) -> Path:
        return self.round_keys_path or self.instance_path / "round-keys"

    @property
    def outbox_path(self) -> Path:
        return self.instance_path / "outbox"

    def resolved_secret_key(self) -> str:
        """Return the configured secret, or the one `speakup init` wrote; never create one."""
        if self.secret_key:
            return self.secret_key
        try:
            return self.secret_key_file.read_text().strip()
        except FileNotFoundError as exc:
            raise SettingsError(
                "No secret key: set SPEAKUP_SECRET_KEY or run `speakup init` "
                f"to create {self.secret_key_file}."
            ) from exc
