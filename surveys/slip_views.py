"""Printed slips over HTTP: the admin's print and poster pages, and the public /code page.

The admin pages hang on the surveys admin blueprint; /code is its own small public
blueprint (no prefix). The answering page itself (/s/<code>) is answer_views'.
"""

from __future__ import annotations

from typing import Any

import segno
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2 import Environment
from markupsafe import Markup
from werkzeug.wrappers import Response
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import Length

from speakup import i18n
from speakup.headers import attachment_disposition
from speakup.settings import Settings
from speakup.site_settings import results_page_enabled
from speakup.web import clock, db, public, role_required, settings
from surveys import slips
from surveys.answer_views import slips_limited
from surveys.invitations import local_words, results_url, token_key
from surveys.models import Round, RoundStatus, Survey
from surveys.naming import round_label
from surveys.responses import LinkState
from surveys.slip_codes import normalise_code
from surveys.slip_pdf import SlipText, bilingual, page_count, slips_pdf, slips_per_page
from surveys.texts import survey_text
from surveys.views import bp as admin_bp

code_bp = Blueprint("survey_code", __name__)

CODE_STATUS = {LinkState.USED: 409, LinkState.CLOSED: 410}
# The slip language choice meaning "every sentence in each offered language".
BOTH = "both"


class SlipsForm(FlaskForm):
    piles = TextAreaField(
        _l("How many slips, for which team or site"),
        description=_l("One line per team or site, as “name: number” (for example “Ward 5: "
                       "12”), or just one number. Names only head each pile's pages; they "
                       "are not saved and not printed on the slips."),
        validators=[Length(max=20_000)],
    )
    # Left out of a request, the organisation's first language (see offer).
    language = RadioField(_l("Language of the slips"))
    confirmed = HiddenField()

    def offer(self, languages: tuple[str, ...]) -> None:
        """Offer each of the organisation's languages, and both on one slip."""
        self.language.choices = [(code, language_name(code)) for code in languages]
        if len(languages) > 1:
            self.language.choices.append((BOTH, _l(
                "Bilingual: every sentence in Welsh and in English (6 slips a page)")))
        if not self.language.data:
            self.language.data = languages[0]


def language_name(code: str) -> str:
    """A language's name as the admin reads it, e.g. "Welsh (Cymraeg)"."""
    names = {"en": _l("English"), "cy": _l("Welsh (Cymraeg)")}
    return str(names.get(code, code))


def slip_languages(choice: str, languages: tuple[str, ...]) -> tuple[str, ...]:
    """The languages on each slip: one, or every offered one with Welsh first.

    The Welsh Language Standards ask that Welsh is not treated less favourably than
    English: on a bilingual slip each Welsh sentence comes first.
    """
    if choice != BOTH:
        return (choice,)
    return tuple(sorted(languages, key=lambda code: code != "cy"))


class CodeForm(FlaskForm):
    code = StringField(_l("Code from your slip"), validators=[Length(max=100)],
                       description=_l("16 letters and numbers, for example 7KQ2-M9XD-4TRB-WZ8E. "
                                      "Small letters, spaces and dashes are fine."))


def _open_round(round_id: int) -> tuple[Round, Survey]:
    round_ = db().get(Round, round_id) or abort(404)
    survey = db().get(Survey, round_.survey_id) or abort(404)
    return round_, survey


@admin_bp.route("/rounds/<int:round_id>/slips", methods=["GET", "POST"])
@role_required("admin")
def print_slips(round_id: int) -> str | Response | tuple[str, int]:
    """Type the numbers, confirm, download the PDF: made once, never stored."""
    round_, survey = _open_round(round_id)
    form = SlipsForm()
    form.offer(settings().languages)
    piles: list[slips.PileRequest] = []
    status = 200
    if form.validate_on_submit():
        try:
            piles = slips.parse_piles(form.piles.data or "")
            if form.confirmed.data == "yes":
                return _download(round_, survey, piles, form.language.data)
        except slips.SlipError as exc:
            db().rollback()
            form.piles.errors = [gettext(text, **values) for text, values in exc.messages]
            piles, status = [], 400
    elif request.method == "POST":
        status = 400
    return render_template("surveys/slips.html", form=form, round=round_, survey=survey,
                           label=round_label(db(), round_, survey.timezone), piles=piles,
                           total=sum(p.count for p in piles),
                           pages=page_count((p.count for p in piles), form.language.data == BOTH),
                           per_page=slips_per_page(form.language.data == BOTH),
                           language=dict(form.language.choices).get(form.language.data, ""),
                           is_open=_is_open(round_),
                           closes=local_words(round_.closed_at or round_.closes_at,
                                              survey.timezone, i18n.current())), status


def _is_open(round_: Round) -> bool:
    return round_.status == RoundStatus.OPEN


def _download(round_: Round, survey: Survey, piles: list[slips.PileRequest],
              choice: str) -> Response:
    slips.check_printable(round_)
    codes = slip_languages(choice, settings().languages)
    results_on = results_page_enabled(db())
    texts = {code: slip_text(current_app.jinja_env, settings(), round_, survey,
                             results_on=results_on, language=code) for code in codes}
    text = texts[codes[0]]
    # The pile headings are for whoever hands the slips out: in this page's language.
    heading = texts.get(i18n.current(), text).pile_heading
    for code in codes[1:]:
        text = bilingual(text, texts[code], heading)
    db().commit()  # ends the reading transaction: no lock is held while the PDF is made
    made = slips.new_piles(piles)
    body = slips_pdf(text, made, settings().base_url)
    # Only once the PDF exists are the codes' hashes stored and counted (the round must
    # still be open); a failure before this stores nothing.
    slips.record_slips(db(), clock(), round_, made, token_key(settings()),
                       actor=current_user.email)
    db().commit()
    return Response(body, mimetype="application/pdf", headers={
        "Content-Disposition": attachment_disposition(f"slips-round-{round_.id}.pdf"),
        "Cache-Control": "no-store",
    })


def slip_text(env: Environment, settings_: Settings, round_: Round, survey: Survey, *,
              results_on: bool, language: str = "en") -> SlipText:
    """The slip's words in `language`, from templates/surveys/slip_words.txt."""
    with force_locale(language):
        words: Any = env.get_template("surveys/slip_words.txt").make_module({
            "survey": survey,
            "survey_title": survey_text(survey, "title", language),
            "closes": local_words(round_.closes_at, survey.timezone, language),
            "k": round_.min_group_size or survey.min_group_size,
            # The address as people type it: without "https://".
            "site": settings_.base_url.split("://", 1)[-1],
            "results_url": results_url(settings_, results_on),
        })

    def pile_heading(*args: Any) -> str:
        # The macro translates when it is called (while the PDF is made), not now.
        with force_locale(language):
            return str(words.pile_heading(*args)).strip()

    return SlipText(title=words.title, closes=words.closes, scan=words.scan,
                    code_page=words.code_page, type_code=words.type_code,
                    anonymity=words.anonymity, results=words.results,
                    pile_heading=pile_heading,
                    link_query="" if language == settings_.languages[0] else f"?lang={language}")


@admin_bp.route("/rounds/<int:round_id>/poster")
@role_required("admin")
def poster(round_id: int) -> str:
    """The reminder for slip holders, to print and put up (nobody knows who holds a slip)."""
    round_, survey = _open_round(round_id)
    # A Welsh poster's square opens the Welsh code page.
    here = i18n.current()
    code_link = f"{settings().base_url}/code" + (
        "" if here == settings().languages[0] else f"?lang={here}")
    svg = segno.make(code_link, error="m").svg_inline(
        scale=6, title=gettext("QR code of the address to type a slip's code"))
    return render_template(
        "surveys/slip_poster.html", round=round_, survey=survey,
        closes=local_words(round_.closes_at, survey.timezone, i18n.current()),
        code_url=f"{settings().base_url}/code",
        # Safe: segno's own SVG of our own address, nothing typed by anyone.
        qr_svg=Markup(svg),  # noqa: S704
        k=round_.min_group_size or survey.min_group_size,
        results_url=results_url(settings(), results_page_enabled(db())))


@code_bp.route("/code", methods=["GET", "POST"])
@public
def code() -> str | Response | tuple[str, int]:
    """Type a slip's code; a right one leads to its survey (the same page as the QR code)."""
    form = CodeForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("surveys/code.html", form=form), status
    canonical = normalise_code(form.code.data or "")
    if canonical is None:
        form.code.errors = [gettext(
            "This is not a slip code: it has 16 letters and numbers, in four groups of four. "
            "Check it and type it again.")]
        return render_template("surveys/code.html", form=form), 400
    try:
        invitation = slips.look_up_code(db(), token_key(settings()),
                                        slips.code_limit_key(settings()), canonical, clock())
    except slips.TooManyWrongCodes as exc:
        return slips_limited(exc)
    if invitation.state is LinkState.UNKNOWN:
        db().commit()  # the wrong code is counted
        form.code.errors = [gettext(
            "We do not recognise this code. Check it and type it again: codes stop working "
            "once their survey's results are published.")]
        return render_template("surveys/code.html", form=form), 404
    if invitation.state is not LinkState.OPEN:
        return render_template("surveys/link_state.html",
                               state=invitation.state.value), CODE_STATUS[invitation.state]
    return redirect(url_for("survey_answer.answer", token=canonical), code=303)
