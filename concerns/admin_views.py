"""Administrators' pages for concern categories, themes, professional groups and handlers'
names (audited)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from concerns import conflicts, professional_groups, readers, services, themes
from concerns.forms import CategoryEditForm, CategoryForm, DisplayNameForm, ThemeEditForm
from concerns.models import ConcernCategory, ConcernTheme, ProfessionalGroup
from concerns.views import (
    category_choices,
    concern_config,
    group_choices,
    handler_choices,
    said,
)
from speakup.web import clock, db, role_required

bp = Blueprint("concern_admin", __name__, url_prefix="/admin/concern-categories")
handlers_bp = Blueprint("concern_handlers_admin", __name__, url_prefix="/admin/concern-handlers")
themes_bp = Blueprint("concern_themes_admin", __name__, url_prefix="/admin/concern-themes")
groups_bp = Blueprint("concern_groups_admin", __name__,
                      url_prefix="/admin/concern-professional-groups")


def _save_label(form: Any, save: Callable[[], Any], errors: tuple[type[Exception], ...],
                choices: Callable[[], Any] | None, done: Callable[[Any], str],
                endpoint: str) -> Response | None:
    """Save a chosen list's entry (categories, themes, professional groups) from `form`.

    The redirect on success; None when the form is to be shown again (its error at the
    label, nothing half-saved).
    """
    if not form.validate_on_submit():
        return None
    try:
        saved = save()
    except errors as exc:
        db().rollback()
        form.label.errors = [said(exc)]
        return None
    db().commit()
    if choices is not None:
        choices().clear()  # the cached choices of the reporter's form
    flash(done(saved), "info")
    return redirect(url_for(endpoint))


def _status() -> int:
    return 400 if request.method == "POST" else 200


@bp.route("/", methods=["GET", "POST"])
@role_required("admin")
def categories() -> tuple[str, int] | Response:
    form = CategoryForm()
    done = _save_label(form, lambda: services.add_category(
        db(), clock(), label=form.label.data or "", actor=current_user.email),
        (services.FieldError,), category_choices,
        lambda category: _("Added the category “%(label)s”.", label=category.label), ".categories")
    if done is not None:
        return done
    rows = services.list_categories(db(), active_only=False)
    return render_template("concerns/categories.html", form=form, categories=rows), _status()


@bp.route("/<int:category_id>", methods=["GET", "POST"])
@role_required("admin")
def edit(category_id: int) -> tuple[str, int] | Response:
    category = db().get(ConcernCategory, category_id) or abort(404)
    form = CategoryEditForm(obj=category)
    done = _save_label(form, lambda: services.update_category(
        db(), clock(), category.id, label=form.label.data or "",
        active=bool(form.active.data), actor=current_user.email),
        (services.FieldError,), category_choices, lambda _saved: _("Saved."), ".categories")
    if done is not None:
        return done
    return render_template("concerns/category_edit.html", form=form,
                           category=category), _status()


@handlers_bp.route("/", methods=["GET"])
@role_required("admin")
def handlers() -> str:
    return _handlers_page(None, None, 200)[0]


@handlers_bp.route("/readers", methods=["GET"])
@role_required("admin")
def readers_status() -> str:
    """Concerns nobody can read: counts and what to do, never a concern (issue 19)."""
    status = readers.reader_status(db())
    db().rollback()
    return render_template("concerns/readers.html", status=status)


def _handlers_page(failed_id: int | None, failed_form: DisplayNameForm | None,
                   status: int) -> tuple[str, int]:
    rows = []
    for user, name in conflicts.handlers_with_names(db()):
        form = (failed_form if user.id == failed_id and failed_form is not None
                else DisplayNameForm(formdata=None, prefix=f"u{user.id}",
                                     display_name=name or ""))
        rows.append((user, name, form))
    db().rollback()
    return render_template("concerns/handler_names.html", rows=rows,
                           offered=concern_config().exclusions_offered), status


@handlers_bp.route("/<int:user_id>", methods=["POST"])
@role_required("admin")
def set_name(user_id: int) -> tuple[str, int] | Response:
    # One form per handler on the page; the prefix keeps their field ids apart.
    form = DisplayNameForm(prefix=f"u{user_id}")
    if form.validate_on_submit():
        try:
            conflicts.set_display_name(db(), clock(), user_id, form.display_name.data,
                                       actor=current_user.email)
        except conflicts.DisplayNameError as exc:
            db().rollback()
            form.display_name.errors = [said(exc)]
        else:
            db().commit()
            handler_choices().clear()
            flash(_("Saved."), "info")
            return redirect(url_for(".handlers"))
    return _handlers_page(user_id, form, 400)


@themes_bp.route("/", methods=["GET", "POST"])
@role_required("admin")
def theme_list() -> tuple[str, int] | Response:
    form = CategoryForm()
    done = _save_label(form, lambda: themes.add_theme(
        db(), clock(), label=form.label.data or "", actor=current_user.email),
        (themes.ThemeError,), None,
        lambda theme: _("Added the theme “%(label)s”.", label=theme.label), ".theme_list")
    if done is not None:
        return done
    rows = themes.list_themes(db(), active_only=False)
    return render_template("concerns/themes.html", form=form, themes=rows), _status()


@themes_bp.route("/<int:theme_id>", methods=["GET", "POST"])
@role_required("admin")
def theme_edit(theme_id: int) -> tuple[str, int] | Response:
    theme = db().get(ConcernTheme, theme_id) or abort(404)
    form = ThemeEditForm(obj=theme)
    done = _save_label(form, lambda: themes.update_theme(
        db(), clock(), theme.id, label=form.label.data or "",
        active=bool(form.active.data), actor=current_user.email),
        (themes.ThemeError,), None, lambda _saved: _("Saved."), ".theme_list")
    if done is not None:
        return done
    return render_template("concerns/theme_edit.html", form=form, theme=theme), _status()


@groups_bp.route("/", methods=["GET", "POST"])
@role_required("admin")
def group_list() -> tuple[str, int] | Response:
    form = CategoryForm()
    done = _save_label(form, lambda: professional_groups.add_group(
        db(), clock(), label=form.label.data or "", actor=current_user.email),
        (services.FieldError,), group_choices,
        lambda group: _("Added the professional group “%(label)s”.", label=group.label),
        ".group_list")
    if done is not None:
        return done
    rows = professional_groups.list_groups(db(), active_only=False)
    return render_template("concerns/professional_groups.html", form=form,
                           groups=rows), _status()


@groups_bp.route("/<int:group_id>", methods=["GET", "POST"])
@role_required("admin")
def group_edit(group_id: int) -> tuple[str, int] | Response:
    group = db().get(ProfessionalGroup, group_id) or abort(404)
    form = CategoryEditForm(obj=group)
    done = _save_label(form, lambda: professional_groups.update_group(
        db(), clock(), group.id, label=form.label.data or "",
        active=bool(form.active.data), actor=current_user.email),
        (services.ConcernError,), group_choices, lambda _saved: _("Saved."), ".group_list")
    if done is not None:
        return done
    return render_template("concerns/professional_group_edit.html", form=form,
                           group=group), _status()
