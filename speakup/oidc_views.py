"""Staff sign-in through the organisation's OpenID Connect provider (HTTP side only).

Only staff reach these pages, from the sign-in page: reporters' and respondents' pages
link to none of them and never name the provider (DESIGN.md rule 1).
"""

from __future__ import annotations

import secrets
import time

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from speakup import accounts, audit, oidc
from speakup.auth_views import VIA_PROVIDER_KEY, home_for, sign_in
from speakup.db import begin_writing
from speakup.models import User
from speakup.oidc_accounts import account_for, email_of, link_subject
from speakup.web import clock, db, public, services, settings

bp = Blueprint("oidc", __name__)

PENDING_KEY = "oidc_pending"
SECOND_FACTOR_KEY = "oidc_second_factor"
# Minutes between the provider's answer and the authenticator code it still waits for.
SECOND_FACTOR_MINUTES = 5

UNTRUSTED_ANSWER = (
    "The answer from your organisation's sign-in service could not be trusted, so you "
    "have not been signed in. Try again; if it happens again, tell your administrator."
)
MESSAGES = {
    "state_mismatch": "This sign-in had expired, was opened twice or did not start here. "
                      "Start again from the sign-in page.",
    "provider_error": "Your organisation's sign-in service did not sign you in.",
    "provider_unreachable": "Your organisation's sign-in service could not be reached. "
                            "Try again in a few minutes, or sign in with your Speak Up "
                            "password.",
    "expired": "The sign-in took too long and has expired. Start again from the sign-in "
               "page.",
    "no_mfa": "Your organisation's sign-in did not use a second factor (such as an "
              "authenticator app or a security key), which Speak Up requires. Sign in "
              "again and use one.",
    "no_role": "Your organisational account is not in a group that may use Speak Up. If "
               "you had access before, it has been removed and your account here is "
               "disabled; an administrator can restore it.",
    "disabled": "This account is disabled. Ask an administrator.",
    "no_email": "Your organisation's sign-in service did not give a verified e-mail "
                "address, which Speak Up needs to find your account.",
    "handler_needs_account": "Case handlers need an account created by an administrator "
                             "first, with a Speak Up password: that password unlocks the "
                             "key that keeps concerns secret. Ask an administrator.",
    "subject_mismatch": "This e-mail address reached Speak Up through a different account "
                        "at your organisation's sign-in service than before, so you have "
                        "not been signed in and the attempt has been recorded. Ask an "
                        "administrator.",
    "needs_local_account": "This role needs a second factor that your organisation's "
                           "sign-in does not provide: ask an administrator to create your "
                           "account with an authenticator app first.",
}
STATUS = {"state_mismatch": 400, "provider_unreachable": 502}


class SecondFactorForm(FlaskForm):
    totp = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(_l("Enter the six-digit code.")),
                    Length(max=10, message=_l("The code has six digits."))],
        description=_l("Six digits, from the app you set up for Speak Up."),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


def init_app(app: Flask) -> None:
    config = oidc.config_from(services(app).settings)
    services(app).extras["oidc"] = oidc.ProviderClient(config) if config else None
    app.register_blueprint(bp)


def _client() -> oidc.ProviderClient:
    client = services().extras.get("oidc")
    if client is None:
        abort(404)
    return client


def _redirect_uri() -> str:
    return settings().base_url + url_for("oidc.callback")


def refuse(reason: str, detail: str = "", email: str | None = None) -> tuple[str, int]:
    """Record why, commit what the refusal changed, and say it plainly."""
    if reason != "no_role":  # that one's disabling of the account must be kept
        db().rollback()
    begin_writing(db())  # a GET's session only reads (speakup/web.py)
    audit.record(db(), clock(), actor=email or "anonymous", action="login.idp_refused",
                 subject=email or "unknown", detail={"reason": reason, "why": detail[:200]})
    db().commit()
    session.pop(PENDING_KEY, None)
    session.pop(SECOND_FACTOR_KEY, None)
    message = MESSAGES.get(reason, UNTRUSTED_ANSWER)
    return (render_template("auth/idp_refused.html", message=message),
            STATUS.get(reason, 403))


@bp.route("/login/idp")
@public
def start() -> Response | tuple[str, int]:
    client = _client()
    pending = oidc.PendingSignIn.new()
    try:
        url = client.authorization_url(pending, _redirect_uri())
    except oidc.OidcError as exc:
        return refuse(exc.reason, exc.detail)
    session[PENDING_KEY] = pending.as_dict()
    return redirect(url)


@bp.route("/login/idp/callback")
@public
def callback() -> Response | tuple[str, int]:
    client = _client()
    begin_writing(db())  # a GET that may create or update an account and audit
    # Single use: whatever happens next, this attempt's state and nonce are spent.
    pending = oidc.PendingSignIn.from_dict(session.pop(PENDING_KEY, None))
    state = request.args.get("state", "")
    if pending is None or not secrets.compare_digest(state.encode(), pending.state.encode()):
        return refuse("state_mismatch", "missing" if pending is None else "differs")
    if request.args.get("error"):
        return refuse("provider_error", request.args.get("error", "")[:100])
    code = request.args.get("code", "")
    if not code:
        return refuse("provider_error", "no code")
    email: str | None = None
    try:
        token = client.exchange_code(code, pending, _redirect_uri())
        claims = client.verify_id_token(token, pending.nonce, clock().now())
        email = email_of(claims)
        user = account_for(db(), clock(), client.config, claims)
    except oidc.OidcError as exc:
        return refuse(exc.reason, exc.detail, email)
    if user.totp_secret and not client.config.provider_mfa_required:
        db().commit()
        session[SECOND_FACTOR_KEY] = {"user_id": user.id, "token": user.session_token,
                                      "at": int(time.time()), "iss": claims["iss"],
                                      "sub": claims["sub"]}
        return redirect(url_for("oidc.second_factor"))
    return _finish(user, claims["iss"], claims["sub"])


@bp.route("/login/idp/code", methods=["GET", "POST"])
@public
def second_factor() -> str | Response | tuple[str, int]:
    _client()
    pending = session.get(SECOND_FACTOR_KEY)
    user = None
    fresh = time.time() - pending.get("at", 0) < SECOND_FACTOR_MINUTES * 60 if isinstance(
        pending, dict) else False
    if fresh and isinstance(pending.get("user_id"), int):
        user = db().get(User, pending["user_id"])
    if user is None or user.disabled or user.session_token != pending.get("token"):
        return refuse("state_mismatch", "no sign-in waiting for a code")
    form = SecondFactorForm()
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        s = settings()
        policy = accounts.LockoutPolicy(s.lockout_threshold, s.lockout_base_seconds)
        if accounts.check_second_factor(db(), clock(), policy, user, form.totp.data or ""):
            return _finish(user, str(pending.get("iss")), str(pending.get("sub")))
        db().commit()
        if accounts.is_factor_locked(user, clock().now()):
            session.pop(SECOND_FACTOR_KEY, None)
            flash(_(accounts.LOGIN_REFUSED), "error")
            return redirect(url_for("auth.login"))
        form.totp.errors = [_("That code is not right. Use the newest code your app shows.")]
        status = 401
    return render_template("auth/idp_code.html", form=form), status


def _finish(user: User, issuer: str, subject: str) -> Response:
    link_subject(db(), clock(), user, issuer, subject)
    audit.record(db(), clock(), actor=user.email, action="login", subject=user.email,
                 detail={"via": "identity provider"})
    sign_in(user)  # commits, and starts a fresh Flask session (no provider state left)
    session[VIA_PROVIDER_KEY] = True  # so sign-out ends the provider's session too
    if user.role == "handler":
        flash(_("To read concerns you will be asked for your Speak Up password once: it "
                "unlocks your key, which your organisation's sign-in cannot do."), "info")
    return redirect(home_for(user.role))
