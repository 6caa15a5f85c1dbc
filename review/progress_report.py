"""The open-data progress report: the figures /results/ shows, as signed JSON and as CSV.

Built only from what is already published (the latest survey round through
`review.reports.overview`, as the results page; goals and actions with their progress;
the latest published quarter of concern statistics), so it discloses nothing new. Its
shape is the versioned JSON Schema speakup/schemas/progress-report-1.0.json, checked
before anything is signed. Each figure carries its definition, the minimum group size
`k` it was published under and the protection used.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from concerns.stats import DEFINITIONS as CONCERN_DEFINITIONS
from concerns.stats import published_stats
from review import goals
from review.reports import overview
from review.results import FAVOURABLE_DEFINITION
from review.tables import NOT_SHOWN, PERCENT, display
from speakup import publication_log
from speakup.models import PublicationLogEntry
from surveys.protection import describe as describe_protection

SCHEMA_VERSION = "1.0"
SCHEMA_NAME = f"progress-report-{SCHEMA_VERSION}.json"
SCHEMA_ID = f"speakup-progress-report/{SCHEMA_VERSION}"
CONCERN_PROTECTION = "suppress"  # concern statistics are suppressed only (concerns/publication.py)
GAP_DEFINITION = ("The favourable share of the first group minus that of the second, in "
                  "percentage points; below zero, the first group answered less favourably.")
GOAL_DEFINITION = ("The goal's measure as last published, against the value it aims to reach "
                   "by its due date.")
CONCERN_FIGURES = ("received", "acknowledged_within_7_days", "feedback_within_3_months",
                   "closed_share", "median_days_to_acknowledge")
CSV_COLUMNS = ("section", "id", "label", "value", "shown", "unit", "k", "protection",
               "source", "definition")


class ReportError(ValueError):
    """The report does not match its schema (a bug: nothing is signed)."""


@cache
def schema() -> dict[str, Any]:
    text = resources.files("speakup").joinpath("schemas", SCHEMA_NAME).read_text("utf-8")
    return json.loads(text)


def validate(report: dict[str, Any]) -> None:
    import jsonschema  # here: a fifth of a second at every web process's start, for a download

    try:
        jsonschema.validate(report, schema())
    except jsonschema.ValidationError as exc:
        raise ReportError(f"The progress report does not match its schema: {exc.message}") from exc


def _figure(value: float | int | None, shown: str, unit: str, definition: str, k: int,
            protection: str, source: str) -> dict[str, Any]:
    return {"value": value, "shown": shown, "unit": unit, "definition": definition, "k": k,
            "protection": protection, "source": source}


def _survey(session: Session) -> dict[str, Any] | None:
    view = overview(session)
    latest = view.latest
    if latest is None:
        return None
    source = f"{publication_log.SURVEY_ROUND} {latest.round_id}"
    protection = latest.protection
    headlines = []
    for h in view.headlines:
        gap = None
        if view.gap_labels is not None:
            gap_shown = NOT_SHOWN if h.gap is None else f"{display(h.gap * 100, 'points')} pts"
            gap = _figure(None if h.gap is None else round(h.gap * 100, 6), gap_shown, "points",
                          GAP_DEFINITION, latest.k, protection, source)
        headlines.append({
            "id": h.row.id, "label": h.row.label,
            "favourable_shown": display(h.value, PERCENT),
            "favourable": _figure(h.value, display(h.value, PERCENT), "share",
                                  FAVOURABLE_DEFINITION, latest.k, protection, source),
            "gap": gap,
        })
    return {
        "survey_title": latest.survey_title, "round_id": latest.round_id,
        "round_label": latest.label, "opens_on": latest.opens_on,
        "closes_on": latest.closes_on, "published_on": latest.published_on,
        "k": latest.k, "protection": protection,
        "protection_description": describe_protection(protection),
        "responses": _figure(latest.responses, display(latest.responses, "count"), "count",
                             "The number of people who answered the round.", latest.k,
                             protection, source),
        "gap_groups": list(view.gap_labels) if view.gap_labels else None,
        "headlines": headlines,
    }


def _goals(session: Session, k: int, today: dt.date) -> list[dict[str, Any]]:
    out = []
    for g in goals.goal_progress(session, k, today):
        value = g.latest.value if g.latest else None
        out.append({
            "id": g.goal_id, "label": g.label, "measure": g.measure, "unit": g.unit,
            "target": g.target, "target_text": g.target_text, "direction": g.direction,
            "due_on": g.due_on.isoformat(), "owner": g.owner, "status": g.status,
            "status_reason": g.status_reason,
            "latest": _figure(value, g.latest_text, "share" if g.unit == PERCENT else "points",
                              GOAL_DEFINITION, k, "as published", g.latest.source if g.latest
                              else ""),
            "change_text": g.change_text,
        })
    return out


def _actions(session: Session) -> list[dict[str, Any]]:
    return [{"id": a.id, "taken_on": a.taken_on.isoformat(), "title": a.title,
             "description": a.description, "goal_ids": list(a.goal_ids)}
            for a in goals.list_actions(session)]


def _concerns(session: Session, k: int, today: dt.date) -> dict[str, Any] | None:
    stats = published_stats(session, k, today)
    shown = [q for q in stats.quarters if q.published]
    if not shown:
        return None
    quarter = shown[-1]
    q_k = quarter.k or k
    words = {key: (label, text) for key, label, text in CONCERN_DEFINITIONS}
    words["closed_share"] = words["closed"]
    figures = {}
    for key in CONCERN_FIGURES:
        value = getattr(quarter, key)
        unit = "share" if key not in ("received", "median_days_to_acknowledge") else (
            "count" if key == "received" else "days")
        shown_text = display(value, {"share": PERCENT, "days": "days"}.get(unit, "count"))
        figures[key] = {"label": words[key][0], **_figure(
            value, shown_text, unit, words[key][1], q_k, CONCERN_PROTECTION,
            f"{publication_log.CONCERN_QUARTER} {quarter.quarter}")}
    return {"quarter": quarter.quarter, "snapshot_date": quarter.snapshot_date, "k": q_k,
            "protection": CONCERN_PROTECTION, "figures": figures}


def build_report(session: Session, k: int, today: dt.date) -> dict[str, Any]:
    """Assemble the report from published figures only, and check it against its schema."""
    sources = [{"seq": e.seq, "kind": e.kind, "ref": e.ref}
               for e in publication_log.entries(session)
               if e.kind in (publication_log.SURVEY_ROUND, publication_log.CONCERN_QUARTER)]
    report = {
        "schema": SCHEMA_ID,
        "published_on": today.isoformat(),
        "survey": _survey(session),
        "goals": _goals(session, k, today),
        "actions": _actions(session),
        "concerns": _concerns(session, k, today),
        "sources": sources,
    }
    validate(report)
    return report


def publish_report(session: Session, k: int, today: dt.date) -> PublicationLogEntry | None:
    """Sign the progress report as it stands today and append it to the log. Never commits.

    A second report on the same day is a correction of the first (it replaces it).
    """
    report = build_report(session, k, today)
    ref = today.isoformat()
    earlier = [e.seq for e in publication_log.entries(session)
               if e.kind == publication_log.PROGRESS_REPORT and e.ref == ref]
    return publication_log.record(session, kind=publication_log.PROGRESS_REPORT, ref=ref,
                                  payload=report, published_on=today,
                                  replaces=earlier[-1] if earlier else None)


def report_csv(report: dict[str, Any]) -> str:
    """Every figure of the report, one per line, with the same definitions, k and protection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def row(section: str, ident: object, label: str, fig: dict[str, Any]) -> None:
        writer.writerow([section, ident, label, "" if fig["value"] is None else fig["value"],
                         fig["shown"], fig["unit"], fig["k"], fig["protection"], fig["source"],
                         fig["definition"]])

    survey = report.get("survey")
    if survey:
        row("survey", "responses", "Responses", survey["responses"])
        for h in survey["headlines"]:
            row("headline", h["id"], h["label"], h["favourable"])
            if h["gap"]:
                row("gap", h["id"], f"{h['label']}: " + " minus ".join(survey["gap_groups"]),
                    h["gap"])
    for g in report["goals"]:
        row("goal", g["id"], g["label"], g["latest"])
    concerns = report.get("concerns")
    if concerns:
        for key, fig in concerns["figures"].items():
            row("concerns", key, fig["label"], fig)
    for a in report["actions"]:
        writer.writerow(["action", a["id"], a["title"], "", a["taken_on"], "date", "", "", "",
                         a["description"]])
    return out.getvalue()
