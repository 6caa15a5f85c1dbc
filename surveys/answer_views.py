"""The public answering page, `/s/<token>`: one personal link, one anonymous response.

Nothing about the person is read or kept: no address, no device, no time. The
link's token is looked up by its keyed hash and never logged by this code.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from werkzeug.wrappers import Response

from speakup import i18n
from speakup.promises import ProtectionStatement, protection_statement
from speakup.ratelimit import try_again_in
from speakup.site_settings import RESULTS_PATH, results_page_enabled
from speakup.web import clock, db, public, services, settings
from surveys import slips, tryout
from surveys.invitations import token_key
from surveys.itembank import Item, load_item_bank
from surveys.models import Survey
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
from surveys.sealed_answers import SEALERS
from surveys.slip_codes import normalise_code
from surveys.texts import group_questions, survey_texts

bp = Blueprint("survey_answer", __name__, url_prefix="/s")

# The buttons of the "you answered 2 of 11 questions" step.
SEND_ANYWAY = "send_anyway"
GO_BACK = "go_back"
STATE_STATUS = {LinkState.USED: 409, LinkState.CLOSED: 410, LinkState.UNKNOWN: 404}
# Rendered question blocks kept per app (app.extensions), by survey content and k.
QUESTIONS_CACHE = "surveys.answer_questions"
QUESTIONS_CACHE_SIZE = 32
# Whole answering pages with nothing chosen, kept per app with the link and the CSRF token
# cut out: the rest is the same for every respondent of a survey in one language. Marks
# hold NUL, which no rendered page contains.
PAGE_CACHE = "surveys.answer_pages"
PAGE_CACHE_SIZE = 64
LINK_MARK = "\x00link\x00"
CSRF_MARK = "\x00csrf\x00"


# The thanks page's `via`: the answer came with a printed slip's code, whose holders get
# no reminder e-mail. Only the redirect carries it; nothing stores it (rule 4).
VIA_ARG = "via"
VIA_SLIP = "slip"


@bp.route("/thanks")
@public
def thanks() -> str:
    # A plain path: surveys does not import review, which owns the page.
    results_url = request.script_root + RESULTS_PATH if results_page_enabled(db()) else None
    return render_template("surveys/thanks.html", results_url=results_url,
                           by_slip=request.args.get(VIA_ARG) == VIA_SLIP)


@bp.route("/<token>", methods=["GET", "POST"])
@public
def answer(token: str) -> str | Response | tuple[str, int, dict[str, str]] | tuple[str, int]:
    key = token_key(settings())
    posted = request.method == "POST"
    # A printed slip's code, however typed ("abcd efgh…"), is looked up in its canonical
    # form, and wrong codes count towards the shared limit (surveys/slips.py).
    code = normalise_code(token)
    if code is not None:
        token = code
        try:
            invitation = slips.look_up_code(db(), key, slips.code_limit_key(settings()), code,
                                            clock(), lock=posted)
        except slips.TooManyWrongCodes as exc:
            return slips_limited(exc)
        if invitation.state is LinkState.UNKNOWN:
            db().commit()  # the wrong code is counted
    else:
        # One look-up per request; a POST holds the round FOR SHARE until it commits.
        invitation = look_up(db(), key, token, lock=posted)
    if invitation.state is not LinkState.OPEN:
        return _state_page(invitation.state)
    if not posted:
        if code is None:  # a slip's code may be typed in many forms: rendered each time
            return _fresh_form_page(invitation, token)
        return _form_page(invitation, Submission(), [])
    assert invitation.survey is not None
    submission, problems = read_form(invitation.survey, request.form)
    if not problems and GO_BACK in request.form:
        return _form_page(invitation, submission, [])
    asked = len(invitation.survey.item_ids)
    if not problems and len(submission.answers) < asked and SEND_ANYWAY not in request.form:
        # One step before a partial answer is final: the link works only once.
        return render_template("surveys/partial.html", survey=invitation.survey,
                               texts=survey_texts(invitation.survey, i18n.current()),
                               submission=submission, answered=len(submission.answers),
                               asked=asked)
    if not problems:
        try:
            submit_response(db(), key, token, submission, invitation=invitation,
                            sealers=services().extras[SEALERS])
        except LinkNotUsable as exc:
            db().rollback()
            return _state_page(exc.state)
        except AnswerError as exc:
            db().rollback()
            problems = exc.problems
        else:
            db().commit()
            # The language named in the link goes on (a browser may refuse the cookie);
            # the kind of invitation only for this redirect, to say the right thing about
            # reminders.
            return redirect(url_for(".thanks", lang=request.args.get(i18n.LANG_ARG),
                                    via=VIA_SLIP if code is not None else None))
    return _form_page(invitation, submission, problems, status=400)


@bp.route("/test/<signed>", methods=["GET", "POST"])
@public
def trial(signed: str) -> str | tuple[str, int]:
    """A test invitation's link: the real form, whose answers are checked and thrown away."""
    try:
        survey = tryout.survey_for_trial_link(db(), settings(), signed)
    except tryout.TrialLinkError:
        return _state_page(LinkState.UNKNOWN)
    return try_survey(survey, mode="test")


def try_survey(survey: Survey, *, mode: str) -> str | tuple[str, int]:
    """Answer a survey as staff would, storing nothing (admin preview and test links).

    The same checks and the same partial-answer step run; the final send shows a
    page saying the answers were thrown away.
    """
    k = survey.min_group_size
    if request.method == "GET":
        return render_form(survey, k, Submission(), [], mode=mode)
    submission, problems = read_form(survey, request.form)
    if problems or GO_BACK in request.form:
        return render_form(survey, k, submission, problems, mode=mode,
                           status=400 if problems else 200)
    asked = len(survey.item_ids)
    if len(submission.answers) < asked and SEND_ANYWAY not in request.form:
        return render_template("surveys/partial.html", survey=survey, submission=submission,
                               texts=survey_texts(survey, i18n.current()),
                               answered=len(submission.answers), asked=asked, mode=mode)
    return render_template("surveys/tried.html", survey=survey, mode=mode,
                           answered=len(submission.answers), asked=asked)


def slips_limited(exc: slips.TooManyWrongCodes) -> tuple[str, int, dict[str, str]]:
    """The page for everyone while the minute's wrong slip codes are used up."""
    return (render_template("surveys/code_limited.html", wait=try_again_in(exc.wait),
                            wait_seconds=exc.wait), 429,
            {"Retry-After": str(exc.wait)})


def _state_page(state: LinkState) -> tuple[str, int]:
    return render_template("surveys/link_state.html", state=state.value), STATE_STATUS[state]


def _fresh_form_page(invitation: Invitation, token: str) -> str | tuple[str, int]:
    """The answering page with nothing chosen, for an e-mail link: built once per survey.

    Rendering it was about a quarter of the CPU an answer costs (issue 23). Only the link (in
    the language links) and the CSRF token differ between respondents; anything else
    that could (a signed-in member of staff's menu, a flashed message) skips the cache.
    """
    survey, round_ = invitation.survey, invitation.round
    assert survey is not None and round_ is not None
    k = round_.min_group_size or survey.min_group_size
    if (current_app.jinja_env.auto_reload or current_user.is_authenticated
            or "_flashes" in session):
        return _form_page(invitation, Submission(), [])
    cache: dict[tuple[Any, ...], str] = current_app.extensions.setdefault(PAGE_CACHE, {})
    cache_key = (survey.id, i18n.current(), k, survey.title, survey.intro,
                 survey.comment_question,
                 json.dumps(survey.texts_by_language or {}, sort_keys=True),
                 tuple(survey.item_ids),
                 json.dumps(survey.demographics or [], sort_keys=True),
                 request.script_root, request.query_string)
    page = cache.get(cache_key)
    if page is not None:
        return page.replace(LINK_MARK, token).replace(CSRF_MARK, generate_csrf())
    html, status = _form_page(invitation, Submission(), [])
    csrf = generate_csrf()
    if token in html and csrf in html:
        if len(cache) >= PAGE_CACHE_SIZE:
            cache.clear()
        # A token and a CSRF token are long and random ([A-Za-z0-9_.-], unchanged by
        # escaping or quoting): after this nothing of this respondent's is left.
        cache[cache_key] = html.replace(token, LINK_MARK).replace(csrf, CSRF_MARK)
    return html, status


def _form_page(invitation: Invitation, submission: Submission, problems: list[Problem],
               status: int = 200) -> tuple[str, int]:
    survey, round_ = invitation.survey, invitation.round
    assert survey is not None and round_ is not None
    k = round_.min_group_size or survey.min_group_size
    return render_form(survey, k, submission, problems, status=status)


def render_form(survey: Survey, k: int, submission: Submission, problems: list[Problem],
                status: int = 200, mode: str | None = None) -> tuple[str, int]:
    """The answering page; `mode` "preview" or "test" marks answers that are not kept."""
    context: dict[str, Any] = {
        "survey": survey, "k": k, "texts": survey_texts(survey, i18n.current()),
        "sections": _sections(tuple(survey.item_ids), i18n.current()),
        "group_questions": group_questions(survey, i18n.current(), gettext),
        "submission": submission, "problems": problems,
        "problem_fields": {p.field for p in problems},
    }
    pristine = not problems and not submission.answers and not submission.groups
    return render_template(
        "surveys/answer.html",
        **context,
        questions_html=_questions_html(survey, k, context) if pristine else None,
        comments_need=max(k, 10),
        protection=_protection(k, i18n.current()),
        comment_max=COMMENT_MAX,
        mode=mode,
    ), status


@functools.lru_cache(maxsize=64)
def _protection(k: int, language: str) -> ProtectionStatement:
    """The protection statement for `k` in the page's language (`language` keys the cache)."""
    return protection_statement(k, gettext)


@functools.lru_cache(maxsize=64)
def _sections(item_ids: tuple[str, ...],
              language: str) -> tuple[tuple[str, tuple[Item, ...]], ...]:
    """The survey's items grouped under their instrument's title, in survey order."""
    bank = load_item_bank()
    sections: list[tuple[str, list[Item]]] = []
    for item in (bank.item(i) for i in item_ids):
        title = bank.instrument(item.instrument_id).title_in(language)
        if not sections or sections[-1][0] != title:
            sections.append((title, []))
        sections[-1][1].append(item)
    return tuple((title, tuple(items)) for title, items in sections)


def _questions_html(survey: Survey, k: int, context: dict[str, Any]) -> Markup:
    """The questions with nothing chosen: the same for everyone, so rendered once per survey.

    Keyed by everything the block shows (items, group questions and their texts in the
    page's language, k), so an edited survey gets a fresh one. Not kept while templates
    auto-reload (debug).
    """
    cache: dict[tuple[Any, ...], Markup] = current_app.extensions.setdefault(QUESTIONS_CACHE, {})
    cache_key = (survey.id, i18n.current(), tuple(survey.item_ids),
                 json.dumps(survey.demographics or [], sort_keys=True),
                 tuple(context["group_questions"]), k)
    html = cache.get(cache_key)
    if html is None:
        # Safe: the output of an autoescaped template, which escaped every value it shows.
        html = Markup(render_template("surveys/_answer_questions.html", **context))  # noqa: S704
        if not current_app.jinja_env.auto_reload:
            if len(cache) >= QUESTIONS_CACHE_SIZE:
                cache.clear()
            cache[cache_key] = html
    return html
