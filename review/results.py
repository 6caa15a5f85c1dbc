"""The staff results page's data: what came of the last survey round, for everyone.

Built from published rounds only, through `review.reports` (which re-checks every
round with `review.safety.checked_round`), so it shows nothing the review pages
would not: hidden and empty groups are None here and "not shown" on the page.
Plain functions taking a Session; no Flask.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from review import charts, goals
from review.goals import ActionView, GoalProgress
from review.reports import (
    Overview,
    default_gap_pair,
    gap_dimension,
    headline_value,
    overview,
    overviews,
)
from speakup.translatable import N_
from surveys.published import Row

# Marked for the catalogue: the public page translates it as it is drawn (issue 20).
FAVOURABLE_DEFINITION = N_(
    "Favourable is the share of all answers to a scale’s questions that were one of the "
    "two most positive options (for a question worded negatively, the two most negative)."
)


@dataclass(frozen=True)
class SurveyResults:
    """One survey's part of the page: its latest round, its gap chart and its own goals."""

    view: Overview
    gap_chart: charts.Chart | None
    goals: list[GoalProgress]


@dataclass(frozen=True)
class ResultsPage:
    """Everything `/results/` shows: one part per survey (the headline one first, never
    mixed), the goals on concern figures, and the actions."""

    surveys: list[SurveyResults]
    goals: list[GoalProgress]  # goals on concern figures (no survey)
    actions: list[ActionView]
    empty: Overview

    @property
    def view(self) -> Overview:
        """The headline survey's overview (``latest`` None when nothing is published)."""
        return self.surveys[0].view if self.surveys else self.empty

    @property
    def gap_chart(self) -> charts.Chart | None:
        return self.surveys[0].gap_chart if self.surveys else None


def _goals_and_actions(session: Session, k: int,
                       today: dt.date) -> tuple[list[GoalProgress], list[ActionView]]:
    """The goals still in force (with their progress from published figures) and the actions."""
    return goals.goal_progress(session, k, today), goals.list_actions(session)


def _row(rows: list[Row], row_id: str) -> Row | None:
    return next((r for r in rows if r.id == row_id), None)


def _gap_chart(view: Overview) -> charts.Chart | None:
    """The gap over rounds between the overview's two groups, for the overview's trend scale.

    Drawn as the trends page draws it, from the overview's already checked rounds: this
    page needs no sign-in, so it builds one chart, not every trend (a third of the time).
    """
    latest, row = view.latest, view.trend_row
    if latest is None or row is None or view.gap_labels is None:
        return None
    dimension = gap_dimension(latest.dimensions)
    pair = default_gap_pair(dimension) if dimension else None
    if dimension is None or pair is None:
        return None
    series: tuple[list[float | None], list[float | None]] = ([], [])
    for published in view.rounds:
        match = _row([*published.scales, *published.items], row.id)
        cells = match.by_group.get(dimension.id, {}) if match else {}
        for values, group_id in zip(series, pair, strict=True):
            value = headline_value(match, cells.get(group_id)) if match else None
            values.append(None if value is None else value * 100)
    first, second = view.gap_labels
    return charts.gap_chart(
        f"{row.label}: gap in favourable share, {first} minus {second}",
        [r.label for r in view.rounds],
        charts.Series(first, series[0]), charts.Series(second, series[1]),
        id_prefix=f"results-gap-{latest.survey_id}",
    )


def results_page(session: Session, k: int, today: dt.date) -> ResultsPage:
    """Build the staff results page: each survey's latest published round in its own part."""
    views = overviews(session)
    all_goals, actions = _goals_and_actions(session, k, today)
    shown = {v.latest.survey_id for v in views if v.latest}
    parts = [SurveyResults(v, _gap_chart(v), [g for g in all_goals
                                              if v.latest and g.survey_id == v.latest.survey_id])
             for v in views]
    others = [g for g in all_goals if g.survey_id not in shown]
    return ResultsPage(parts, others, actions, overview(session) if not views else views[0])
