"""Fixed-window rate limits kept in the database, so every worker and host shares them.

Limits are global or per secret (a receipt's keyed hash), never per IP address
(DESIGN.md rule 1). The counter is one conditional upsert: ``INSERT … ON CONFLICT DO
UPDATE SET count = count + 1 WHERE count < limit RETURNING count``; no row back means
the window is full.

A window is named by a keyed hash of its minute, not the minute itself, and a
bucket's other windows are deleted whenever a new one starts: a copy of the
database shows how busy some minute was, never which minute.

The concerns package adds its waiting stamps on top (concerns/ratelimit.py); the
surveys package counts wrong slip codes (surveys/slips.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from speakup.models import RateLimitWindow

WINDOW_SECONDS = 60


def window_tag(moment: dt.datetime, key: bytes) -> str:
    """Name the window holding `moment` without saying when it is."""
    minute = int(moment.timestamp()) // WINDOW_SECONDS
    return hmac.new(key, b"rate-limit window %d" % minute, hashlib.sha256).hexdigest()[:16]


@functools.cache
def upsert_statement(dialect: str):  # type: ignore[no-untyped-def]
    """The counting statement for this database, built once per dialect."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(RateLimitWindow)
        .values(bucket=bindparam("bucket"), window=bindparam("window"), count=1)
        .on_conflict_do_update(
            index_elements=[RateLimitWindow.bucket, RateLimitWindow.window],
            set_={"count": RateLimitWindow.count + 1},
            where=RateLimitWindow.count < bindparam("limit"),
        )
        .returning(RateLimitWindow.count)
    )


def count_one(session: Session, bucket: str, limit: int, now: dt.datetime, key: bytes) -> bool:
    """Count one use of `bucket` in the current window; return False if it was full.

    When this starts a new window, the bucket's other windows are deleted.
    """
    tag = window_tag(now, key)
    count = session.connection().execute(
        upsert_statement(session.get_bind().dialect.name),
        {"bucket": bucket, "window": tag, "limit": limit},
    ).scalar()
    if count == 1:
        session.connection().execute(delete(RateLimitWindow).where(
            RateLimitWindow.bucket == bucket, RateLimitWindow.window != tag))
    return count is not None


def is_full(session: Session, bucket: str, limit: int, now: dt.datetime, key: bytes) -> bool:
    """Whether `bucket`'s current window is already full (a read: nothing is counted)."""
    count = session.scalar(select(RateLimitWindow.count).where(
        RateLimitWindow.bucket == bucket, RateLimitWindow.window == window_tag(now, key)))
    return count is not None and count >= limit


def seconds_to_next_window(now: dt.datetime) -> int:
    """Seconds until the window holding `now` ends, when its counts start again."""
    return WINDOW_SECONDS - int(now.timestamp()) % WINDOW_SECONDS


def wait_minutes(seconds: int) -> int:
    """The wait in whole minutes, rounded up (at least 1)."""
    return max(1, -(-seconds // 60))


def try_again_in(seconds: int) -> str:
    """Say the wait in whole minutes, rounded up ("in about 1 minute")."""
    minutes = wait_minutes(seconds)
    return f"in about {minutes} minute{'' if minutes == 1 else 's'}"
