"""The public results page's words in the reader's language (issue 20).

The figures and labels built in Python (goals, round names, the gap chart) are shared with
the reviewers' exports, which stay in English: they are translated here, as the page is
drawn, never where they are made.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from babel.dates import format_date
from flask_babel import gettext as _
from markupsafe import Markup, escape

from review import charts, goals
from review.goals import GoalProgress
from review.models import AT_LEAST, GAP, QUARTER_METRICS
from review.reports import Overview
from review.results import ResultsPage
from review.tables import NOT_SHOWN, PERCENT, POINTS, change_text, display
from speakup import i18n
from speakup.translatable import N_, SOURCE_LANGUAGE
from surveys.itembank import ItemBankError, load_item_bank
from surveys.published import Row

_STATUSES = {goals.ON_TRACK: N_("on track"), goals.OFF_TRACK: N_("off track"),
             goals.NOT_MEASURABLE: N_("not measurable")}
_QUARTER_MEASURES = {
    "acknowledged_within_7_days": N_("Acknowledged within 7 days %"),
    "feedback_within_3_months": N_("With feedback within 3 months %"),
    "would_speak_up_again": N_("Reporters who would speak up again %"),
}
_GOAL_DEFINITIONS = {
    "on_track": N_("On track: the latest published value, rounded as the page shows it, "
                   "already meets the target."),
    "off_track": N_("Off track: the latest published value does not meet the target yet."),
    "not_measurable": N_("Not measurable: the latest figure is hidden (too few people, or "
                         "hidden so a small group cannot be worked out) or nothing has been "
                         "published yet; it is never guessed."),
    "change": N_("Change: the latest published value minus the one published before it, in "
                 "percentage points (blank when either is not shown)."),
    "gap": N_("A gap goal follows the size of the difference between the two groups’ "
              "favourable shares, in percentage points, whichever group is higher."),
    "due": N_("Due: the goal counts the latest round opened, or the quarter ending, by this "
              "date."),
}


def goal_definitions() -> dict[str, str]:
    """The goal table's definitions, in the page's language (same keys as the reviewers')."""
    return {key: _(_GOAL_DEFINITIONS.get(key, text)) for key, text in goals.DEFINITIONS.items()}


def goal_status(status: str) -> str:
    """A goal's status in words of the page's language (the English one names its style)."""
    return _(_STATUSES.get(status, status))


def long_date(day: dt.date | str | None) -> str:
    """A date as people read it in the page's language: "1 December 2026", "1 Rhagfyr 2026"."""
    if not day:
        return ""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return format_date(day, "d MMMM y", locale=i18n.current())


# How surveys.naming names a round: "Round 3 · 1 Dec 2026".
_ROUND_NAME = re.compile(r"Round (\d+) · (\d{1,2} [A-Z][a-z]{2} \d{4})")


def round_name(label: str) -> str:
    """A round's name in the page's language: "Round 3 · 1 Dec 2026", "Cylch 3 · 1 Rhag 2026"."""
    found = _ROUND_NAME.fullmatch(label)
    if found is None or i18n.current() == SOURCE_LANGUAGE:
        return label
    try:
        day = dt.datetime.strptime(found.group(2), "%d %b %Y").date()
    except ValueError:
        return label
    return _("Round %(number)s · %(date)s", number=found.group(1),
             date=format_date(day, "d MMM y", locale=i18n.current()))


def figure(value: float | int | None, unit: str) -> str:
    """A figure as the page shows it; a hidden one says so in the page's language."""
    if value is None:
        return _("not shown")
    if unit == POINTS:
        return _("%(figure)s pts", figure=display(value, POINTS))
    return display(value, unit)


def change(now: float | None, before: float | None) -> str:
    """The change in percentage points, in words of the page's language ("" if not shown)."""
    text = change_text(now, before, PERCENT)
    if text == "no change":
        return _("no change")
    return _("%(figure)s pts", figure=text.removesuffix(" pts")) if text else ""


def row_label(row: Row) -> str:
    """A scale's or question's name as respondents read it in this language (item bank)."""
    return _bank_label(row.id, row.label)


def _bank_label(row_id: str | None, english: str) -> str:
    bank, language = load_item_bank(), i18n.current()
    if language == SOURCE_LANGUAGE:
        return english  # as published
    try:
        if row_id in bank.items:
            return bank.item(row_id).text_in(language)
        if row_id in bank.instruments:
            return bank.instrument(row_id).title_in(language)
    except ItemBankError:
        pass
    return english


def _share_text(share: float | None, unit: str) -> str:
    if share is None:
        return _("not shown")
    shown = goals.whole(share)
    return f"{shown}%" if unit == PERCENT else _("%(figure)s pts", figure=shown)


def _measure(goal: GoalProgress, views: dict[int, Overview]) -> str:
    if goal.metric in QUARTER_METRICS:
        return _(_QUARTER_MEASURES[goal.metric])
    view = views.get(goal.survey_id or -1)
    latest = view.latest if view else None
    rows = [*latest.scales, *latest.items] if latest else []
    row = next((r for r in rows if r.id == goal.row_id), None)
    label = _bank_label(goal.row_id, row.label if row else goal.row_id or "")
    survey = goal.survey_title or (latest.survey_title if latest else "")
    yes_no = row is not None and row.response_scale == "yes_no"
    if goal.metric != GAP:
        return (_("%(question)s: answering yes %% (%(survey)s)", question=label, survey=survey)
                if yes_no else
                _("%(scale)s: favourable %% (%(survey)s)", scale=label, survey=survey))
    dimension = next((d for d in latest.dimensions if d.id == goal.dimension_id),
                     None) if latest else None
    names = {g.id: g.label for g in dimension.groups} if dimension else {}
    first, second = ((_(names.get(g, g)) for g in goal.pair) if goal.pair else ("", ""))
    if yes_no:
        return _("%(question)s: gap in answering yes %% between %(first)s and %(second)s "
                 "staff, percentage points (%(survey)s)", question=label, first=first,
                 second=second, survey=survey)
    return _("%(scale)s: gap in favourable %% between %(first)s and %(second)s staff, "
             "percentage points (%(survey)s)", scale=label, first=first, second=second,
             survey=survey)


def _goal_in_language(goal: GoalProgress, views: dict[int, Overview]) -> GoalProgress:
    """The goal's words in the page's language; its figures and status stay as they are."""
    if i18n.current() == SOURCE_LANGUAGE:
        return goal  # review.goals wrote them in English, as the reviewers read them
    unit = goal.unit
    if unit == PERCENT:
        target = (_("at least %(target)s%%", target=goal.target) if goal.direction == AT_LEAST
                  else _("at most %(target)s%%", target=goal.target))
    else:
        target = (_("at least %(target)s pts", target=goal.target)
                  if goal.direction == AT_LEAST
                  else _("at most %(target)s pts", target=goal.target))
    due = long_date(goal.due_on)
    if goal.metric in QUARTER_METRICS:
        due_text = _("%(quarter)s (by %(date)s)", quarter=goals.quarter_label(goal.due_on),
                     date=due)
    else:
        due_text = _("%(date)s (latest round opened by then)", date=due)
    latest, previous = (None if reading is None else dataclasses.replace(
        reading, source=round_name(reading.source)) for reading in (goal.latest, goal.previous))
    if latest is None:
        latest_text = reason = _("not yet published")
    elif latest.value is None:
        latest_text = _("not shown")
        reason = _("not shown in %(source)s", source=latest.source)
    else:
        latest_text = _share_text(latest.value, unit)
        reason = _("%(figure)s in %(source)s", figure=latest_text, source=latest.source)
    return dataclasses.replace(
        goal, measure=_measure(goal, views), target_text=target, due_text=due_text,
        latest_text=latest_text, status_reason=reason, latest=latest, previous=previous,
        change_text=change(latest.value if latest else None,
                            previous.value if previous else None),
    )


def _chart_in_language(chart: charts.Chart | None, view: Overview) -> charts.Chart | None:
    """The gap chart in the page's language: its title, table and the drawing's words.

    review.charts writes the drawing's few words (title, description, legend, axis) in
    English; they are swapped here for the translated ones, so the charts stay one code.
    """
    if chart is None or view.trend_row is None or i18n.current() == SOURCE_LANGUAGE:
        return chart
    english = chart.table_headers[1:3]
    first, second = (_(label) for label in english)
    title = _("%(scale)s: gap in favourable share, %(first)s minus %(second)s",
              scale=row_label(view.trend_row), first=first, second=second)
    gap = _("%(first)s minus %(second)s", first=first, second=second)
    headers = (_("Round"), first, second, gap)
    rows = tuple((round_name(row[0]), *(_("not shown") if cell == NOT_SHOWN else cell
                                         for cell in row[1:])) for row in chart.table_rows)
    rounds = [row[0] for row in rows]
    description = _(
        "Line chart of the gap between %(first)s and %(second)s in percentage points, from "
        "%(start)s to %(end)s: above zero %(first)s is higher, below zero %(second)s is "
        "higher. The gap is not shown wherever either group is not shown. The figures are "
        "in the table below the chart.", first=first, second=second, start=rounds[0],
        end=rounds[-1])
    svg = str(chart.svg)
    for tag in ("title", "desc"):  # the drawing's name and what a screen reader says of it
        words = title if tag == "title" else description
        svg = re.sub(rf'(<{tag} id="{re.escape(chart.id)}-{tag}">).*?(</{tag}>)',
                     lambda m, w=words: f"{m.group(1)}{escape(w)}{m.group(2)}", svg,
                     count=1, flags=re.S)
    english_gap = f"{english[0]} minus {english[1]}"
    swaps = [(f"{english_gap} (above 0: {english[0]} higher)",
              _("%(gap)s (above 0: %(first)s higher)", gap=gap, first=first)),
             (english_gap, gap), ("Gap (percentage points)", _("Gap (percentage points)"))]
    swaps += [(row[0], name) for row, name in zip(chart.table_rows, rounds, strict=True)]
    for old, new in swaps:
        svg = svg.replace(str(escape(old)), str(escape(new)))
    svg = re.sub(r"(?<![\w-])not shown(?![\w-])", str(escape(_("not shown"))), svg)
    # Safe: review.charts escaped the drawing, and every word swapped in is escaped above.
    return dataclasses.replace(chart, title=title, description=description,
                               table_headers=headers, table_rows=rows,
                               svg=Markup(svg))  # noqa: S704


def in_language(data: ResultsPage) -> ResultsPage:
    views = {p.view.latest.survey_id: p.view for p in data.surveys if p.view.latest}
    parts = [dataclasses.replace(p, gap_chart=_chart_in_language(p.gap_chart, p.view),
                                 goals=[_goal_in_language(g, views) for g in p.goals])
             for p in data.surveys]
    return dataclasses.replace(
        data, surveys=parts, goals=[_goal_in_language(g, views) for g in data.goals],
        actions=[dataclasses.replace(a, date_text=long_date(a.taken_on))
                 for a in data.actions])
