"""Staff sign-in, sign-out and password change."""

from __future__ import annotations

import time

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from speakup import accounts, audit, passkeys
from speakup.forms import LoginForm, PasswordChangeForm
from speakup.i18n import said
from speakup.models import User
from speakup.web import ANY_STAFF, clock, db, public, role_required, services, settings

bp = Blueprint("auth", __name__)

# The Flask session key holding the server-side session's token (see accounts.py).
SESSION_KEY = "sid"
# True in the Flask session of someone who signed in through the identity provider.
VIA_PROVIDER_KEY = "via_provider"
# Set by the password step of a sign-in with a passkey: whose key the next page asks for.
PENDING_KEY = "passkey_pending"
HOME_BY_ROLE = {"admin": "admin.index", "handler": "main.staff", "reviewer": "review.overview"}


def home_for(role: str) -> str:
    return url_for(services().extras.get("home_by_role", HOME_BY_ROLE).get(role, "main.index"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        s = settings()
        policy = accounts.LockoutPolicy(s.lockout_threshold, s.lockout_base_seconds)
        # The "use a passkey" button: the key, asked for next, replaces the code.
        with_key = (lambda u: passkeys.has_keys(db(), u)) if "with_key" in request.form else None
        try:
            user = accounts.authenticate(
                db(), clock(), policy, email=form.email.data, password=form.password.data,
                totp_code=form.totp.data or "", hooks=services().login_hooks,
                with_key=with_key,
            )
        except accounts.LoginError as exc:
            db().commit()  # keep the failure count and the audit entry
            flash(said(exc), "error")
            status = 401
        else:
            if with_key is not None:
                return start_key_login(user)
            sign_in(user)
            return redirect(home_for(user.role))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form,
                           idp=services().extras.get("oidc") is not None), status


def start_key_login(user: User) -> Response:
    """The password was right: ask for the key next, for a few minutes at most."""
    db().commit()  # the audit entries so far
    session[PENDING_KEY] = {"user_id": user.id, "token": user.session_token,
                            "at": int(time.time())}
    return redirect(url_for("passkeys.login_key"))


def sign_in(user: User) -> None:
    """Open a server-side session for `user` in this browser, in a fresh cookie."""
    token = accounts.start_session(db(), clock(), user)
    db().commit()
    session.clear()
    login_user(user)
    session[SESSION_KEY] = token


@bp.route("/logout", methods=["POST"])
@public
def logout() -> Response:
    if current_user.is_authenticated:
        audit.record(db(), clock(), actor=current_user.email, action="logout",
                     subject=current_user.email)
    # Delete the row even when the session had already lapsed: the cookie must die.
    accounts.end_session(db(), session.get(SESSION_KEY))
    db().commit()
    via_provider = session.get(VIA_PROVIDER_KEY) is True
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    provider = services().extras.get("oidc")
    if via_provider and provider is not None:
        # Signed in there, signed out there too: otherwise the next person at this
        # computer could come straight back in through the provider's session.
        url = provider.end_session_url(settings().base_url + url_for("main.index"))
        if url is not None:
            return redirect(url)
    # The public home page, not the sign-in form: on a shared computer the next person
    # may be someone who wants to raise a concern.
    return redirect(url_for("main.index"))


@bp.route("/account/password", methods=["GET", "POST"])
@role_required(*ANY_STAFF)
def change_password() -> str | Response:
    form = PasswordChangeForm()
    user = current_user._get_current_object()  # the model, not the request-bound proxy
    if form.validate_on_submit():
        try:
            accounts.change_password(
                db(), clock(), user, current=form.current.data, new=form.new.data,
                hooks=services().password_hooks,
            )
        except accounts.AccountError as exc:
            db().rollback()
            form.new.errors = [said(exc)]
        else:
            # Every session ended, this one included; it carries on under a new one.
            sign_in(user)
            flash(_("Your password has been changed. Other sessions have been signed out."),
                  "info")
            return redirect(home_for(user.role))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form), status
