"""Admins' survey pages: define surveys, upload the audience, keep the team list, run rounds."""

from __future__ import annotations

import re
from typing import Any

import yaml
from babel import Locale
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from speakup import i18n
from speakup.headers import attachment_disposition
from speakup.i18n import said
from speakup.mail import MailError, mailer_for
from speakup.web import clock, db, role_required, services, settings
from surveys import admin_services, audience, confirm, publication_jobs, rounds, tryout
from surveys.answer_views import try_survey
from surveys.forms import (
    ActionForm,
    AudienceForm,
    ConfirmRoundForm,
    SurveyForm,
    TeamsForm,
    TestInvitationForm,
    form_field,
    survey_form,
)
from surveys.itembank import load_item_bank
from surveys.models import Round, Survey
from surveys.protection import PROTECTIONS, SHORT_NAMES
from surveys.publish import PublicationError
from surveys.published import published_round
from surveys.round_keys import RoundKeyFolder
from surveys.texts import languages_with_texts

bp = Blueprint("surveys_admin", __name__, url_prefix="/admin/surveys")

ROUND_ACTIONS = ("open", "close", "publish")
# How often the publication status page reloads itself while the job runs.
PUBLICATION_REFRESH_SECONDS = 5
_DOI = re.compile(r"https?://(?:dx\.)?doi\.org/(\S+)")
_URL = re.compile(r"https?://(\S+?)/?(?=\s|$)")


def plain_citation(text: str) -> str:
    """Show a citation's web addresses as text (pages never point to other origins)."""
    return _URL.sub(r"\1", _DOI.sub(r"doi:\1", text))


def _survey(survey_id: int) -> Survey:
    return db().get(Survey, survey_id) or abort(404)


@bp.route("/")
@role_required("admin")
def index() -> str:
    surveys = admin_services.list_surveys(db())
    sizes = {s.id: audience.audience_size(db(), s.id) for s in surveys}
    return render_template("surveys/index.html", surveys=surveys, sizes=sizes)


@bp.route("/new", methods=["GET", "POST"])
@role_required("admin")
def new() -> str | Response | tuple[str, int]:
    form = survey_form(settings().languages)()
    if request.method == "GET":
        form.load(admin_services.default_spec(db(), settings()))
    return _edit_page(form, None)


@bp.route("/<int:survey_id>/edit", methods=["GET", "POST"])
@role_required("admin")
def edit(survey_id: int) -> str | Response | tuple[str, int]:
    survey = _survey(survey_id)
    form = survey_form(settings().languages)()
    if request.method == "GET":
        form.load(admin_services.export_spec(survey))
    return _edit_page(form, survey)


def _edit_page(form: SurveyForm, survey: Survey | None) -> str | Response | tuple[str, int]:
    """Shared by new and edit: check, preview the schedule, or save."""
    bank = load_item_bank()
    form.set_item_choices(bank)
    preview = None
    if form.validate_on_submit():
        existing = list(survey.demographics) if survey else []
        try:
            spec = admin_services.check_spec(
                form.to_spec(existing, survey.texts_by_language if survey else None),
                settings(), bank=bank, now=clock().now())
        except admin_services.SurveySpecError as exc:
            for name, message in exc.problems:
                form[form_field(form, name)].errors.append(said(message))
        else:
            preview = rounds.preview_schedule(spec, clock())
            if "preview" not in request.form:
                return _save(form, survey, spec)
    status = 400 if form.errors else 200
    return render_template("surveys/edit.html", form=form, survey=survey, bank=bank,
                           preview=preview, plain_citation=plain_citation), status


def _save(form: SurveyForm, survey: Survey | None, spec: admin_services.SurveySpec
          ) -> str | Response | tuple[str, int]:
    actor = current_user.email
    if survey is None:
        survey = admin_services.create_survey(db(), clock(), spec, actor=actor)
    else:
        try:
            admin_services.update_survey(db(), clock(), survey, spec, actor=actor)
        except admin_services.SurveyLockedError as exc:
            db().rollback()
            form.items.errors.append(said(exc))
            return render_template("surveys/edit.html", form=form, survey=survey,
                                   bank=load_item_bank(), preview=None,
                                   plain_citation=plain_citation), 400
    rounds.plan_survey_rounds(db(), survey, clock())
    db().commit()
    flash(_("Saved “%(title)s”.", title=survey.title), "info")
    return redirect(url_for(".detail", survey_id=survey.id))


@bp.route("/<int:survey_id>")
@role_required("admin")
def detail(survey_id: int) -> str:
    survey = _survey(survey_id)
    bank = load_item_bank()
    return render_template(
        "surveys/detail.html",
        survey=survey,
        items=[bank.item(i) for i in survey.item_ids],
        schedule=rounds.describe_schedule(survey),
        audience_size=audience.audience_size(db(), survey.id),
        overviews=rounds.round_overviews(db(), survey),
        publishing=publication_jobs.publishing_round_ids(db(), survey.id),
        action_form=ActionForm(),
        test_form=_test_form(),
        protections=PROTECTIONS,
        protection_names=SHORT_NAMES,
        languages=_text_languages(survey),
    )


def _test_form() -> TestInvitationForm:
    """The test invitation's form: each offered language by its own name, the first chosen."""
    form = TestInvitationForm()
    form.language.choices = [(code, i18n.own_name(code)) for code in settings().languages]
    if form.language.data is None:
        form.language.data = settings().languages[0]
    return form


def _text_languages(survey: Survey) -> dict[str, Any] | None:
    """Which other languages have the survey's own title and texts (None: one language)."""
    first, *others = settings().languages
    if not others:
        return None
    typed = languages_with_texts(survey)

    def name(code: str) -> str:
        return Locale.parse(code).get_display_name(i18n.current()) or code

    return {"first": name(first), "typed": [name(c) for c in others if c in typed],
            "untyped": [name(c) for c in others if c not in typed]}


@bp.route("/<int:survey_id>/preview", methods=["GET", "POST"])
@role_required("admin")
def preview(survey_id: int) -> str | tuple[str, int]:
    """The survey exactly as respondents see it; nothing chosen here is stored."""
    return try_survey(_survey(survey_id), mode="preview")


@bp.route("/<int:survey_id>/send-test", methods=["POST"])
@role_required("admin")
def send_test(survey_id: int) -> Response:
    survey = _survey(survey_id)
    form = _test_form()
    if not form.validate_on_submit():
        abort(400)
    try:
        tryout.send_test_invitation(db(), clock(), settings(), mailer_for(services()), survey,
                                    to=current_user.email, actor=current_user.email,
                                    language=form.language.data)
    except MailError as exc:
        db().rollback()
        flash(_("The test invitation could not be sent: %(problem)s", problem=exc), "error")
    else:
        db().commit()
        flash(_("A test invitation is on its way to %(email)s. Answers sent through its link "
                "are thrown away and never counted.", email=current_user.email), "info")
    return redirect(url_for(".detail", survey_id=survey.id))


@bp.route("/<int:survey_id>/audience", methods=["GET", "POST"])
@role_required("admin")
def audience_upload(survey_id: int) -> str | Response | tuple[str, int]:
    survey = _survey(survey_id)
    form = AudienceForm()
    parsed = None
    if form.validate_on_submit():
        parsed = audience.parse_audience_file(form.file.data.read(), form.file.data.filename or "",
                                              settings().languages)
        if parsed.ok:
            count = audience.replace_audience(db(), clock(), survey, parsed.addresses,
                                              actor=current_user.email, languages=parsed.languages)
            db().commit()
            flash(_audience_summary(count, parsed), "info")
            return redirect(url_for(".detail", survey_id=survey.id))
    status = 400 if request.method == "POST" else 200
    return render_template("surveys/audience.html", form=form, survey=survey, parsed=parsed,
                           problems_sentence=audience.problems_sentence(parsed) if parsed else "",
                           current=audience.audience_size(db(), survey.id)), status


def _audience_summary(count: int, parsed: audience.AudienceFile) -> str:
    text = ngettext("Saved %(num)d e-mail address.", "Saved %(num)d e-mail addresses.", count)
    if parsed.duplicates:
        lines = ", ".join(str(d.line) for d in parsed.duplicates[:20])
        more = "…" if len(parsed.duplicates) > 20 else ""
        text += " " + ngettext(
            "%(num)d repeated row was merged with an earlier row (line %(lines)s).",
            "%(num)d repeated rows were merged with an earlier row (lines %(lines)s).",
            len(parsed.duplicates), lines=lines + more)
    if parsed.blank_lines:
        text += " " + ngettext("%(num)d empty line held no address.",
                               "%(num)d empty lines held no address.", len(parsed.blank_lines))
    return text


@bp.route("/rounds/<int:round_id>/<action>", methods=["GET", "POST"])
@role_required("admin")
def round_action(round_id: int, action: str) -> str | Response | tuple[str, int]:
    """Show what the action will do; act only when that page's form is sent back."""
    if action not in ROUND_ACTIONS:
        abort(404)
    round_ = db().get(Round, round_id) or abort(404)
    if action == "publish" and publication_jobs.active_job(db(), round_id) is not None:
        # Already under way: show its progress rather than start a second one.
        if request.method == "POST":
            flash(_(publication_jobs.BUSY_MESSAGE), "error")
        return redirect(url_for(".publication", round_id=round_id))
    form = ConfirmRoundForm()
    # Neither closing nor publishing decides here: the decision is the slow part (minutes
    # for a large round, past gunicorn's timeout), and the background job makes it (after a
    # close, the scheduler publishes the round within a minute).
    decide = action not in ("publish", "close")
    preview = confirm.preview_round_action(db(), round_, action, settings(), clock(),
                                           decide=decide)
    if request.method == "GET" or preview.blocked:
        form.confirmed.data = "yes"
        return render_template("surveys/confirm.html", preview=preview, form=form)
    if not form.validate_on_submit():
        abort(400)
    if preview.deletes_raw and not form.understood.data:
        form.understood.errors = [_("Tick the box to confirm that you understand the raw "
                                    "answers will be deleted for good.")]
        return render_template("surveys/confirm.html", preview=preview, form=form), 400
    return _act(round_, action)


def _act(round_: Round, action: str) -> Response:
    actor = current_user.email
    if action == "publish":
        return _queue_publication(round_, actor)
    try:
        if action == "open":
            rounds.open_round(db(), round_, clock(), keys=RoundKeyFolder.of(settings()),
                              actor=actor)
            message = ngettext("Round opened: %(num)d invitation queued; the scheduler sends "
                               "it within a minute.",
                               "Round opened: %(num)d invitations queued; the scheduler sends "
                               "them within a minute.", round_.invited_count or 0)
        else:
            rounds.close_round(db(), round_, clock(), actor=actor)
            message = _("Round closed. Its results are published at the scheduler's next run.")
    except (rounds.RoundError, PublicationError) as exc:
        db().rollback()
        flash(said(exc), "error")
    else:
        db().commit()
        flash(message, "info")
    return redirect(url_for(".detail", survey_id=round_.survey_id))


def _queue_publication(round_: Round, actor: str) -> Response:
    """Publishing can take minutes: queue it for the scheduler and show its progress."""
    try:
        publication_jobs.request_publication(db(), round_, clock(), actor=actor)
    except rounds.RoundError as exc:
        db().rollback()
        flash(said(exc), "error")
        return redirect(url_for(".detail", survey_id=round_.survey_id))
    except publication_jobs.PublicationBusy as exc:
        db().rollback()
        flash(said(exc), "error")
    else:
        db().commit()
    return redirect(url_for(".publication", round_id=round_.id))


@bp.route("/rounds/<int:round_id>/publication")
@role_required("admin")
def publication(round_id: int) -> str:
    """A publication's progress; refreshes itself (no JavaScript) until it has ended."""
    round_ = db().get(Round, round_id) or abort(404)
    state = publication_jobs.publication_state(db(), round_, clock())
    # A page that reloads by itself must let people stop it (WCAG 2.2.1, 2.2.2).
    reloading = request.args.get("reload") != "off"
    published = published_round(db(), round_id) if state.status == "published" else None
    blank = confirm.blank_measures(published) if published else []
    return render_template("surveys/publication.html", state=state, reloading=reloading,
                           refresh_seconds=PUBLICATION_REFRESH_SECONDS, blank=blank)


@bp.route("/teams", methods=["GET", "POST"])
@role_required("admin")
def teams() -> str | Response | tuple[str, int]:
    form = TeamsForm()
    if request.method == "GET":
        form.teams.data = "\n".join(admin_services.list_teams(db()))
    elif form.validate_on_submit():
        try:
            saved = admin_services.set_teams(db(), clock(), (form.teams.data or "").splitlines(),
                                             actor=current_user.email)
        except admin_services.SurveySpecError as exc:
            db().rollback()
            form.teams.errors = [said(message) for _where, message in exc.problems]
        else:
            db().commit()
            flash(_("Saved %(count)s team(s) and directorate(s).", count=len(saved)), "info")
            return redirect(url_for(".teams"))
    status = 400 if form.errors else 200
    return render_template("surveys/teams.html", form=form), status


@bp.route("/<int:survey_id>/export.yaml")
@role_required("admin")
def export(survey_id: int) -> Response:
    spec: dict[str, Any] = admin_services.export_spec(_survey(survey_id))
    body = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    return Response(body, mimetype="application/yaml", headers={
        "Content-Disposition": attachment_disposition(f"survey-{survey_id}.yaml")
    })
