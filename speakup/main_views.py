"""Public home page, the staff landing page and the health check."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, render_template

from speakup import readiness
from speakup.web import ANY_STAFF, db, public, role_required, services, settings, writes

bp = Blueprint("main", __name__)


@bp.route("/")
@public
def index() -> str:
    return render_template("main/index.html", k=settings().min_group_size)


@bp.route("/privacy")
@public
def privacy() -> str:
    return render_template("main/privacy.html", k=settings().min_group_size)


@bp.route("/favicon.ico")
@public
def favicon() -> Response:
    """The small icon every browser asks for on every page (it was a 404 each time)."""
    # Read whole (815 bytes): a streamed file would stay open until the response is closed.
    icon = Path(current_app.static_folder or "", "favicon.ico").read_bytes()
    response = Response(icon, mimetype="image/vnd.microsoft.icon")
    response.cache_control.max_age = 86400
    return response


@bp.route("/staff")
@role_required(*ANY_STAFF)
def staff() -> str:
    return render_template("main/staff.html", links=services().extras.get("staff_links", []))


@bp.route("/healthz")
@writes  # its probe writes (and rolls back) to prove the database takes writes
@public
def healthz() -> tuple[dict[str, object], int]:
    # Red on every database fault that would lose a report: missing file, read-only,
    # unreachable, schema not at head (issue 13, finding 4).
    problems = readiness.database_problems(db(), settings().database_url)
    if problems:
        return {"status": "unavailable", "database": "not ready", "problems": problems}, 503
    body: dict[str, object] = {"status": "ok", "database": "writable, schema at head"}
    # Packages add flags and counts an operator must see (never content); a warning
    # there keeps the status ok: the service still works, and a balancer must not drop it.
    for detail in services().extras.get("health_details", []):
        body.update(detail(db()))
    db().rollback()
    return body, 200
