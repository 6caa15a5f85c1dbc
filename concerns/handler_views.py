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
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from concerns import keys, services
from concerns.forms import (
    ExcludeForm,
    HandlerMessageForm,
    InboxFilterForm,
    ShareForm,
    StatusForm,
    UnlockForm,
)
from concerns.views import concern_config
from speakup import accounts
from speakup.auth_views import SESSION_KEY
from speakup.models import User
from speakup.web import clock, db, role_required, settings

bp = Blueprint("handling", __name__, url_prefix="/handle")

# Flask session key holding "<key session id>.<per-session key>" (see concerns/keys.py).
KEY_SESSION = "concern_key"
CONCERN_ID = re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$")


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def private_key() -> X25519PrivateKey | None:
    return keys.load_key_session(db(), clock(), _user(), session.get(KEY_SESSION))


@bp.route("/")
@role_required("handler")
def inbox() -> str:
    form = InboxFilterForm(request.args)
    form.status.choices = dict(services.INBOX_FILTERS)
    form.sort.choices = dict(services.INBOX_SORTS)
    status = form.status.data if form.status.data in services.INBOX_FILTERS else "open"
    sort = form.sort.data if form.sort.data in services.INBOX_SORTS else "received"
    form.status.data, form.sort.data = status, sort
    rows = services.inbox(db(), clock(), concern_config(), _user(), status=status, sort=sort,
                          descending=form.order.data == "desc")
    db().rollback()
    return render_template("concerns/inbox.html", rows=rows, form=form)


@bp.route("/<concern_id>")
@role_required("handler")
def concern(concern_id: str) -> tuple[str, int]:
    return _concern_page(concern_id, 200)


def _concern_page(concern_id: str, status: int, notice: str | None = None,
                  **forms: Any) -> tuple[str, int]:
    key = private_key()
    try:
        view = services.read_concern(db(), clock(), _user(), concern_id, key)
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
    # Whatever was typed stays; the page's state is refreshed to what was just shown.
    for name, label in (("reply_form", "Your reply"), ("note_form", "Your note")):
        forms[name].seen_seq.data = str(summary.last_seq)
        forms[name].text.label.text = label
    for name in ("status_form", "exclude_form"):
        forms[name].expected_status.data = summary.status
    forms["status_form"].status.choices = dict(services.next_statuses(summary.status))
    forms["share_form"].handler.choices = {str(i): e for i, e in view.share_candidates}
    return render_template(
        "concerns/concern.html", view=view, concern=summary, notice=notice,
        needs_unlock=view.can_read and key is None, unlock_form=UnlockForm(formdata=None),
        **forms,
    ), status


def _refused(concern_id: str, exc: services.ConcernError, form_name: str, form: Any,
             field: Any = None) -> tuple[str, int]:
    db().rollback()
    if isinstance(exc, services.ConcernNotFoundError):
        abort(404)
    if isinstance(exc, services.NoAccessError):
        abort(403)
    if field is not None and isinstance(exc, services.FieldError):
        field.errors = [str(exc)]
        return _concern_page(concern_id, 400, **{form_name: form})
    status = 409 if isinstance(exc, services.ConversationMovedOnError) else 400
    return _concern_page(concern_id, status, str(exc), **{form_name: form})


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
    try:
        services.handler_message(db(), clock(), concern_config(), _user(), concern_id,
                                 text=form.text.data, seen_seq=form.seen_seq.data, note=note)
    except services.ConcernError as exc:
        return _refused(concern_id, exc, f"{name}_form", form, form.text)
    db().commit()
    flash("Internal note added." if note else "Your reply has been sent to the reporter.", "info")
    return redirect(url_for(".concern", concern_id=concern_id, _anchor="conversation-h"))


@bp.route("/<concern_id>/status", methods=["POST"])
@role_required("handler")
def status(concern_id: str) -> tuple[str, int] | Response:
    form = StatusForm(prefix="status")
    try:
        services.change_status(db(), clock(), concern_config(), _user(), concern_id,
                               new_status=form.status.data or "", outcome=form.outcome.data or None,
                               expected_status=form.expected_status.data or "")
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "status_form", form)
    db().commit()
    flash("The status has been changed.", "info")
    return redirect(url_for(".concern", concern_id=concern_id))


@bp.route("/<concern_id>/exclude", methods=["POST"])
@role_required("handler")
def exclude(concern_id: str) -> tuple[str, int] | Response:
    form = ExcludeForm(prefix="exclude")
    try:
        services.mark_excluded(db(), clock(), concern_config(), _user(), concern_id,
                               reason=form.reason.data or "",
                               expected_status=form.expected_status.data or "")
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "exclude_form", form)
    db().commit()
    flash("Closed, and left out of the statistics.", "info")
    return redirect(url_for(".concern", concern_id=concern_id))


@bp.route("/<concern_id>/share", methods=["POST"])
@role_required("handler")
def share(concern_id: str) -> tuple[str, int] | Response:
    form = ShareForm(prefix="share")
    key = private_key()
    if key is None:
        return _concern_page(concern_id, 403, "Unlock your key first (below), then share.")
    try:
        services.share_concern(db(), clock(), _user(), key, concern_id, form.handler.data)
    except services.ConcernError as exc:
        return _refused(concern_id, exc, "share_form", form)
    db().commit()
    flash("The concern has been shared.", "info")
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
            flash(accounts.LOGIN_REFUSED, "error")
            return redirect(url_for("auth.login"))
        flash("That password is not right.", "error")
        return redirect(back)
    private = keys.unlock_handler_key(db(), clock(), concern_config(), user, form.password.data)
    assert private is not None  # role_required("handler") let only active handlers in
    keys.end_key_session(db(), session.get(KEY_SESSION))
    session[KEY_SESSION] = keys.open_key_session(db(), clock(), concern_config(), user, private)
    db().commit()
    return redirect(back)
