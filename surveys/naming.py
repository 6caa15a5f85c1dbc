"""How rounds are named for people: "Round 3 · 1 Dec 2026", numbered within their survey."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from speakup.clock import as_utc
from surveys.models import Round


def day(moment: dt.datetime, tz: str) -> str:
    local = as_utc(moment).astimezone(ZoneInfo(tz))
    return f"{local.day} {local:%b %Y}"


def round_label(session: Session, round_: Round, tz: str) -> str:
    """Name a round within its survey: "Round 3 · 1 Dec 2026".

    Numbered by planned opening among the survey's rounds, so weekly and ad-hoc
    rounds (and rounds of different surveys) never share a name, and a round's
    number never changes once it has opened: only rounds not yet open are ever
    dropped, and they come after it. The date is the day it opened, or is planned to.
    """
    number = session.scalar(
        select(func.count()).select_from(Round)
        .where(Round.survey_id == round_.survey_id, Round.opens_at <= round_.opens_at)
    ) or 1
    return f"Round {number} · {day(round_.opened_at or round_.opens_at, tz)}"
