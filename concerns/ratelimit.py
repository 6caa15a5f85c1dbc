"""Fixed-window rate limits kept in the database, so every worker and host shares them.

Limits are global or per receipt, never per IP address (DESIGN.md rule 1). The
(shared) counter is one conditional upsert: ``INSERT … ON CONFLICT DO UPDATE SET count =
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
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from concerns.models import RateLimitWindow, UsedStamp

# The counters themselves are shared with other packages (speakup/ratelimit.py).
from speakup.ratelimit import WINDOW_SECONDS as WINDOW_SECONDS
from speakup.ratelimit import is_full as is_full
from speakup.ratelimit import seconds_to_next_window as seconds_to_next_window
from speakup.ratelimit import try_again_in as try_again_in
from speakup.ratelimit import upsert_statement, window_tag
from speakup.ratelimit import wait_minutes as wait_minutes


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
    statement = upsert_statement(session.get_bind().dialect.name)
    count = session.connection().execute(
        statement, {"bucket": bucket, "window": tag, "limit": limit}
    ).scalar()
    if count == 1:
        forget_other_windows(session, tag, None if forget_all else bucket)
    return count is not None


def forget_other_windows(session: Session, tag: str, bucket: str | None = None) -> int:
    """Delete every window but `tag` (of one bucket, or of all but the reservations).

    Reservations are counted in future windows and erased by `reserve_slot` itself.
    """
    condition = RateLimitWindow.window != tag
    if bucket is not None:
        condition = condition & (RateLimitWindow.bucket == bucket)
    else:
        condition = condition & (RateLimitWindow.bucket != RESERVED_BUCKET)
    result = session.connection().execute(delete(RateLimitWindow).where(condition))
    return result.rowcount or 0  # type: ignore[attr-defined]


def stamp_spent(session: Session, stamp: Stamp, key: bytes) -> bool:
    """Whether `stamp` was already used (a read; `spend_stamp` still decides)."""
    mark = hmac.new(key, b"used stamp " + stamp.nonce.encode(), hashlib.sha256).hexdigest()
    return session.scalar(select(UsedStamp.nonce_hash).where(
        UsedStamp.nonce_hash == mark)) is not None


# --------------------------------------------------------------- waiting stamps
#
# A full global bucket would let one client lock every reporter out (issue 13,
# finding 3). Instead of refusing, the form page is sent back with everything typed
# and a signed stamp that matures after a wait; a submission carrying a matured,
# unused stamp skips the global bucket and counts against a much larger one of its
# own. A flooder pays the wait on every submission; a reporter waits once. The stamp
# holds a random nonce, the second it was issued and the wait — nothing about the
# client — and a used one leaves only a keyed hash of its nonce, filed under the
# keyed hash of its minute (never a time), until it has expired.

#
# Hoarding (issue 18): a client collecting stamps from fresh sessions and spending them
# all at once filled the waited ceiling every minute, so a reporter who had waited was
# sent back to wait again, and again. Now the waited ceiling is handed out when the
# stamp is issued, not when it is spent: each stamp reserves a place in the first
# minute, from the end of the base wait on, that still has room, and its wait runs to
# that place. Reserved places cannot be taken by anyone else, so a reporter who waits
# once is stored, whoever else holds stamps; the wait grows with the number of stamps
# outstanding (the overload), and a hoarder's extra stamps lengthen everyone's wait but
# never take a place already given. A reserved stamp must be spent within
# RESERVED_SPEND_SECONDS of its place, so places cannot be saved up and spent together.
# Nothing about the client is used: only counts per keyed hash of a minute.

STAMP_SALT = "concern-submit-stamp"
RESERVED_BUCKET = "concern-submit-reserved"
RESERVED_SPEND_SECONDS = 10 * 60


@dataclass(frozen=True)
class Stamp:
    nonce: str
    issued: int  # Unix second it was issued (inside the signed stamp only)
    wait: int  # seconds before it may be used
    reserved: bool = False  # holds a place under the waited ceiling (reserve_slot)

    @property
    def usable_from(self) -> int:
        return self.issued + self.wait


def issue_stamp(key: bytes, now: dt.datetime, wait: int, *, reserved: bool = False) -> str:
    """A signed stamp for a reporter to send back after `wait` seconds."""
    payload = {"n": secrets.token_urlsafe(16), "t": int(now.timestamp()), "w": wait}
    if reserved:
        payload["r"] = 1
    return str(URLSafeSerializer(key, salt=STAMP_SALT).dumps(payload))


def read_stamp(key: bytes, token: str) -> Stamp | None:
    """The stamp `token` carries, or None when it was not signed with `key` (forged)."""
    try:
        payload = URLSafeSerializer(key, salt=STAMP_SALT).loads(token)
        return Stamp(str(payload["n"]), int(payload["t"]), int(payload["w"]),
                     payload.get("r") == 1)
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None


def reserve_slot(session: Session, now: dt.datetime, key: bytes, *, wait: int,
                 per_minute: int, horizon: int) -> int | None:
    """Reserve a place for one waited submission; return the Unix second it opens.

    The place is in the first minute, from `now + wait` on and no later than
    `now + horizon`, with fewer than `per_minute` places given; within a minute the
    places are spread evenly. None when every minute up to the horizon is full.
    Reservations of minutes that can hold no live stamp any more are erased here.
    """
    earliest = int(now.timestamp()) + wait
    first_minute = earliest // WINDOW_SECONDS
    last_minute = (int(now.timestamp()) + horizon) // WINDOW_SECONDS
    conn = session.connection()
    statement = upsert_statement(session.get_bind().dialect.name)
    for minute in range(first_minute, max(first_minute, last_minute) + 1):
        start = minute * WINDOW_SECONDS
        tag = window_tag(dt.datetime.fromtimestamp(start, dt.UTC), key)
        count = conn.execute(statement, {"bucket": RESERVED_BUCKET, "window": tag,
                                         "limit": per_minute}).scalar()
        if count is None:
            continue
        if count == 1:
            _forget_past_reservations(session, now, key, horizon)
        return max(earliest, start + (count - 1) * WINDOW_SECONDS // per_minute)
    return None


def _forget_past_reservations(session: Session, now: dt.datetime, key: bytes,
                              horizon: int) -> None:
    """Erase reservation counts of minutes no live reserved stamp can be in."""
    base = int(now.timestamp()) // WINDOW_SECONDS
    back = RESERVED_SPEND_SECONDS // WINDOW_SECONDS + 1
    live = {window_tag(dt.datetime.fromtimestamp(m * WINDOW_SECONDS, dt.UTC), key)
            for m in range(base - back, base + horizon // WINDOW_SECONDS + 2)}
    session.connection().execute(delete(RateLimitWindow).where(
        (RateLimitWindow.bucket == RESERVED_BUCKET) & RateLimitWindow.window.not_in(live)))


def reserved_stamp_stale(stamp: Stamp, now: dt.datetime) -> bool:
    """Whether a reserved stamp's place has passed by more than RESERVED_SPEND_SECONDS."""
    return stamp.reserved and now.timestamp() > stamp.usable_from + RESERVED_SPEND_SECONDS


def seconds_left(stamp: Stamp, now: dt.datetime) -> float:
    """How long until `stamp` may be used (0 or less: it may)."""
    return stamp.usable_from - now.timestamp()


def stamp_expired(stamp: Stamp, now: dt.datetime, lifetime: int) -> bool:
    return now.timestamp() > stamp.issued + lifetime


def spend_stamp(session: Session, stamp: Stamp, now: dt.datetime, key: bytes,
                lifetime: int) -> bool:
    """Mark `stamp` used; return False if it already was. Also erases expired marks.

    Marks are filed under the hashed minute of issue; a mark whose minute is no longer
    one a live stamp can have been issued in belongs to an expired stamp.
    """
    live = [window_tag(now - dt.timedelta(seconds=s), key)
            for s in range(0, lifetime + 2 * WINDOW_SECONDS, WINDOW_SECONDS)]
    conn = session.connection()
    conn.execute(delete(UsedStamp).where(UsedStamp.window.not_in(set(live))))
    issued = dt.datetime.fromtimestamp(stamp.issued, dt.UTC)
    mark = hmac.new(key, b"used stamp " + stamp.nonce.encode(), hashlib.sha256).hexdigest()
    statement = _spend(session.get_bind().dialect.name)
    return conn.execute(statement, {"nonce_hash": mark,
                                    "window": window_tag(issued, key)}).scalar() is not None


@functools.cache
def _spend(dialect: str):  # type: ignore[no-untyped-def]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(UsedStamp)
        .values(nonce_hash=bindparam("nonce_hash"), window=bindparam("window"))
        .on_conflict_do_nothing(index_elements=[UsedStamp.nonce_hash])
        .returning(UsedStamp.nonce_hash)
    )
