"""Administrators' pages for concern categories, themes, professional groups and handlers'
names (audited)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from concerns import conflicts, professional_groups, readers, services, themes
from concerns.forms import CategoryEditForm, CategoryForm, DisplayNameForm, ThemeEditForm
from concerns.models import ConcernCategory, ConcernTheme, ProfessionalGroup
from concerns.views import category_choices, concern_config, group_choices, handler_choices
from speakup.web import clock, db, role_required

bp = Blueprint("concern_admin", __name__, url_prefix="/admin/concern-categories")
handlers_bp = Blueprint("concern_handlers_admin", __name__, url_prefix="/admin/concern-handlers")
themes_bp = Blueprint("concern_themes_admin", __name__, url_prefix="/admin/concern-themes")
groups_bp = Blueprint("concern_groups_admin", __name__,
                      url_prefix="/admin/concern-professional-groups")


@bp.route("/", methods=["GET", "POST"])
@role_required("admin")
def categories() -> tuple[str, int] | Response:
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            category = services.add_category(db(), clock(), label=form.label.data or "",
                                             actor=current_user.email)
        except services.FieldError as exc:
            db().rollback()
            form.label.errors = [str(exc)]
        else:
            db().commit()
            category_choices().clear()
            flash(f"Added the category “{category.label}”.", "info")
            return redirect(url_for(".categories"))
    status = 400 if request.method == "POST" else 200
    rows = services.list_categories(db(), active_only=False)
    return render_template("concerns/categories.html", form=form, categories=rows), status


@bp.route("/<int:category_id>", methods=["GET", "POST"])
@role_required("admin")
def edit(category_id: int) -> tuple[str, int] | Response:
    category = db().get(ConcernCategory, category_id) or abort(404)
    form = CategoryEditForm(obj=category)
    if form.validate_on_submit():
        try:
            services.update_category(db(), clock(), category.id, label=form.label.data or "",
                                     active=bool(form.active.data), actor=current_user.email)
        except services.FieldError as exc:
            db().rollback()
            form.label.errors = [str(exc)]
        else:
            db().commit()
            category_choices().clear()
            flash("Saved.", "info")
            return redirect(url_for(".categories"))
    status = 400 if request.method == "POST" else 200
    return render_template("concerns/category_edit.html", form=form, category=category), status


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
            form.display_name.errors = [str(exc)]
        else:
            db().commit()
            handler_choices().clear()
            flash("Saved.", "info")
            return redirect(url_for(".handlers"))
    return _handlers_page(user_id, form, 400)


@themes_bp.route("/", methods=["GET", "POST"])
@role_required("admin")
def theme_list() -> tuple[str, int] | Response:
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            theme = themes.add_theme(db(), clock(), label=form.label.data or "",
                                     actor=current_user.email)
        except themes.ThemeError as exc:
            db().rollback()
            form.label.errors = [str(exc)]
        else:
            db().commit()
            flash(f"Added the theme “{theme.label}”.", "info")
            return redirect(url_for(".theme_list"))
    status = 400 if request.method == "POST" else 200
    rows = themes.list_themes(db(), active_only=False)
    return render_template("concerns/themes.html", form=form, themes=rows), status


@themes_bp.route("/<int:theme_id>", methods=["GET", "POST"])
@role_required("admin")
def theme_edit(theme_id: int) -> tuple[str, int] | Response:
    theme = db().get(ConcernTheme, theme_id) or abort(404)
    form = ThemeEditForm(obj=theme)
    if form.validate_on_submit():
        try:
            themes.update_theme(db(), clock(), theme.id, label=form.label.data or "",
                                active=bool(form.active.data), actor=current_user.email)
        except themes.ThemeError as exc:
            db().rollback()
            form.label.errors = [str(exc)]
        else:
            db().commit()
            flash("Saved.", "info")
            return redirect(url_for(".theme_list"))
    status = 400 if request.method == "POST" else 200
    return render_template("concerns/theme_edit.html", form=form, theme=theme), status


@groups_bp.route("/", methods=["GET", "POST"])
@role_required("admin")
def group_list() -> tuple[str, int] | Response:
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            group = professional_groups.add_group(db(), clock(), label=form.label.data or "",
                                                  actor=current_user.email)
        except services.FieldError as exc:
            db().rollback()
            form.label.errors = [str(exc)]
        else:
            db().commit()
            group_choices().clear()
            flash(f"Added the professional group “{group.label}”.", "info")
            return redirect(url_for(".group_list"))
    status = 400 if request.method == "POST" else 200
    rows = professional_groups.list_groups(db(), active_only=False)
    return render_template("concerns/professional_groups.html", form=form,
                           groups=rows), status


@groups_bp.route("/<int:group_id>", methods=["GET", "POST"])
@role_required("admin")
def group_edit(group_id: int) -> tuple[str, int] | Response:
    group = db().get(ProfessionalGroup, group_id) or abort(404)
    form = CategoryEditForm(obj=group)
    if form.validate_on_submit():
        try:
            professional_groups.update_group(db(), clock(), group.id,
                                             label=form.label.data or "",
                                             active=bool(form.active.data),
                                             actor=current_user.email)
        except services.ConcernError as exc:
            db().rollback()
            form.label.errors = [str(exc)]
        else:
            db().commit()
            group_choices().clear()
            flash("Saved.", "info")
            return redirect(url_for(".group_list"))
    status = 400 if request.method == "POST" else 200
    return render_template("concerns/professional_group_edit.html", form=form,
                           group=group), status
