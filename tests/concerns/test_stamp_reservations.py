"""Issue 18, finding 4: a client hoarding wait stamps cannot keep a waiting reporter out.

Before, the waited ceiling was counted when a stamp was spent: a hoarder spending a
pile of matured stamps at the start of each minute filled it, and a reporter who had
waited was sent back to wait again (up to 5 times, 78 s, 1 in 3 never stored). Now a
stamp reserves its place under the ceiling when it is issued; the wait runs to that
place, so it grows with the stamps outstanding, and a place given is never taken.
"""

from __future__ import annotations

import datetime as dt

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from sqlalchemy import func, select

from concerns import ratelimit, services
from concerns.models import Concern, RateLimitWindow

PER_MINUTE = 3


@pytest.fixture
def config(concern_config):  # type: ignore[no-untyped-def]
    return concern_config.with_changes(concerns_per_minute=1,
                                       stamped_concerns_per_minute=PER_MINUTE)


def _stamp(session, clock, config) -> ratelimit.Stamp:  # type: ignore[no-untyped-def]
    token, wait = services.issue_wait_stamp(session, clock, config)
    stamp = ratelimit.read_stamp(config.stamp_key, token)
    assert stamp is not None and stamp.wait == wait
    return stamp


def _send(session, clock, config, stamp=None, text="spam"):  # type: ignore[no-untyped-def]
    prepared = services.prepare_report(config, category_id="1", what_happened=text,
                                       what_wanted="", hint=None)
    receipt, _ = services.store_new_concern(session, clock, config, prepared, None, stamp)
    return receipt


def _stored(session) -> int:
    return int(session.scalar(select(func.count()).select_from(Concern)) or 0)


def test_the_wait_grows_with_the_stamps_outstanding(session, clock, config):
    clock.set(dt.datetime(2026, 12, 7, 3, 0, 10, tzinfo=dt.UTC))
    waits = [_stamp(session, clock, config).wait for _ in range(3 * PER_MINUTE + 1)]
    base = config.submit_wait_seconds
    assert waits[0] == base
    assert waits == sorted(waits) and waits[-1] > waits[0] + 2 * 60
    # At most PER_MINUTE places start in any one minute.
    starts = [(int(clock.now().timestamp()) + w) // 60 for w in waits]
    assert max(starts.count(m) for m in set(starts)) == PER_MINUTE


def test_a_reporter_who_waits_once_is_stored_whatever_a_hoarder_spends(
        session, clock, config, recovery_key):
    clock.set(dt.datetime(2026, 12, 7, 3, 0, 10, tzinfo=dt.UTC))
    _send(session, clock, config, text="fills the global minute")
    hoard = [_stamp(session, clock, config) for _ in range(2 * PER_MINUTE)]
    reporter = _stamp(session, clock, config)
    hoard += [_stamp(session, clock, config) for _ in range(2 * PER_MINUTE)]
    assert reporter.wait > config.submit_wait_seconds  # the hoard is ahead: a longer wait
    # The hoarder spends every stamp the moment it may, before and after the reporter.
    spent = 0
    for stamp in sorted(hoard + [reporter], key=lambda s: s.usable_from):
        clock.set(dt.datetime.fromtimestamp(stamp.usable_from, dt.UTC))
        if stamp is reporter:
            assert _send(session, clock, config, stamp, text="A genuine concern.")
        else:
            _send(session, clock, config, stamp)
            spent += 1
    assert spent == len(hoard) and _stored(session) == 1 + len(hoard) + 1


def test_a_plain_stamp_still_counts_against_the_waited_ceiling(session, clock, config,
                                                               recovery_key):
    # What the hoarder did to a reporter before: plain stamps compete when spent.
    _send(session, clock, config, text="fills the global minute")
    key = config.stamp_key
    plain = [ratelimit.read_stamp(key, ratelimit.issue_stamp(key, clock.now(), 15))
             for _ in range(PER_MINUTE + 1)]
    clock.advance(seconds=15)
    for stamp in plain[:PER_MINUTE]:
        _send(session, clock, config, stamp)
    with pytest.raises(services.RateLimitedError):
        _send(session, clock, config, plain[-1], text="A genuine concern.")


def test_a_reserved_place_cannot_be_saved_up(session, clock, config, recovery_key):
    _send(session, clock, config, text="fills the global minute")
    stamp = _stamp(session, clock, config)
    clock.advance(seconds=stamp.wait + ratelimit.RESERVED_SPEND_SECONDS + 1)
    with pytest.raises(services.StampUsedError), session.begin_nested():  # as the view rolls back
        _send(session, clock, config, stamp)
    assert _stored(session) == 1


def test_a_reserved_stamp_is_spent_once(session, clock, config, recovery_key):
    _send(session, clock, config, text="fills the global minute")
    stamp = _stamp(session, clock, config)
    clock.advance(seconds=stamp.wait)
    _send(session, clock, config, stamp)
    with pytest.raises(services.StampUsedError):
        _send(session, clock, config, stamp)


def test_a_new_global_minute_keeps_the_reservations_and_old_ones_are_erased(
        session, clock, config, recovery_key):
    clock.set(dt.datetime(2026, 12, 7, 3, 0, 10, tzinfo=dt.UTC))
    _send(session, clock, config, text="fills the global minute")
    waits = [_stamp(session, clock, config).wait for _ in range(2 * PER_MINUTE)]
    clock.advance(seconds=60)  # a new global window: other buckets' windows are forgotten
    _send(session, clock, config, text="opens a new global minute")
    reserved = session.scalars(select(RateLimitWindow.count).where(
        RateLimitWindow.bucket == ratelimit.RESERVED_BUCKET)).all()
    assert sum(reserved) == len(waits)
    clock.advance(hours=2)
    _stamp(session, clock, config)
    reserved = session.scalars(select(RateLimitWindow.count).where(
        RateLimitWindow.bucket == ratelimit.RESERVED_BUCKET)).all()
    assert reserved == [1]  # only the newest minute's count is left
