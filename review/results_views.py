"""The staff results page, `/results/`: public, read-only, no sign-in, no cookies.

An admin can switch it off (`speakup.site_settings`); then it is not found and no
page links to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from babel.dates import format_date
from flask import Blueprint, Response, abort, render_template, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from review import charts, goals, progress_report
from review.goals import GoalProgress
from review.models import AT_LEAST, GAP, QUARTER_METRICS
from review.reports import Overview
from review.results import FAVOURABLE_DEFINITION, ResultsPage, results_page
from review.tables import NOT_SHOWN, PERCENT, POINTS, change_text, display
from speakup import i18n, publication_log, signing, verify_report
from speakup.db import DATABASE_FAULTS
from speakup.models import PublicationLogEntry
from speakup.promises import DIFFERENCING_LIMIT
from speakup.site_settings import results_page_enabled
from speakup.translatable import N_, SOURCE_LANGUAGE
from speakup.web import clock, db, public, settings
from surveys.itembank import ItemBankError, load_item_bank
from surveys.published import Row

bp = Blueprint("results", __name__, url_prefix="/results")
# The same in every language: it is typed as it stands.
VERIFY_COMMAND = "python verify_report.py report.json --key FINGERPRINT --log log.json"


@bp.app_context_processor
def results_link() -> dict[str, object]:
    def results_page_url() -> str | None:
        """The page's address while it is on, else None (templates then show no link)."""
        try:
            enabled = results_page_enabled(db())
        except DATABASE_FAULTS:
            # The home page worked without a database before it linked here: keep it so.
            db().rollback()
            return None
        return url_for("results.page") if enabled else None

    return {"results_page_url": results_page_url}


@bp.route("/")
@public
def page() -> str:
    if not results_page_enabled(db()):
        abort(404)
    data = results_page(db(), settings().min_group_size, clock().today())
    # Issue 20: this page is public, so it is shown in the reader's language. The words
    # built in Python are shared with the reviewers' English exports: they are translated
    # here, as the page is drawn, never where they are made.
    return render_template("results/page.html", data=_in_language(data), view=data.view,
                           favourable_definition=_(FAVOURABLE_DEFINITION),
                           differencing_limit=_(DIFFERENCING_LIMIT), signed=_signed_block(),
                           row_label=_row_label, figure=_figure, change=_change,
                           long_date=_long_date, goal_definitions=_goal_definitions(),
                           group=_, goal_status=_goal_status, round_name=_round_name,
                           verify_command=VERIFY_COMMAND)


# --- the page in the reader's language (issue 20) -------------------------------------------

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


def _goal_definitions() -> dict[str, str]:
    """The goal table's definitions, in the page's language (same keys as the reviewers')."""
    return {key: _(_GOAL_DEFINITIONS.get(key, text)) for key, text in goals.DEFINITIONS.items()}


def _goal_status(status: str) -> str:
    """A goal's status in words of the page's language (the English one names its style)."""
    return _(_STATUSES.get(status, status))


def _long_date(day: dt.date | str | None) -> str:
    """A date as people read it in the page's language: "1 December 2026", "1 Rhagfyr 2026"."""
    if not day:
        return ""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return format_date(day, "d MMMM y", locale=i18n.current())


# How surveys.naming names a round: "Round 3 · 1 Dec 2026".
_ROUND_NAME = re.compile(r"Round (\d+) · (\d{1,2} [A-Z][a-z]{2} \d{4})")


def _round_name(label: str) -> str:
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


def _figure(value: float | int | None, unit: str) -> str:
    """A figure as the page shows it; a hidden one says so in the page's language."""
    if value is None:
        return _("not shown")
    if unit == POINTS:
        return _("%(figure)s pts", figure=display(value, POINTS))
    return display(value, unit)


def _change(now: float | None, before: float | None) -> str:
    """The change in percentage points, in words of the page's language ("" if not shown)."""
    text = change_text(now, before, PERCENT)
    if text == "no change":
        return _("no change")
    return _("%(figure)s pts", figure=text.removesuffix(" pts")) if text else ""


def _row_label(row: Row) -> str:
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
    due = _long_date(goal.due_on)
    if goal.metric in QUARTER_METRICS:
        due_text = _("%(quarter)s (by %(date)s)", quarter=goals.quarter_label(goal.due_on),
                     date=due)
    else:
        due_text = _("%(date)s (latest round opened by then)", date=due)
    latest, previous = (None if reading is None else dataclasses.replace(
        reading, source=_round_name(reading.source)) for reading in (goal.latest, goal.previous))
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
        change_text=_change(latest.value if latest else None,
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
              scale=_row_label(view.trend_row), first=first, second=second)
    gap = _("%(first)s minus %(second)s", first=first, second=second)
    headers = (_("Round"), first, second, gap)
    rows = tuple((_round_name(row[0]), *(_("not shown") if cell == NOT_SHOWN else cell
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


def _in_language(data: ResultsPage) -> ResultsPage:
    views = {p.view.latest.survey_id: p.view for p in data.surveys if p.view.latest}
    parts = [dataclasses.replace(p, gap_chart=_chart_in_language(p.gap_chart, p.view),
                                 goals=[_goal_in_language(g, views) for g in p.goals])
             for p in data.surveys]
    return dataclasses.replace(
        data, surveys=parts, goals=[_goal_in_language(g, views) for g in data.goals],
        actions=[dataclasses.replace(a, date_text=_long_date(a.taken_on))
                 for a in data.actions])


# --- signed publications (issue 22): anyone can check the figures offline -------------------


def _signed_block() -> dict[str, Any] | None:
    """What the page's "Check these figures" block needs; None before anything is signed."""
    key = signing.active_key(db())
    if key is None:
        return None
    report = publication_log.latest(db(), publication_log.PROGRESS_REPORT)
    return {"fingerprint": signing.grouped(key.fingerprint),
            "report_on": report.ref if report else None}


def _enabled() -> None:
    if not results_page_enabled(db()):
        abort(404)


def _json(document: Any, name: str | None = None) -> Response:
    response = Response(json.dumps(document, indent=1, ensure_ascii=False) + "\n",
                        mimetype="application/json")
    if name:
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/signing-key.pem")
@public
def signing_key_pem() -> Response:
    _enabled()
    key = signing.active_key(db())
    if key is None:
        abort(404)
    return Response(signing.public_pem(key), mimetype="application/x-pem-file")


@bp.route("/signing-key.json")
@public
def signing_key_json() -> Response:
    _enabled()
    document = publication_log.key_document(db())
    if document is None:
        abort(404)
    return _json(document)


@bp.route("/log.json")
@public
def log_json() -> Response:
    _enabled()
    return _json(publication_log.log_document(db()), "speakup-publication-log.json")


@bp.route("/publications/<int:seq>.json")
@public
def publication_json(seq: int) -> Response:
    _enabled()
    row = publication_log.entry(db(), seq)
    if row is None or row.kind == publication_log.KEY_KIND:
        abort(404)
    return _json(publication_log.signed_file(db(), row),
                 f"speakup-{row.kind}-{row.ref}-entry-{row.seq}.json")


def _latest_report() -> PublicationLogEntry:
    _enabled()
    row = publication_log.latest(db(), publication_log.PROGRESS_REPORT)
    if row is None:
        abort(404)
    return row


@bp.route("/report.json")
@public
def report_json() -> Response:
    row = _latest_report()
    return _json(publication_log.signed_file(db(), row), f"speakup-progress-report-{row.ref}.json")


@bp.route("/report.csv")
@public
def report_csv() -> Response:
    row = _latest_report()
    response = Response(progress_report.report_csv(json.loads(row.payload)), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="speakup-progress-report-{row.ref}.csv"')
    return response


@bp.route(f"/{progress_report.SCHEMA_NAME}")
@public
def report_schema() -> Response:
    _enabled()
    return _json(progress_report.schema())


@bp.route("/verify_report.py")
@public
def verifier() -> Response:
    """The single-file verifier, so a reader needs nothing from anywhere else."""
    _enabled()
    text = Path(verify_report.__file__).read_text("utf-8")
    response = Response(text, mimetype="text/x-python")
    response.headers["Content-Disposition"] = 'attachment; filename="verify_report.py"'
    return response
