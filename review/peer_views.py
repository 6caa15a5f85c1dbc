"""The reviewers' comparison with peers, `/review/peers` (issue 22): read-only."""

from __future__ import annotations

from flask import render_template

from review import peers
from review.results import FAVOURABLE_DEFINITION
from review.views import REVIEW_ROLES, bp
from speakup.web import db, role_required


@bp.route("/peers")
@role_required(*REVIEW_ROLES)
def peers_page() -> str:
    return render_template("review/peers.html", view=peers.comparison(db()),
                           favourable_definition=FAVOURABLE_DEFINITION)
