"""The public answering page, `/s/<token>`: one personal link, one anonymous response.

Nothing about the person is read or kept: no address, no device, no time. The
link's token is looked up by its keyed hash and never logged by this code.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from speakup.web import db, public, settings
from surveys.invitations import token_key
from surveys.itembank import load_item_bank
from surveys.responses import (
    COMMENT_MAX,
    AnswerError,
    Invitation,
    LinkNotUsable,
    LinkState,
    Problem,
    Submission,
    look_up,
    read_form,
    submit_response,
)

bp = Blueprint("survey_answer", __name__, url_prefix="/s")

STATE_STATUS = {LinkState.USED: 409, LinkState.CLOSED: 410, LinkState.UNKNOWN: 404}


@bp.route("/thanks")
@public
def thanks() -> str:
    return render_template("surveys/thanks.html")


@bp.route("/<token>", methods=["GET", "POST"])
@public
def answer(token: str) -> str | Response | tuple[str, int]:
    key = token_key(settings())
    invitation = look_up(db(), key, token)
    if invitation.state is not LinkState.OPEN:
        return _state_page(invitation.state)
    if request.method == "GET":
        return _form_page(invitation, Submission(), [])
    assert invitation.survey is not None
    submission, problems = read_form(invitation.survey, request.form)
    if not problems:
        try:
            submit_response(db(), key, token, submission)
        except LinkNotUsable as exc:
            db().rollback()
            return _state_page(exc.state)
        except AnswerError as exc:
            db().rollback()
            problems = exc.problems
        else:
            db().commit()
            return redirect(url_for(".thanks"))
    return _form_page(invitation, submission, problems, status=400)


def _state_page(state: LinkState) -> tuple[str, int]:
    return render_template("surveys/link_state.html", state=state.value), STATE_STATUS[state]


def _form_page(invitation: Invitation, submission: Submission, problems: list[Problem],
               status: int = 200) -> tuple[str, int]:
    survey, round_ = invitation.survey, invitation.round
    assert survey is not None and round_ is not None
    bank = load_item_bank()
    items = [bank.item(i) for i in survey.item_ids]
    sections: list[tuple[str, list]] = []
    for item in items:
        title = bank.instrument(item.instrument_id).title
        if not sections or sections[-1][0] != title:
            sections.append((title, []))
        sections[-1][1].append(item)
    return render_template(
        "surveys/answer.html",
        survey=survey,
        k=round_.min_group_size or survey.min_group_size,
        comments_need=max(round_.min_group_size or survey.min_group_size, 10),
        sections=sections,
        submission=submission,
        problems=problems,
        problem_fields={p.field for p in problems},
        comment_max=COMMENT_MAX,
    ), status
