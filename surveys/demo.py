"""Demo data for `make run`: a live survey round whose invitations land in the outbox.

The review package seeds published history; this seeds what an admin and a
respondent see today: a team list, a quarterly survey with a demo audience, and
one round open now. The local scheduler mails the invitations to
`instance/outbox/round-<id>-*.eml`; open one and follow its link to answer (the
files are erased when the round is published).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from speakup.web import Services
from surveys import admin_services, audience, rounds
from surveys.itembank import load_item_bank
from surveys.models import Survey
from surveys.round_keys import RoundKeyFolder

DEMO_TITLE = "Quarterly staff pulse (live demo)"
DEMO_TEAMS = ("Emergency department", "Surgery", "Community services", "Corporate services",
              "Estates")
DEMO_AUDIENCE = 30


def seed(session: Session, svc: Services, say: Callable[[str], None]) -> None:
    """Create the demo survey and open a round (once; safe to run again)."""
    if session.scalar(select(Survey.id).where(Survey.title == DEMO_TITLE)) is not None:
        return
    clock, settings = svc.clock, svc.settings
    if not admin_services.list_teams(session):
        admin_services.set_teams(session, clock, DEMO_TEAMS, actor="demo")
    raw = {
        **admin_services.default_spec(session, settings),
        "title": DEMO_TITLE,
        "sector": "healthcare",
        "intro": "Ten minutes on how safe it feels to speak up here. Every question is "
                 "optional.",
        "items": list(load_item_bank().items),
    }
    spec = admin_services.check_spec(raw, settings, now=clock.now())
    survey = admin_services.create_survey(session, clock, spec, actor="demo")
    addresses = [f"staff{i:02d}@demo.speakup.local" for i in range(1, DEMO_AUDIENCE + 1)]
    audience.replace_audience(session, clock, survey, addresses, actor="demo")
    round_ = rounds.add_round(session, survey, clock.now())
    rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
    rounds.plan_survey_rounds(session, survey, clock)
    where = "the SMTP server" if settings.smtp_url else settings.outbox_path
    say(f"Demo survey “{DEMO_TITLE}”: a round is open for {DEMO_AUDIENCE} demo addresses; "
        f"the scheduler sends their invitations to {where}. Follow a link there to answer.")
