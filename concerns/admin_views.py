"""Administrators' page for the list of concern categories (every change is audited)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from concerns import services
from concerns.forms import CategoryEditForm, CategoryForm
from concerns.models import ConcernCategory
from concerns.views import category_choices
from speakup.web import clock, db, role_required

bp = Blueprint("concern_admin", __name__, url_prefix="/admin/concern-categories")


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
