"""The staff results page's data: what came of the last survey round, for everyone.

Built from published rounds only, through `review.reports` (which re-checks every
round with `review.safety.checked_round`), so it shows nothing the review pages
would not: hidden and empty groups are None here and "not shown" on the page.
Plain functions taking a Session; no Flask.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from review import charts
from review.reports import Overview, overview
from review.trends import build_trends

FAVOURABLE_DEFINITION = (
    "Favourable is the share of all answers to a scale’s questions that were one of the "
    "two most positive options (for a question worded negatively, the two most negative)."
)


@dataclass(frozen=True)
class ResultsPage:
    """Everything `/results/` shows; `view.latest` is None when nothing is published."""

    view: Overview
    gap_chart: charts.Chart | None
    goals: list[Any]
    actions: list[Any]


def _goals_and_actions(session: Session, k: int, today: dt.date) -> tuple[list[Any], list[Any]]:
    """Return the goals (with their progress) and the actions to show staff."""
    # wired to review.goals at merge
    return [], []


def _gap_chart(view: Overview) -> charts.Chart | None:
    """The gap over rounds between the overview's two groups, for the overview's trend scale."""
    if view.latest is None or view.trend_row is None or view.gap_labels is None:
        return None
    # "" draws no per-group lines: only the gap between the default pair is needed here.
    trends = build_trends(view.rounds, "")
    block = next((b for b in trends.blocks if b.row.id == view.trend_row.id), None)
    return block.gap if block else None


def results_page(session: Session, k: int, today: dt.date) -> ResultsPage:
    """Build the staff results page from the latest published round of the latest survey."""
    view = overview(session)
    goals, actions = _goals_and_actions(session, k, today)
    return ResultsPage(view, _gap_chart(view), goals, actions)
