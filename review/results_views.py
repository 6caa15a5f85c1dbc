"""The staff results page, `/results/`: public, read-only, no sign-in, no cookies.

An admin can switch it off (`speakup.site_settings`); then it is not found and no
page links to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template, url_for
from flask_babel import gettext as _

from review import progress_report
from review import results_words as words
from review.results import FAVOURABLE_DEFINITION, results_page
from speakup import publication_log, signing, verify_report
from speakup.db import DATABASE_FAULTS
from speakup.models import PublicationLogEntry
from speakup.promises import DIFFERENCING_LIMIT
from speakup.site_settings import results_page_enabled
from speakup.web import clock, db, public, settings

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
    return render_template("results/page.html", data=words.in_language(data), view=data.view,
                           favourable_definition=_(FAVOURABLE_DEFINITION),
                           differencing_limit=_(DIFFERENCING_LIMIT), signed=_signed_block(),
                           row_label=words.row_label, figure=words.figure,
                           change=words.change, long_date=words.long_date,
                           goal_definitions=words.goal_definitions(), group=_,
                           goal_status=words.goal_status, round_name=words.round_name,
                           verify_command=VERIFY_COMMAND)


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
