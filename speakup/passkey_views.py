"""Passkeys and security keys: the security page, the key step of sign-in, the step-up.

The ceremonies themselves are in passkeys.py. Each page that asks for a key puts a
fresh challenge in the staff member's session and its options in the page; the
answer comes back as an ordinary form post, so CSRF protection and the error
handling are those of every other form. Pages say plainly that a key needs
JavaScript and offer the authenticator code instead.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from speakup import accounts, passkeys
from speakup.auth_views import PENDING_KEY, home_for, sign_in
from speakup.forms import MAX_PASSWORD_LENGTH
from speakup.i18n import said
from speakup.models import User
from speakup.translatable import N_
from speakup.web import ANY_STAFF, clock, db, public, role_required, settings

bp = Blueprint("passkeys", __name__)

CHALLENGE_KEY = "passkey_challenge"
# When this sign-in session last proved a key (epoch seconds): the handlers' step-up.
VERIFIED_KEY = "passkey_verified_at"
PENDING_SECONDS = passkeys.CHALLENGE_SECONDS
# A handler with a key proves it again after this long before reading concerns.
STEP_UP_MINUTES = 60


NOTHING_WAITING = N_("This sign-in took too long, was finished already or did not start here. "
                     "Start again from the sign-in page.")


class AddKeyForm(FlaskForm):
    name = StringField(
        _l("Name for this key"),
        validators=[Length(max=passkeys.MAX_NAME_LENGTH,
                           message=_l("Use at most %(most)s characters.",
                                      most=passkeys.MAX_NAME_LENGTH))],
        description=_l("So you can tell your keys apart, such as “work laptop” or “blue key”."),
    )
    response = HiddenField()


class RemoveKeyForm(FlaskForm):
    password = PasswordField(
        _l("Your Speak Up password"),
        validators=[DataRequired(_l("Enter your password to remove a key.")),
                    Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class UseKeyForm(FlaskForm):
    response = HiddenField()


def rp() -> passkeys.RelyingParty:
    return passkeys.RelyingParty.from_base_url(settings().base_url)


def _policy() -> accounts.LockoutPolicy:
    s = settings()
    return accounts.LockoutPolicy(s.lockout_threshold, s.lockout_base_seconds)


def _new_challenge(purpose: str, user: User) -> passkeys.Challenge:
    challenge = passkeys.Challenge.new(purpose, user.id, clock().now())
    session[CHALLENGE_KEY] = challenge.as_dict()
    return challenge


def _take_challenge(purpose: str, user: User) -> bytes:
    # Popped before checking: right or wrong, a challenge answers once.
    return passkeys.Challenge.taken(session.pop(CHALLENGE_KEY, None), purpose, user.id,
                                    clock().now())


def _me() -> User:
    return current_user._get_current_object()  # the model, not the request-bound proxy


def mark_verified() -> None:
    session[VERIFIED_KEY] = int(clock().now().timestamp())


# --- the security page: list, add, remove ----------------------------------------------


@bp.route("/account/security")
@role_required(*ANY_STAFF)
def security() -> str:
    return _security_page(AddKeyForm(formdata=None))


def _security_page(add_form: AddKeyForm, status: int = 200) -> Any:
    user = _me()
    options = passkeys.registration_options(db(), rp(), user, _new_challenge("create", user))
    return render_template(
        "auth/security.html", keys=passkeys.keys_of(db(), user), add_form=add_form,
        remove_form=RemoveKeyForm(formdata=None), options=json.loads(options),
        has_totp=bool(user.totp_secret),
    ), status


@bp.route("/account/security/keys", methods=["POST"])
@role_required(*ANY_STAFF)
def add_key() -> Any:
    form = AddKeyForm()
    user = _me()
    if not form.validate_on_submit():
        return _security_page(form, 400)
    try:
        challenge = _take_challenge("create", user)
        key = passkeys.register(db(), clock(), rp(), user, challenge=challenge,
                                response=form.response.data or "", name=form.name.data or "")
    except passkeys.PasskeyError as exc:
        db().commit()  # keep the audit entry of a refused key
        form.name.errors = [said(exc)]
        return _security_page(form, 400)
    # Every session ended with the new factor; this browser carries on under a new one,
    # which has just proved the key.
    sign_in(user)
    mark_verified()
    flash(_("The key “%(name)s” has been added. Other sessions have been signed out.",
            name=key.name), "info")
    return redirect(url_for("passkeys.security"))


@bp.route("/account/security/keys/<int:key_id>/remove", methods=["POST"])
@role_required(*ANY_STAFF)
def remove_key(key_id: int) -> Any:
    form = RemoveKeyForm()
    user = _me()
    if not form.validate_on_submit():
        return _security_page(AddKeyForm(formdata=None), 400)
    if not accounts.confirm_password(db(), clock(), _policy(), user, form.password.data or "",
                                     action="passkey.remove"):
        db().commit()
        flash(_("Your password is not right, so the key was not removed."), "error")
        return _security_page(AddKeyForm(formdata=None), 401)
    try:
        name = passkeys.remove(db(), clock(), user, key_id)
    except passkeys.PasskeyError as exc:
        db().rollback()
        flash(said(exc), "error")
        return _security_page(AddKeyForm(formdata=None), 404)
    db().commit()
    flash(_("The key “%(name)s” has been removed.", name=name), "info")
    return redirect(url_for("passkeys.security"))


# --- the key step of sign-in ------------------------------------------------------------


def _pending_user() -> User | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("user_id"), int):
        return None
    if time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = db().get(User, pending["user_id"])
    if user is None or user.disabled or user.session_token != pending.get("token"):
        return None
    return user


def _check_key(purpose: str, user: User, form: UseKeyForm) -> passkeys.PasskeyError | None:
    """Check the key's answer to this session's challenge; None when it is right.

    A wrong answer counts like a wrong password or unlock password (committed at once):
    neither a half-signed-in visitor nor a stolen session is a guessing machine.
    """
    try:
        passkeys.verify(db(), clock(), rp(), user, challenge=_take_challenge(purpose, user),
                        response=form.response.data or "")
    except passkeys.PasskeyError as exc:
        accounts.key_failed(db(), clock(), _policy(), user)
        db().commit()
        return exc
    return None


@bp.route("/login/key", methods=["GET", "POST"])
@public
def login_key() -> Any:
    user = _pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        return render_template("auth/idp_refused.html", message=_(NOTHING_WAITING)), 400
    form = UseKeyForm()
    status = 200
    if form.validate_on_submit():
        failure = _check_key("login", user, form)
        if failure is not None:
            if accounts.is_factor_locked(user, clock().now()):
                session.pop(PENDING_KEY, None)
                flash(_(accounts.LOGIN_REFUSED), "error")
                return redirect(url_for("auth.login"))
            flash(said(failure), "error")
            status = 401
        else:
            accounts.finish_key_login(db(), clock(), user)
            sign_in(user)  # commits; a fresh Flask session without the pending state
            mark_verified()
            if user.role == "handler":
                flash(_("To read concerns you will be asked for your Speak Up password "
                        "once: it unlocks your key."), "info")
            return redirect(home_for(user.role))
    elif request.method == "POST":
        status = 400
    options = passkeys.authentication_options(db(), rp(), user, _new_challenge("login", user))
    return render_template("auth/key.html", form=form, options=json.loads(options),
                           action=url_for("passkeys.login_key"), step_up=False,
                           has_totp=bool(user.totp_secret)), status


# --- the handlers' step-up ----------------------------------------------------------------


def step_up_needed(user: User) -> bool:
    """True when `user` has a key and this session has not proved it lately."""
    at = session.get(VERIFIED_KEY)
    if isinstance(at, int) and clock().now().timestamp() - at < STEP_UP_MINUTES * 60:
        return False
    return passkeys.has_keys(db(), user)


def require_step_up() -> Response | None:
    """before_request for the handlers' pages: a handler with a key touches it first.

    Every page view is checked. A form sent by a session that proved the key earlier is
    let through even after the hour, so a reply typed for a long time is not lost; the
    next page asks again. A session that never proved the key can send nothing.
    """
    if not current_user.is_authenticated or current_user.role != "handler":
        return None
    if request.method != "GET" and isinstance(session.get(VERIFIED_KEY), int):
        return None
    if not step_up_needed(_me()):
        return None
    target = request.full_path if request.method == "GET" else url_for("main.staff")
    return redirect(url_for("passkeys.confirm_key", next=target))


@bp.route("/account/confirm-key", methods=["GET", "POST"])
@role_required(*ANY_STAFF)
def confirm_key() -> Any:
    user = _me()
    target = request.args.get("next", "")
    # Only a path on this site: never an address elsewhere ("//host", "/\\host").
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        target = home_for(user.role)
    form = UseKeyForm()
    status = 200
    if form.validate_on_submit():
        failure = _check_key("step-up", user, form)
        if failure is not None:
            flash(said(failure), "error")
            status = 401
        else:
            db().commit()
            mark_verified()
            return redirect(target)
    elif request.method == "POST":
        status = 400
    options = passkeys.authentication_options(db(), rp(), user,
                                              _new_challenge("step-up", user))
    return render_template("auth/key.html", form=form, options=json.loads(options),
                           action=url_for("passkeys.confirm_key", next=target),
                           step_up=True, has_totp=bool(user.totp_secret)), status
