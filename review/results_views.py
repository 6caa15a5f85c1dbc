"""The staff results page, `/results/`: public, read-only, no sign-in, no cookies.

An admin can switch it off (`speakup.site_settings`); then it is not found and no
page links to it.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, url_for

from review.results import FAVOURABLE_DEFINITION, results_page
from speakup.db import DATABASE_FAULTS
from speakup.promises import DIFFERENCING_LIMIT
from speakup.site_settings import results_page_enabled
from speakup.web import clock, db, public, settings

bp = Blueprint("results", __name__, url_prefix="/results")


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
    return render_template("results/page.html", data=data, view=data.view,
                           favourable_definition=FAVOURABLE_DEFINITION,
                           differencing_limit=DIFFERENCING_LIMIT)
