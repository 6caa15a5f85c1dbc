"""Administrators' pages: the admin home, staff accounts and site switches."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from speakup import accounts, site_settings
from speakup.forms import EditAccountForm, NewAccountForm, ResultsPageForm
from speakup.i18n import said
from speakup.models import User
from speakup.web import clock, db, role_required, services

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@role_required("admin")
def index() -> str:
    links = services().extras.get("admin_links", [])
    return render_template("admin/index.html", links=links)


@bp.route("/accounts")
@role_required("admin")
def account_list() -> str:
    return render_template("admin/accounts.html", users=accounts.list_users(db()))


@bp.route("/accounts/new", methods=["GET", "POST"])
@role_required("admin")
def account_new() -> str | Response:
    form = NewAccountForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                db(), clock(), email=form.email.data, role=form.role.data,
                password=form.password.data, actor=current_user.email,
            )
        except accounts.AccountError as exc:
            db().rollback()
            form.email.errors = [said(exc)]
        else:
            db().commit()
            return render_template("admin/account_created.html", user=user, created=True,
                                   totp_uri=accounts.totp_uri(user))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/account_new.html", form=form), status


@bp.route("/accounts/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def account_edit(user_id: int) -> str | Response:
    user = db().get(User, user_id) or abort(404)
    form = EditAccountForm(obj=user)
    if form.validate_on_submit():
        # Packages watching accounts (concerns: who can still read them) look before
        # the change and say after it what it did.
        afters = [watch(db()) for watch in services().extras.get("account_watchers", [])]
        try:
            new_totp = accounts.update_account(
                db(), clock(), user, role=form.role.data, disabled=form.disabled.data,
                actor=current_user._get_current_object(),
            )
        except accounts.AccountError as exc:
            db().rollback()
            form.role.errors = [said(exc)]
        else:
            db().commit()
            for after in afters:
                warning = after(db())
                if warning:
                    flash(warning, "warning")
            if new_totp:
                # The new role needs a second factor: show its set-up link, once.
                return render_template("admin/account_created.html", user=user, created=False,
                                       totp_uri=accounts.totp_uri(user))
            flash(_("Saved the changes to %(email)s.", email=user.email), "info")
            return redirect(url_for("admin.account_list"))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/account_edit.html", form=form, user=user), status


@bp.route("/results-page", methods=["GET", "POST"])
@role_required("admin")
def results_page() -> str | Response | tuple[str, int]:
    enabled = site_settings.results_page_enabled(db())
    form = ResultsPageForm(data={"enabled": "on" if enabled else "off"})
    if form.validate_on_submit():
        wanted = form.enabled.data == "on"
        site_settings.set_results_page_enabled(db(), clock(), current_user.email, wanted)
        db().commit()
        flash(_("The staff results page is now on.") if wanted else
              _("The staff results page is now off."), "info")
        return redirect(url_for("admin.results_page"))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/results_page.html", form=form, enabled=enabled), status
