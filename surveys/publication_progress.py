"""Say which audit round a publication's disclosure decision is in, and stop it past its limit.

`surveys.round_disclosure.decide_suppression` loops: outsiders' audit, suppress more,
again; then the insiders' audit, suppress more, again. It takes no progress callback,
so this module wraps the two audit functions it calls, once per process, with
pass-through wrappers that do something only inside :func:`watch` (a context
variable: other threads and callers, such as the confirmation page's preview, are
untouched). Each call reports "outsider check round N" or "insiders' check round N"
and, first, checks the deadline: past it, :class:`PublicationTimeout` ends the
decision between two audit rounds (one round already running is not cut short).

If round_disclosure stops calling these names, publication still works; it just
reports fewer steps and is stopped only between its own steps.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from speakup.clock import Clock
from surveys import round_disclosure

OUTSIDER_STEP = "outsider"
INSIDER_STEP = "insider"
# The names decide_suppression calls, and the step each one is.
_WRAPPED = {"audit_model": OUTSIDER_STEP, "audit_insiders": INSIDER_STEP}


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


_current: ContextVar[_Watch | None] = ContextVar("publication_watch", default=None)
_install_lock = threading.Lock()


def _wrap(step: str, audit: Callable[..., Any]) -> Callable[..., Any]:
    def watched(*args: Any, **kwargs: Any) -> Any:
        watch = _current.get()
        if watch is not None:
            watch.enter(step)
        return audit(*args, **kwargs)

    watched.__wrapped__ = audit  # type: ignore[attr-defined]
    watched.publication_step = step  # type: ignore[attr-defined]
    return watched


def _install() -> None:
    with _install_lock:
        for name, step in _WRAPPED.items():
            audit = getattr(round_disclosure, name, None)
            if audit is None or getattr(audit, "publication_step", None) is not None:
                continue
            setattr(round_disclosure, name, _wrap(step, audit))


@contextmanager
def watch(clock: Clock, deadline: dt.datetime, report: Callable[[str], None]
          ) -> Iterator[Callable[[], None]]:
    """Report audit rounds to `report` and stop past `deadline` while the block runs.

    Yields a `check()` the caller runs between its own steps.
    """
    _install()
    current = _Watch(clock, deadline, report)
    token = _current.set(current)
    try:
        yield current.check
    finally:
        _current.reset(token)
