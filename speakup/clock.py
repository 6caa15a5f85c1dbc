"""A clock passed to services so tests can move time (never patch datetime)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def today(self) -> dt.date: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return self.now().date()


@dataclass
class FrozenClock:
    """A clock that only moves when told to (tests, simulations)."""

    current: dt.datetime = field(
        default_factory=lambda: dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    )

    def now(self) -> dt.datetime:
        return self.current

    def today(self) -> dt.date:
        return self.current.date()

    def advance(self, **delta: float) -> dt.datetime:
        self.current = self.current + dt.timedelta(**delta)
        return self.current

    def set(self, moment: dt.datetime) -> None:
        self.current = moment


def as_utc(moment: dt.datetime) -> dt.datetime:
    """Make a stored datetime aware: SQLite hands back naive ones even for tz columns."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
