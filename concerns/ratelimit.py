"""Fixed-window rate limits kept in the database, so every worker and host shares them.

Limits are global or per receipt, never per IP address (DESIGN.md rule 1). The
counter is one conditional upsert: ``INSERT … ON CONFLICT DO UPDATE SET count =
count + 1 WHERE count < limit RETURNING count``; no row back means the window is
full.

A window is named by a keyed hash of its minute, not the minute itself, and a
bucket's other windows are deleted whenever a new one starts: a copy of the
database shows how busy some minute was, never which minute — otherwise the last
row of a quiet day would give away when its only concern was sent.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from concerns.models import RateLimitWindow

WINDOW_SECONDS = 60


def window_tag(moment: dt.datetime, key: bytes) -> str:
    """Name the window holding `moment` without saying when it is."""
    minute = int(moment.timestamp()) // WINDOW_SECONDS
    return hmac.new(key, b"rate-limit window %d" % minute, hashlib.sha256).hexdigest()[:16]


def hit(
    session: Session, bucket: str, limit: int, now: dt.datetime, key: bytes, *,
    forget_all: bool = False,
) -> bool:
    """Count one use of `bucket` in the current window; return False if it was full.

    When this starts a new window, the bucket's other windows are deleted; with
    `forget_all`, every bucket's. Only a global bucket, counted first in its
    transaction, should pass `forget_all`: it is the one row every such transaction
    locks first, so the wide delete cannot deadlock with the narrow ones.
    """
    tag = window_tag(now, key)
    statement = _upsert(session.get_bind().dialect.name)
    count = session.connection().execute(
        statement, {"bucket": bucket, "window": tag, "limit": limit}
    ).scalar()
    if count == 1:
        forget_other_windows(session, tag, None if forget_all else bucket)
    return count is not None


@functools.cache
def _upsert(dialect: str):  # type: ignore[no-untyped-def]
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


def forget_other_windows(session: Session, tag: str, bucket: str | None = None) -> int:
    """Delete every window but `tag` (of one bucket, or of all)."""
    condition = RateLimitWindow.window != tag
    if bucket is not None:
        condition = condition & (RateLimitWindow.bucket == bucket)
    result = session.connection().execute(delete(RateLimitWindow).where(condition))
    return result.rowcount or 0  # type: ignore[attr-defined]
