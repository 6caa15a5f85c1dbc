"""Say which audit round a publication's disclosure decision is in, and stop it past its limit.

`surveys.round_disclosure.decide_suppression` loops: outsiders' audit, suppress more,
again; then the insiders' audit, suppress more, again. Before each audit it tells
`round_disclosure.audit_step_observer` (a context variable: other threads and callers,
such as the confirmation page's preview, are untouched) which step it is. Inside
:func:`watch`, each step reports "outsider check round N" or "insiders' check round N"
and, first, checks the deadline: past it, :class:`PublicationTimeout` ends the decision
between two audits (one audit already running is not cut short).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from speakup.clock import Clock
from surveys.round_disclosure import INSIDER_STEP, OUTSIDER_STEP, audit_step_observer

__all__ = ["INSIDER_STEP", "OUTSIDER_STEP", "PublicationTimeout", "watch"]


class PublicationTimeout(Exception):
    """The publication ran past its time limit and was stopped."""


@dataclass
class _Watch:
    clock: Clock
    deadline: dt.datetime
    report: Callable[[str], None]
    rounds: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        if self.clock.now() >= self.deadline:
            raise PublicationTimeout

    def enter(self, step: str) -> None:
        self.check()
        self.rounds[step] = self.rounds.get(step, 0) + 1
        self.report(f"{step}:{self.rounds[step]}")


@contextmanager
def watch(clock: Clock, deadline: dt.datetime, report: Callable[[str], None]
          ) -> Iterator[Callable[[], None]]:
    """Report audit rounds to `report` and stop past `deadline` while the block runs.

    Yields a `check()` the caller runs between its own steps.
    """
    current = _Watch(clock, deadline, report)
    token = audit_step_observer.set(current.enter)
    try:
        yield current.check
    finally:
        audit_step_observer.reset(token)
