"""What the concern services need from the settings, derived once per app."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from concerns import crypto
from speakup.clock import Clock
from speakup.settings import Settings

# EU Whistleblowing Directive (2019/1937) art. 9: acknowledge within 7 days, give
# feedback within 3 months.
ACKNOWLEDGE_DAYS = 7
FEEDBACK_MONTHS = 3


@dataclass(frozen=True)
class ConcernConfig:
    """Server keys, limits and the local time zone; passed to every service explicitly."""

    lookup_key: bytes  # HMAC key: receipt -> the stored hash that finds its concern
    reporter_key: bytes  # HKDF salt key: receipt -> the reporter's X25519 key
    rate_limit_key: bytes  # HMAC key: receipt -> its rate-limit bucket (unlinkable to the above)
    exclusion_key: bytes  # HMAC key: (concern, handler) -> the stored exclusion marker
    timezone: str
    concerns_per_minute: int
    receipt_checks_per_minute: int
    checks_per_receipt_per_minute: int
    retention_days: int
    key_session_hours: int
    stats_grace_days: int = 14
    digest_at: dt.time = dt.time(8, 0)  # local time of the handlers' daily summary
    exclusions_offered: bool = True  # reporters may keep named handlers out
    reopen_days: int = 30  # a reporter's reply within this many days of closing reopens
    attachments_max: int = 5
    attachment_max_bytes: int = 10 * 1024 * 1024
    argon2: crypto.Argon2Params = crypto.HANDLER_KEY_ARGON2
    stamp_key: bytes = b""  # signs waiting stamps and hashes spent ones (ratelimit.py)
    submit_wait_seconds: int = 15
    stamped_concerns_per_minute: int = 300
    submit_stamp_seconds: int = 30 * 60
    downloads_per_receipt_per_minute: int = 30  # apart from checks (issue 19)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConcernConfig:
        secret = settings.resolved_secret_key()
        return cls(
            lookup_key=crypto.derive_server_key(secret, "receipt-lookup"),
            reporter_key=crypto.derive_server_key(secret, "reporter-salt"),
            rate_limit_key=crypto.derive_server_key(secret, "receipt-rate-limit"),
            exclusion_key=crypto.derive_server_key(secret, "handler-exclusion"),
            timezone=settings.timezone,
            concerns_per_minute=settings.concerns_per_minute,
            receipt_checks_per_minute=settings.receipt_checks_per_minute,
            checks_per_receipt_per_minute=settings.checks_per_receipt_per_minute,
            retention_days=settings.concern_retention_days,
            key_session_hours=settings.handler_key_session_hours,
            stats_grace_days=settings.stats_grace_days,
            digest_at=dt.time.fromisoformat(settings.handler_digest_at),
            exclusions_offered=settings.concern_exclusions,
            reopen_days=settings.reopen_days,
            attachments_max=settings.attachments_max,
            attachment_max_bytes=settings.attachment_max_mb * 1024 * 1024,
            stamp_key=crypto.derive_server_key(secret, "submit-stamp"),
            submit_wait_seconds=settings.submit_wait_seconds,
            stamped_concerns_per_minute=settings.stamped_concerns_per_minute,
            submit_stamp_seconds=settings.submit_stamp_minutes * 60,
            downloads_per_receipt_per_minute=settings.downloads_per_receipt_per_minute,
        )

    def with_changes(self, **changes: object) -> ConcernConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    def today(self, clock: Clock) -> dt.date:
        """Today's date where the organisation is: the only time reporters' data carries."""
        return clock.now().astimezone(ZoneInfo(self.timezone)).date()

    def local_now(self, clock: Clock) -> dt.datetime:
        return clock.now().astimezone(ZoneInfo(self.timezone))


def add_months(day: dt.date, months: int) -> dt.date:
    """Return the same day `months` later, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")
