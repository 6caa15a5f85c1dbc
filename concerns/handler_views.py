"""Case handlers' pages: inbox, a concern's conversation, replies, notes, status, sharing.

A handler's private key is read from their key session (see concerns/keys.py): the
row in `handler_key_sessions` plus the per-session key in their signed, HttpOnly
session cookie. If either is missing (expired, signed in on another device), the
concern page asks for their password once to unlock it again.
"""

from __future__ import annotations

import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from concerns import (
    attachments,
    digest,
    evidence,
    guardian_return,
    keys,
    readers,
    services,
    themes,
)
from concerns.forms import (
    DigestForm,
    ExcludeForm,
    HandlerMessageForm,
    InboxFilterForm,
    RecuseForm,
    ReopenForm,
    ShareForm,
    StatusForm,
    ThemesForm,
    UnlockForm,
)
from concerns.stats import last_quarters, quarter_label
from concerns.views import concern_config, download, said, too_large, uploads
from speakup import accounts, passkey_views
from speakup.auth_views import SESSION_KEY
from speakup.headers import attachment_disposition
from speakup.models import User
from speakup.translatable import N_
from speakup.web import clock, db, role_required, settings, writes

bp = Blueprint("handling", __name__, url_prefix="/handle")

# Flask session key holding "<key session id>.<per-session key>" (see concerns/keys.py).
KEY_SESSION = "concern_key"
CONCERN_ID = re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$")


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def private_key() -> X25519PrivateKey | None:
    return keys.load_key_session(db(), clock(), _user(), session.get(KEY_SESSION))


# Forms that carry typed text: if the handler was signed out (idle timeout) when
# sending one, the text is handed back in the page, never stored on the server.
DRAFT_ENDPOINTS = {"handling.reply": "reply", "handling.note": "note", "handling.draft": None}
ACTION_FORMS = {"handling.status": ("status_form", StatusForm, "status"),
                "handling.exclude": ("exclude_form", ExcludeForm, "exclude"),
                "handling.share": ("share_form", ShareForm, "share"),
                "handling.recuse": ("recuse_form", RecuseForm, "recuse"),
                "handling.reopen": ("reopen_form", ReopenForm, "reopen")}
DRAFT_BACK = N_("Your draft is back in its box below. It has not been sent yet.")
FORM_EXPIRED = N_("This form had expired or had already been sent, so nothing was done just "
                   "now. Anything you typed is still below: check the page and send it again.")


def _draft() -> tuple[str, str]:
    """The kind ("reply" or "note") and text of the draft this request carries."""
    kind = DRAFT_ENDPOINTS.get(request.endpoint or "") or request.form.get("kind", "")
    kind = "note" if kind == "note" else "reply"
    text = request.form.get(f"{kind}-text", request.form.get("text", ""))
    return kind, text[: services.MAX_MESSAGE * 2]


def _draft_kept_page(*, expired: bool = False) -> Any:
    kind, text = _draft()
    concern_id = (request.view_args or {}).get("concern_id", "")
    if not CONCERN_ID.match(concern_id):
        # Not a page anyone was on: answer as for any other signed-out request.
        return _expired_page() if expired else current_app.login_manager.unauthorized()
    return render_template("concerns/signed_out.html", kind=kind, text=text,
                           concern_id=concern_id, expired=expired), 400 if expired else 401


def _expired_page() -> tuple[str, int]:
    """The plain "form had expired" answer, for a form whose page cannot be shown again."""
    return render_template("errors/error.html", code=400, title=_("This form had expired"),
                           message=_(FORM_EXPIRED)), 400


# A handler who added a passkey proves it before reading concerns (speakup/passkey_views.py).
bp.before_request(passkey_views.require_step_up)


@bp.before_request
def signed_out_with_a_draft() -> tuple[str, int] | None:
    """Hand the typed text back when a reply or note arrives after the session ended."""
    if (request.method == "POST" and request.endpoint in DRAFT_ENDPOINTS
            and not current_user.is_authenticated):
        db().rollback()
        return _draft_kept_page()
    return None


bp.register_error_handler(413, too_large)


@bp.errorhandler(CSRFError)
def form_expired(_exc: CSRFError) -> Any:
    """Show the concern again with what was typed or chosen kept (token expired or reused)."""
    db().rollback()
    signed_in = current_user.is_authenticated and current_user.role == "handler"
    concern_id = (request.view_args or {}).get("concern_id", "")
    if request.endpoint in DRAFT_ENDPOINTS and not signed_in:
        return _draft_kept_page(expired=True)
    if not signed_in or not CONCERN_ID.match(concern_id):
        return _expired_page()
    try:
        if request.endpoint == "handling.draft":
            # Expected: signing in again (in another tab) renewed the token.
            return draft(concern_id)
        if request.endpoint in DRAFT_ENDPOINTS:
            kind, text = _draft()
            form = HandlerMessageForm(prefix=kind, formdata=None, data={"text": text})
            return _concern_page(concern_id, 400, _(FORM_EXPIRED), **{f"{kind}_form": form})
        if request.endpoint in ACTION_FORMS:
            name, form_class, prefix = ACTION_FORMS[request.endpoint]
            return _concern_page(concern_id, 400, _(FORM_EXPIRED),
                                 **{name: form_class(prefix=prefix)})
    except NotFound:
        db().rollback()
    return _expired_page()


@bp.route("/<concern_id>/draft", methods=["POST"])
@role_required("handler")
def draft(concern_id: str) -> tuple[str, int]:
    """Put a draft handed back by the signed-out page into the concern's form (not sent)."""
    kind, text = _draft()
    form = HandlerMessageForm(prefix=kind, formdata=None, data={"text": text})
    return _concern_page(concern_id, 200, _(DRAFT_BACK), **{f"{kind}_form": form})


@bp.route("/")
@role_required("handler")
def inbox() -> str:
    form = InboxFilterForm(request.args)
    form.status.choices = dict(services.INBOX_FILTERS)
    form.sort.choices = dict(services.INBOX_SORTS)
    status = form.status.data if form.status.data in services.INBOX_FILTERS else "open"
    sort = form.sort.data if form.sort.data in services.INBOX_SORTS else "deadline"
    form.status.data, form.sort.data = status, sort
    rows = services.inbox(db(), clock(), concern_config(), _user(), status=status, sort=sort,
                          descending=form.order.data == "desc")
    counts = digest.handler_counts(db(), concern_config().today(clock()), _user().id)
    waiting = readers.waiting_shown_to_handler(db(), concern_config(), _user().id)
    db().rollback()
    return render_template("concerns/inbox.html", rows=rows, form=form, counts=counts,
                           waiting_for_a_reader=waiting,
                           definitions=digest.DEFINITIONS, due_soon_days=digest.DUE_SOON_DAYS)


@bp.route("/settings", methods=["GET", "POST"])
@writes  # its GET makes the default profile row (and rolls it back)
@role_required("handler")
def preferences() -> str | Response:
    form = DigestForm()
    if form.validate_on_submit():
        digest.set_digest(db(), clock(), _user(), enabled=form.digest.data)
        db().commit()
        flash(_("Your e-mail preference is saved."), "info")
        return redirect(url_for(".preferences"))
    if request.method == "GET":
        form.digest.data = digest.profile(db(), _user().id).digest_enabled
        db().rollback()  # the default row is made again when it is first really needed
    return render_template("concerns/handler_settings.html", form=form,
                           digest_at=concern_config().digest_at)


@bp.route("/<concern_id>")
@writes  # every decryption is audited
@role_required("handler")
def concern(concern_id: str) -> tuple[str, int]:
    return _concern_page(concern_id, 200)


def _concern_page(concern_id: str, status: int, notice: str | None = None,
                  **forms: Any) -> tuple[str, int]:
    key = private_key()
    try:
        view = services.read_concern(db(), clock(), concern_config(), _user(), concern_id, key)
    except services.ConcernNotFoundError:
        db().rollback()
        abort(404)
    db().commit()  # keeps the audit entry of this decryption
    summary = view.conversation.concern
    forms.setdefault("reply_form", HandlerMessageForm(prefix="reply", formdata=None))
    forms.setdefault("note_form", HandlerMessageForm(prefix="note", formdata=None))
    forms.setdefault("status_form", StatusForm(prefix="status", formdata=None))
    forms.setdefault("exclude_form", ExcludeForm(prefix="exclude", formdata=None))
    forms.setdefault("share_form", ShareForm(prefix="share", formdata=None))
    forms.setdefault("recuse_form", RecuseForm(prefix="recuse", formdata=None))
    forms.setdefault("reopen_form", ReopenForm(prefix="reopen", formdata=None))
    forms["reopen_form"].expected_status.data = summary.status
    # Whatever was typed stays; the page's state is refreshed to what was just shown.
    for name, label in (("reply_form", _("Your reply")), ("note_form", _("Your note"))):
        forms[name].seen_seq.data = str(summary.last_seq)
        forms[name].text.label.text = label
    for name in ("status_form", "exclude_form", "reopen_form"):
        forms[name].expected_status.data = summary.status
    forms["status_form"].status.choices = dict(services.next_statuses(summary.status))
    forms["share_form"].handler.choices = {str(i): e for i, e in view.share_candidates}
    forms["themes_form"] = _themes_form(concern_id, forms.get("themes_form"))
    # Recusal with nobody to share with says the way out (issue 19, finding 6).
    sole = view.can_read and services.sole_reader(db(), summary.id, _user())
    return render_template(
        "concerns/concern.html", view=view, concern=summary, notice=notice,
        sole_reader=sole,
        recovery_contacts=services.recovery_contacts(db()) if sole else [],
        needs_unlock=view.can_read and key is None, unlock_form=UnlockForm(formdata=None),
        reopen_days=concern_config().reopen_days,
        **forms,
    ), status


def _themes_form(concern_id: str, form: ThemesForm | None) -> ThemesForm:
    """Offered themes, plus any retired one the concern still carries."""
    tagged = themes.concern_theme_ids(db(), concern_id)
    if form is None:
        form = ThemesForm(prefix="themes", formdata=None, themes=[str(t) for t in tagged])
    form.themes.choices = {str(t.id): t.label for t in themes.list_themes(db(), active_only=False)
                           if t.active or t.id in tagged}
    return form


@bp.route("/<concern_id>/themes", methods=["POST"])
@role_required("handler")
def tag_themes(concern_id: str) -> tuple[str, int] | Response:
    form = ThemesForm(prefix="themes")
    try:
        view = services.read_concern(db(), clock(), concern_config(), _user(), concern_id, None)
        if not view.can_read:
            raise services.NoAccessError(N_("This concern has not been shared with you."))
        themes.set_concern_themes(db(), clock(), concern_id, form.themes.data or [],
                                  actor=_user().email)
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "themes_form", form)
    except themes.ThemeError as exc:
        db().rollback()
        form.themes.errors = [said(exc)]
        return _concern_page(concern_id, 400, themes_form=form)
    db().commit()
    flash(_("The themes have been saved."), "info")
    return redirect(url_for(".concern", concern_id=concern_id))


@bp.route("/themes")
@writes  # every download of the return is audited
@role_required("handler")
def theme_return() -> tuple[str, int] | Response:
    """The quarterly return's exact theme counts, as CSV (every download is audited)."""
    today = concern_config().today(clock())
    quarters = [quarter_label(*q) for q in reversed(last_quarters(today))]
    quarter = request.args.get("quarter")
    if quarter is None:
        return render_template("concerns/theme_return.html", quarters=quarters), 200
    try:
        label, body = themes.export_quarter_return(db(), clock(), quarter, actor=_user().email)
    except themes.ThemeError as exc:
        db().rollback()
        return render_template("concerns/theme_return.html", quarters=quarters,
                               error=said(exc)), 400
    # Named from the parsed quarter, never the raw argument (issue 18: CR/LF, non-ASCII).
    disposition = attachment_disposition(f"speakup-themes-{label}.csv")
    db().commit()
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": disposition})


def _return_quarters() -> list[str]:
    today = concern_config().today(clock())
    return [quarter_label(*q) for q in reversed(last_quarters(today))]


@bp.route("/return")
@writes  # every view of the exact figures is audited
@role_required("handler")
def quarterly_return() -> tuple[str, int]:
    """The guardian's quarterly return as a printable page (each view audited)."""
    quarters = _return_quarters()
    quarter = request.args.get("quarter")
    if quarter is None:
        return render_template("concerns/guardian_return.html", quarters=quarters,
                               result=None), 200
    try:
        result = guardian_return.guardian_return(db(), quarter,
                                                 concern_config().today(clock()))
    except ValueError:
        return render_template("concerns/guardian_return.html", quarters=quarters,
                               result=None, error=_("Choose a quarter like 2026-Q3.")), 400
    guardian_return.record_export(db(), clock(), result, actor=_user().email, kind="page")
    db().commit()
    return render_template("concerns/guardian_return.html", quarters=quarters, result=result,
                           sections=SECTIONS), 200


SECTIONS = (guardian_return.CASES, guardian_return.THEMES, guardian_return.GROUPS,
            guardian_return.HANDLING)


@bp.route("/return.csv")
@writes  # every download is audited
@role_required("handler")
def quarterly_return_csv() -> tuple[str, int] | Response:
    """The same figures as CSV, shaped as the guardian submits them (audited)."""
    try:
        result = guardian_return.guardian_return(db(), request.args.get("quarter", ""),
                                                 concern_config().today(clock()))
    except ValueError:
        return render_template("concerns/guardian_return.html", quarters=_return_quarters(),
                               result=None, error=_("Choose a quarter like 2026-Q3.")), 400
    guardian_return.record_export(db(), clock(), result, actor=_user().email, kind="csv")
    # Named from the parsed quarter, never the raw argument (issue 18: CR/LF, non-ASCII).
    disposition = attachment_disposition(f"speakup-guardian-return-{result.quarter}.csv")
    db().commit()
    return Response(guardian_return.to_csv(result), mimetype="text/csv",
                    headers={"Content-Disposition": disposition})


def _refused(concern_id: str, exc: services.ConcernError, form_name: str, form: Any,
             field: Any = None) -> tuple[str, int]:
    db().rollback()
    if isinstance(exc, services.ConcernNotFoundError):
        abort(404)
    if isinstance(exc, services.NoAccessError):
        abort(403)
    if field is not None and isinstance(exc, services.FieldError):
        field.errors = [said(exc)]
        return _concern_page(concern_id, 400, **{form_name: form})
    status = 409 if isinstance(exc, services.ConversationMovedOnError) else 400
    return _concern_page(concern_id, status, said(exc), **{form_name: form})


def _refused_files(concern_id: str, form: HandlerMessageForm, message: str) -> tuple[str, int]:
    """Say why the files were refused, with the text's own error if any; the text stays."""
    db().rollback()
    form.attachments.errors = [
        _("%(reason)s Your text is kept: choose the files again.", reason=message)]
    try:
        services.clean_text(form.text.data, field_name="text", label="Reply", required=True,
                            max_chars=services.MAX_MESSAGE)
    except services.FieldError as exc:
        form.text.errors = [said(exc)]
    return _concern_page(concern_id, 400, reply_form=form)


@bp.route("/<concern_id>/reply", methods=["POST"])
@role_required("handler")
def reply(concern_id: str) -> tuple[str, int] | Response:
    return _message(concern_id, note=False)


@bp.route("/<concern_id>/note", methods=["POST"])
@role_required("handler")
def note(concern_id: str) -> tuple[str, int] | Response:
    return _message(concern_id, note=True)


def _message(concern_id: str, *, note: bool) -> tuple[str, int] | Response:
    name = "note" if note else "reply"
    form = HandlerMessageForm(prefix=name)
    config = concern_config()
    files: list[evidence.PreparedFile] = []
    try:
        if not note:  # files go to the reporter; a note carries none
            files = evidence.prepare(uploads(f"{name}-attachments"),
                                     max_files=config.attachments_max,
                                     max_bytes=config.attachment_max_bytes)
        services.handler_message(db(), clock(), config, _user(), concern_id,
                                 text=form.text.data, seen_seq=form.seen_seq.data, note=note,
                                 files=files)
    except attachments.AttachmentRefusedError as exc:
        return _refused_files(concern_id, form, said(exc))
    except services.ConcernError as exc:
        return _refused(concern_id, exc, f"{name}_form", form, form.text)
    finally:
        evidence.close(files)
    db().commit()
    flash(_("Internal note added.") if note else _("Your reply has been sent to the reporter."),
          "info")
    return redirect(url_for(".concern", concern_id=concern_id, _anchor="conversation-h"))


@bp.route("/<concern_id>/status", methods=["POST"])
@role_required("handler")
def status(concern_id: str) -> tuple[str, int] | Response:
    form = StatusForm(prefix="status")
    try:
        services.change_status(db(), clock(), concern_config(), _user(), concern_id,
                               new_status=form.status.data or "", outcome=form.outcome.data or None,
                               expected_status=form.expected_status.data or "",
                               closing_message=form.closing_message.data)
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "status_form", form, form.closing_message)
    db().commit()
    flash(_("The status has been changed."), "info")
    return redirect(url_for(".concern", concern_id=concern_id))


@bp.route("/<concern_id>/exclude", methods=["POST"])
@role_required("handler")
def exclude(concern_id: str) -> tuple[str, int] | Response:
    form = ExcludeForm(prefix="exclude")
    try:
        uncounted = services.mark_excluded(db(), clock(), concern_config(), _user(),
                                           concern_id, reason=form.reason.data or "",
                                           expected_status=form.expected_status.data or "",
                                           private_key=private_key())
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "exclude_form", form)
    db().commit()
    flash(_("Closed, and left out of the statistics.") if uncounted else
          _("Closed, and left out of the statistics; its professional-group answer, if any, "
            "still counts, because your key could not open the concern."), "info")
    return redirect(url_for(".concern", concern_id=concern_id))


@bp.route("/<concern_id>/recuse", methods=["POST"])
@role_required("handler")
def recuse(concern_id: str) -> tuple[str, int] | Response:
    form = RecuseForm(prefix="recuse")
    if not form.confirm.data:
        form.confirm.errors = [_("Tick the box to confirm that you must not handle it.")]
        return _concern_page(concern_id, 400, recuse_form=form)
    try:
        services.recuse(db(), clock(), concern_config(), _user(), concern_id)
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "recuse_form", form)
    db().commit()
    flash(_("You have recused yourself: you can no longer open that concern, and nobody can "
            "share it with you again."), "info")
    return redirect(url_for(".inbox"))


@bp.route("/<concern_id>/files/<int:seq>/<int:number>")
@writes  # every download is audited
@role_required("handler")
def attachment(concern_id: str, seq: int, number: int) -> Response:
    """Download an attached file: always as a download, never shown in the browser."""
    try:
        info, chunks = services.open_attachment(db(), clock(), concern_config(), _user(),
                                                concern_id, seq, number, private_key())
    except services.ConcernNotFoundError:
        db().rollback()
        abort(404)
    except services.NoAccessError:
        db().rollback()
        abort(403)
    db().commit()  # keeps the audit entry of this download
    return download(info, chunks, f"concern-{concern_id}-{seq}-{info.name}")


@bp.route("/<concern_id>/reopen", methods=["POST"])
@role_required("handler")
def reopen(concern_id: str) -> tuple[str, int] | Response:
    form = ReopenForm(prefix="reopen")
    try:
        services.reopen_concern(db(), clock(), concern_config(), _user(), concern_id,
                                expected_status=form.expected_status.data or "",
                                private_key=private_key())
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "reopen_form", form)
    db().commit()
    flash(_("The concern has been reopened."), "info")
    return redirect(url_for(".concern", concern_id=concern_id))


@bp.route("/<concern_id>/share", methods=["POST"])
@role_required("handler")
def share(concern_id: str) -> tuple[str, int] | Response:
    form = ShareForm(prefix="share")
    key = private_key()
    if key is None:
        return _concern_page(concern_id, 403, _("Unlock your key first (below), then share."))
    try:
        services.share_concern(db(), clock(), concern_config(), _user(), key, concern_id,
                                form.handler.data)
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "share_form", form)
    db().commit()
    flash(_("The concern has been shared."), "info")
    return redirect(url_for(".concern", concern_id=concern_id))


@bp.route("/unlock", methods=["POST"])
@role_required("handler")
def unlock() -> Response:
    form = UnlockForm()
    user = _user()
    concern_id = request.form.get("concern_id", "")
    back = (url_for(".concern", concern_id=concern_id) if CONCERN_ID.match(concern_id)
            else url_for(".inbox"))
    s = settings()
    policy = accounts.LockoutPolicy(s.lockout_threshold, s.lockout_base_seconds)
    # Failures count and lock like sign-in: a stolen cookie is no password-guessing tool.
    if not form.validate() or not accounts.confirm_password(
        db(), clock(), policy, user, form.password.data or "", action="handler_key.unlock"
    ):
        locked = accounts.is_factor_locked(user, clock().now())
        if locked:  # whoever holds this cookie guessed too often: it ends here
            accounts.end_session(db(), session.get(SESSION_KEY))
        db().commit()
        if locked:
            logout_user()
            session.clear()
            flash(_(accounts.LOGIN_REFUSED), "error")
            return redirect(url_for("auth.login"))
        flash(_("That password is not right."), "error")
        return redirect(back)
    private = keys.unlock_handler_key(db(), clock(), concern_config(), user, form.password.data)
    assert private is not None  # role_required("handler") let only active handlers in
    keys.end_key_session(db(), session.get(KEY_SESSION))
    session[KEY_SESSION] = keys.open_key_session(db(), clock(), concern_config(), user, private)
    db().commit()
    return redirect(back)
