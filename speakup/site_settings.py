"""Switches an admin sets on the admin pages, stored in `site_settings`.

A missing row means the default, so a fresh install needs no seeding. Changes are
audited (DESIGN.md rule 6). Plain functions: the caller owns the transaction.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import Clock
from speakup.models import SiteSetting

RESULTS_PAGE = "results_page"
ON, OFF = "on", "off"
# Where the staff results page lives: packages that must not import `review` (surveys)
# link to this plain path.
RESULTS_PATH = "/results/"


def results_page_enabled(session: Session) -> bool:
    """Whether the public staff results page is on (it is unless an admin switched it off)."""
    row = session.get(SiteSetting, RESULTS_PAGE)
    return row is None or row.value != OFF


def set_results_page_enabled(session: Session, clock: Clock, actor: str, enabled: bool) -> bool:
    """Switch the staff results page on or off and audit it; return whether it changed."""
    value = ON if enabled else OFF
    row = session.get(SiteSetting, RESULTS_PAGE, with_for_update=True)
    before = ON if row is None else row.value
    if row is None:
        session.add(SiteSetting(key=RESULTS_PAGE, value=value))
    else:
        row.value = value
    audit.record(session, clock, actor=actor, action="settings.results_page",
                 subject=RESULTS_PAGE, detail={"from": before, "to": value})
    return before != value
