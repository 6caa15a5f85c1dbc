"""The advisory group's pages and their exports (role reviewer; admins too)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from review import exports, goals, reports, trends
from review.mechanisms import audit_summary, load_mechanism_stats, mechanism_review
from review.reports import ReviewError
from review.tables import PERCENT, Table, change_text, display, export_value, pivot
from speakup import audit
from speakup.digits import ascii_int_or_none
from speakup.headers import attachment_disposition
from speakup.promises import DIFFERENCING_LIMIT
from speakup.web import clock, db, role_required, settings, writes
from surveys.protection import describe as describe_protection
from surveys.published import PublishedRound, surveys_with_results

bp = Blueprint("review", __name__, url_prefix="/review")


@dataclass(frozen=True)
class SurveyLink:
    title: str
    url: str
    current: bool

REVIEW_ROLES = ("reviewer", "admin")
FORMAT = "<any(csv, json):fmt>"


@bp.app_template_filter("review_figure")
def review_figure(value: Any, unit: str) -> str:
    return display(value, unit)


@bp.app_template_global("review_change")
def review_change(now: float | None, before: float | None, unit: str = "percent") -> str:
    return change_text(now, before, unit)


@bp.app_template_global("review_pivot")
def review_pivot(table: Table, row_key: str, column_key: str, value_key: str) -> Any:
    return pivot(table, row_key, column_key, value_key)


@bp.app_template_filter("review_date")
def review_date(iso: str | None) -> str:
    """Write an ISO date as people read it: "1 December 2026"."""
    if not iso:
        return ""
    day = dt.date.fromisoformat(iso)
    return f"{day.day} {day:%B} {day.year}"


@bp.app_template_filter("review_percent")
def review_percent(share: float | None) -> str:
    return display(share, PERCENT)


def _survey_id() -> int | None:
    """The survey the address names, or None when it names none.

    A `?survey=` that is not a plain number is a 404 on every page and export rather
    than a quiet fall-back to another survey's figures.
    """
    raw = request.args.get("survey")
    # ASCII digits only: type=int would also read "٣", " 3" or "3_0".
    survey_id = ascii_int_or_none(raw)
    if raw and survey_id is None:
        abort(404)
    return survey_id


def _export_links(endpoint: str, **values: Any) -> dict[str, str]:
    # Keep the page's own filters; drop what would clash with url_for's arguments.
    args = {k: v for k, v in request.args.items()
            if k != "fmt" and k not in values and not k.startswith("_")}
    return {fmt: url_for(endpoint, fmt=fmt, **values, **args) for fmt in exports.FORMATS}


def _export(fmt: str, name: str, meta: dict[str, Any], tables: list[Table],
            **extra: Any) -> Response:
    """Write the export, audit it, and send it as a download."""
    audit.record(db(), clock(), actor=current_user.email, action="review.export",
                 subject=request.path, detail={"format": fmt, **request.args.to_dict()})
    db().commit()
    meta = {**meta, "exported_on": clock().today().isoformat(), "source": request.path}
    if fmt == "csv":
        body, mimetype = exports.to_csv(tables), "text/csv"
    else:
        body, mimetype = exports.to_json(meta, tables, **extra), "application/json"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = attachment_disposition(f"{name}.{fmt}")
    return response


def _or_404(error: ReviewError) -> NoReturn:
    abort(404, description=str(error))


# --------------------------------------------------------------------------
# Overview


def _survey_choices(endpoint: str, chosen: int | None) -> list[SurveyLink]:
    """The survey chooser: one plain link per survey with published rounds (no script)."""
    titles = dict(surveys_with_results(db()))
    return [SurveyLink(titles[i], url_for(endpoint, survey=i), i == chosen)
            for i in reports.survey_order(db()) if i in titles]


def _overviews() -> list[reports.Overview]:
    """Each survey's overview (one, when the address names a survey)."""
    survey_id = _survey_id()
    try:
        if survey_id is not None:
            return [reports.overview(db(), survey_id)]
        return reports.overviews(db())
    except ReviewError as error:
        _or_404(error)


def _mechanism_summary() -> Any:
    k = settings().min_group_size
    stats = load_mechanism_stats(db(), k, clock().today())
    return mechanism_review(stats, [], audit_summary(db(), clock().today()), k)


@bp.route("/")
@role_required(*REVIEW_ROLES)
def overview() -> str:
    views = _overviews()
    chosen = views[0].latest.survey_id if _survey_id() is not None and views[0].latest else None
    return render_template(
        "review/overview.html", views=views, mech=_mechanism_summary(),
        goal_progress=goals.goal_progress(db(), settings().min_group_size, clock().today()),
        chooser=_survey_choices("review.overview", chosen), chosen=chosen,
        exports={v.latest.survey_id: _export_links("review.overview_export",
                                                   survey=v.latest.survey_id)
                 for v in views if v.latest})


@bp.route(f"/overview.{FORMAT}")
@writes  # every export is audited
@role_required(*REVIEW_ROLES)
def overview_export(fmt: str) -> Response:
    try:
        view = reports.overview(db(), _survey_id())
    except ReviewError as error:
        _or_404(error)
    mech = _mechanism_summary()
    latest = view.latest
    meta = {"title": f"{latest.survey_title}: overview" if latest else "Overview",
            "survey": latest.survey_title if latest else None,
            "survey_id": latest.survey_id if latest else None,
            "round": latest.label if latest else None,
            "minimum_group_size": latest.k if latest else settings().min_group_size}
    tables = [view.table, next(t for t in mech.tables if t.id == "concern_clocks")]
    return _export(fmt, "speakup-overview", meta, tables, definitions=reports.DEFINITIONS)


# --------------------------------------------------------------------------
# Rounds


def _survey_tables() -> list[Table]:
    """The published rounds, one table per survey (one, when the address names a survey)."""
    survey_id = _survey_id()
    chosen = [survey_id] if survey_id is not None else reports.survey_order(db())
    tables = [reports.rounds_table(db(), i) for i in chosen]
    if survey_id is not None and not tables[0].rows:
        abort(404)
    return tables


@bp.route("/rounds")
@role_required(*REVIEW_ROLES)
def rounds() -> str:
    tables = _survey_tables()
    return render_template(
        "review/rounds.html", tables=tables,
        chooser=_survey_choices("review.rounds", _survey_id()),
        exports={t.rows[0].values["survey_id"]: _export_links(
            "review.rounds_export", survey=t.rows[0].values["survey_id"])
            for t in tables if t.rows})


@bp.route(f"/rounds.{FORMAT}")
@writes  # every export is audited
@role_required(*REVIEW_ROLES)
def rounds_export(fmt: str) -> Response:
    tables = _survey_tables()
    meta: dict[str, Any] = {"title": "Published rounds"}
    if _survey_id() is not None and tables[0].rows:
        meta |= {"survey": tables[0].rows[0].values["survey"], "survey_id": _survey_id()}
    return _export(fmt, "speakup-rounds", meta, tables)


def _round_report(round_id: int) -> reports.RoundReport:
    try:
        published = reports.load_round(db(), round_id)
        return reports.round_report(published, request.args.get("dimension") or None,
                                    request.args.get("part") or None)
    except ReviewError as error:
        _or_404(error)


@bp.route("/rounds/<int:round_id>")
@role_required(*REVIEW_ROLES)
def round_page(round_id: int) -> str:
    report = _round_report(round_id)
    return render_template("review/round.html", report=report, round=report.published,
                           definitions=reports.DEFINITIONS, differencing_limit=DIFFERENCING_LIMIT,
                           protection_note=describe_protection(report.published.protection),
                           exports=_export_links("review.round_export", round_id=round_id))


@bp.route(f"/rounds/<int:round_id>.{FORMAT}")
@writes  # every export is audited
@role_required(*REVIEW_ROLES)
def round_export(round_id: int, fmt: str) -> Response:
    report = _round_report(round_id)
    published = report.published
    meta = {
        "title": f"{published.survey_title}: {published.label}",
        "survey_id": published.survey_id, "round_id": published.round_id,
        "opens_on": published.opens_on, "closes_on": published.closes_on,
        "published_on": published.published_on, "minimum_group_size": published.k,
        "invited": published.invited, "responses": published.responses,
        "response_rate_pct": export_value(published.response_rate, PERCENT),
        "breakdown": report.dimension.name if report.dimension else None,
    }
    name = f"speakup-round-{round_id}" + (f"-{report.dimension.id}" if report.dimension else "")
    return _export(fmt, name, meta, [report.respondents, report.results],
                   definitions=reports.DEFINITIONS, comments=report.comments)


# --------------------------------------------------------------------------
# Trends


def _trends() -> trends.Trends:
    try:
        rounds = reports.survey_rounds(db(), _survey_id())
        if not rounds:
            raise ReviewError("nothing published yet")
        return trends.build_trends(
            rounds, request.args.get("dimension"),
            request.args.get("first"), request.args.get("second"),
            goals.goal_progress(db(), settings().min_group_size, clock().today()),
            goals.list_actions(db()),
        )
    except ReviewError as error:
        _or_404(error)


@bp.route("/trends")
@role_required(*REVIEW_ROLES)
def trends_page() -> str:
    if not reports.survey_rounds(db(), None):
        return render_template("review/empty.html", title=gettext("Trends"))
    view = _trends()
    try:
        shown = trends.blocks_to_show(view, request.args.get("measure"))
    except ReviewError as error:
        _or_404(error)
    args = {k: v for k, v in request.args.items() if k != "measure"}
    pages = {b.row.id: url_for("review.trends_page", **args, measure=b.row.id)
             for b in view.blocks}
    survey_id = view.rounds[-1].survey_id
    return render_template("review/trends.html", view=view,
                           chooser=_survey_choices("review.trends_page", survey_id),
                           shown_blocks=shown, pages=pages, differencing_limit=DIFFERENCING_LIMIT,
                           survey_id=survey_id,
                           exports=_export_links("review.trends_export", survey=survey_id))


@bp.route(f"/trends.{FORMAT}")
@writes  # every export is audited
@role_required(*REVIEW_ROLES)
def trends_export(fmt: str) -> Response:
    view = _trends()
    latest = view.rounds[-1]
    meta = {"title": f"{latest.survey_title}: trends", "survey_id": latest.survey_id,
            "minimum_group_size": latest.k,
            "breakdown": view.dimension.name if view.dimension else None,
            "gap": " minus ".join(view.pair_labels) if view.pair_labels else None}
    return _export(fmt, "speakup-trends", meta, [view.series_table, view.gap_table],
                   definitions=reports.DEFINITIONS)


# --------------------------------------------------------------------------
# Mechanisms


def _mechanisms() -> tuple[Any, list[PublishedRound]]:
    try:
        rounds = reports.survey_rounds(db(), _survey_id())
    except ReviewError as error:
        _or_404(error)
    k = settings().min_group_size
    stats = load_mechanism_stats(db(), k, clock().today())
    return mechanism_review(stats, rounds, audit_summary(db(), clock().today()), k), rounds


@bp.route("/mechanisms")
@role_required(*REVIEW_ROLES)
def mechanisms() -> str:
    view, rounds = _mechanisms()
    survey = rounds[-1] if rounds else None
    return render_template(
        "review/mechanisms.html", view=view, survey=survey,
        chooser=_survey_choices("review.mechanisms", survey.survey_id if survey else None),
        exports=_export_links("review.mechanisms_export",
                              **({"survey": survey.survey_id} if survey else {})))


@bp.route(f"/mechanisms.{FORMAT}")
@writes  # every export is audited
@role_required(*REVIEW_ROLES)
def mechanisms_export(fmt: str) -> Response:
    view, rounds = _mechanisms()
    survey = rounds[-1] if rounds else None
    # The k the publications were made with (each quarter's own is in its row).
    meta = {"title": "Mechanism review", "minimum_group_size": view.hidden_k,
            "survey": survey.survey_title if survey else None,
            "survey_id": survey.survey_id if survey else None,
            "concern_statistics_available": view.stats is not None}
    return _export(fmt, "speakup-mechanisms", meta, view.tables)
