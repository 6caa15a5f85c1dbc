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


HEADLINE_SURVEY = "headline_survey"


def headline_survey_id(session: Session) -> int | None:
    """The survey an admin marked as the headline one, or None: then the one published last."""
    row = session.get(SiteSetting, HEADLINE_SURVEY)
    value = row.value if row is not None else ""
    return int(value) if value.isascii() and value.isdigit() else None


def set_headline_survey(session: Session, clock: Clock, actor: str,
                        survey_id: int | None) -> bool:
    """Mark one survey as the headline one (None: the one published last); audited."""
    value = "" if survey_id is None else str(survey_id)
    row = session.get(SiteSetting, HEADLINE_SURVEY, with_for_update=True)
    before = "" if row is None else row.value
    if row is None:
        session.add(SiteSetting(key=HEADLINE_SURVEY, value=value))
    else:
        row.value = value
    audit.record(session, clock, actor=actor, action="settings.headline_survey",
                 subject=HEADLINE_SURVEY, detail={"from": before or None, "to": value or None})
    return before != value
