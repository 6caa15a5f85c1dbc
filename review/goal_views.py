"""Goals and the actions log: pages, forms and exports (reviewers and admins).

Registered on the review blueprint; the overview and trends pages in
`review.views` read the same progress objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from review import goals
from review.forms import NOT_NEEDED, ActionForm, ArchiveForm, GoalForm
from review.goals import ActionSpec, GoalError, GoalSpec
from review.models import GAP, SURVEY_METRICS, Goal
from review.views import FORMAT, REVIEW_ROLES, _export, _export_links, _or_404, bp
from speakup.web import clock, db, role_required, settings, writes

T = TypeVar("T")


@bp.app_template_global("goal_definitions")
def goal_definitions() -> dict[str, str]:
    return goals.DEFINITIONS


def _progress(archived: bool = False) -> list[goals.GoalProgress]:
    return goals.goal_progress(db(), settings().min_group_size, clock().today(),
                               archived=archived)


def _goal_form(**kwargs: Any) -> GoalForm:
    form = GoalForm(**kwargs)
    form.row.choices = [NOT_NEEDED, *(SelectChoice(v, t) for v, t in goals.row_choices(db()))]
    form.pair.choices = [NOT_NEEDED, *(SelectChoice(v, t) for v, t in goals.pair_choices(db()))]
    return form


def _goal_spec(form: GoalForm) -> GoalSpec:
    survey_id = row_id = dimension_id = first = second = None
    if form.metric.data in SURVEY_METRICS and form.row.data:
        survey, _sep, row_id = form.row.data.partition(":")
        survey_id = int(survey)
        if form.metric.data == GAP and form.pair.data:
            pair_survey, dimension_id, first, second = form.pair.data.split(":")
            if pair_survey != survey:
                dimension_id = first = second = None  # refused by check_goal
    return GoalSpec(
        label=form.label.data or "", metric=form.metric.data or "", target=form.target.data,
        direction=form.direction.data or "", due_on=form.due_on.data,
        owner=form.owner.data or "", note=form.note.data or "", survey_id=survey_id,
        row_id=row_id, dimension_id=dimension_id, first_group=first, second_group=second,
    )  # fmt: skip


def _show_problems(form: Any, error: GoalError) -> None:
    """Put the service's problems next to their fields; the typed text stays in the form."""
    db().rollback()
    for name, message in error.problems:
        field = getattr(form, name, None)
        if field is None:
            field = next(iter(form))
        field.errors = [*field.errors, message]


def _valid(form: Any, check: Callable[[], object]) -> bool:
    """Validate the form and, when it fails, still run the service's own checks.

    Every problem is then shown at once: before, a missing scale or question appeared
    only after the form's other errors were fixed. A field keeps its form error first.
    """
    if form.validate_on_submit():
        return True
    if form.is_submitted():
        try:
            check()
        except GoalError as error:
            for name, message in error.problems:
                field = getattr(form, name, None)
                if field is not None and not field.errors:
                    field.errors = [message]
        except ValueError:
            pass  # a value the form already refused; its error is shown
    return False


def _save(form: Any, save: Callable[[], T], saying: Callable[[T], str],
          then: str) -> Response | None:
    """Run a change; if the service accepts it, commit, say so and go to `then`.

    If it refuses, its problems go next to their fields and None tells the view to show
    the form again with what was typed.
    """
    try:
        saved = save()
    except GoalError as error:
        _show_problems(form, error)
        return None
    db().commit()
    flash(saying(saved), "info")
    return redirect(url_for(then))


def _goals_page(form: GoalForm, status: int = 200) -> tuple[str, int]:
    return render_template(
        "review/goals.html", form=form, progress=_progress(),
        archived=_progress(archived=True), archive_form=ArchiveForm(),
        exports=_export_links("review.goals_export"),
    ), status


@bp.route("/goals", methods=["GET", "POST"])
@role_required(*REVIEW_ROLES)
def goals_page() -> Response | tuple[str, int]:
    form = _goal_form()
    if _valid(form, lambda: goals.check_goal(db(), _goal_spec(form))) and (done := _save(
        form, lambda: goals.create_goal(db(), clock(), _goal_spec(form), actor=current_user.email),
        lambda goal: _("Goal “%(label)s” saved.", label=goal.label), "review.goals_page",
    )):  # fmt: skip
        return done
    return _goals_page(form, 400 if form.errors else 200)


def _goal(goal_id: int) -> Goal:
    try:
        return goals.get_goal(db(), goal_id)
    except GoalError as error:
        _or_404(error)  # type: ignore[arg-type]


def _fill(form: GoalForm, goal: Goal) -> None:
    for name in ("label", "metric", "direction", "target", "due_on", "owner", "note"):
        getattr(form, name).data = getattr(goal, name)
    if goal.survey_id is not None:
        form.row.data = f"{goal.survey_id}:{goal.row_id}"
    if goal.metric == GAP:
        form.pair.data = f"{goal.survey_id}:{goal.dimension_id}:{goal.first_group}:" \
                         f"{goal.second_group}"


@bp.route("/goals/<int:goal_id>/edit", methods=["GET", "POST"])
@role_required(*REVIEW_ROLES)
def goal_edit(goal_id: int) -> Response | tuple[str, int]:
    goal = _goal(goal_id)
    form = _goal_form()
    if not form.is_submitted():
        _fill(form, goal)
    elif _valid(form, lambda: goals.check_goal(db(), _goal_spec(form))) and (done := _save(
        form, lambda: goals.edit_goal(db(), clock(), goal_id, _goal_spec(form),
                                      actor=current_user.email),
        lambda saved: _("Goal “%(label)s” saved.", label=saved.label), "review.goals_page",
    )):  # fmt: skip
        return done
    status = 400 if form.errors else 200
    return render_template("review/goal_edit.html", form=form, goal=goal), status


@bp.route("/goals/<int:goal_id>/archive", methods=["POST"])
@role_required(*REVIEW_ROLES)
def goal_archive(goal_id: int) -> Response:
    _goal(goal_id)
    form = ArchiveForm()
    if form.validate_on_submit():
        archived = form.archived.data != "0"
        goal = goals.archive_goal(db(), clock(), goal_id, actor=current_user.email,
                                  archived=archived)
        db().commit()
        flash(_("Goal “%(label)s” archived.", label=goal.label) if archived else
              _("Goal “%(label)s” restored.", label=goal.label), "info")
    return redirect(url_for("review.goals_page"))


@bp.route(f"/goals.{FORMAT}")
@writes  # every export is audited
@role_required(*REVIEW_ROLES)
def goals_export(fmt: str) -> Response:
    k = settings().min_group_size
    table = goals.goals_table([*_progress(), *_progress(archived=True)], k)
    meta = {"title": "Goals", "minimum_group_size": k}
    return _export(fmt, "speakup-goals", meta, [table], definitions=goals.DEFINITIONS)


# --------------------------------------------------------------------------
# Actions


def _action_form(goal_ids: tuple[int, ...] = ()) -> ActionForm:
    form = ActionForm()
    # Goals still pursued, plus any archived goal the action is already linked to.
    chosen = [g for g in goals.list_goals(db(), archived=None)
              if not g.archived or g.id in goal_ids]
    form.goals.choices = [SelectChoice(g.id, g.label) for g in chosen]
    return form


def _action_spec(form: ActionForm) -> ActionSpec:
    return ActionSpec(form.taken_on.data, form.title.data or "", form.description.data or "",
                      tuple(form.goals.data or ()))


@bp.route("/actions", methods=["GET", "POST"])
@role_required(*REVIEW_ROLES)
def actions_page() -> Response | tuple[str, int]:
    form = _action_form()
    if _valid(form, lambda: goals.check_action(db(), _action_spec(form))) and (done := _save(
        form, lambda: goals.create_action(db(), clock(), _action_spec(form),
                                          actor=current_user.email),
        lambda _action: _("Action logged."), "review.actions_page",
    )):  # fmt: skip
        return done
    status = 400 if form.errors else 200
    return render_template("review/actions.html", form=form, actions=goals.list_actions(db()),
                           exports=_export_links("review.actions_export")), status


@bp.route("/actions/<int:action_id>/edit", methods=["GET", "POST"])
@role_required(*REVIEW_ROLES)
def action_edit(action_id: int) -> Response | tuple[str, int]:
    try:
        action = goals.get_action(db(), action_id)
    except GoalError as error:
        _or_404(error)  # type: ignore[arg-type]
    linked = tuple(g.id for g in action.goals)
    form = _action_form(linked)
    if not form.is_submitted():
        form.taken_on.data, form.title.data = action.taken_on, action.title
        form.description.data, form.goals.data = action.description, list(linked)
    elif _valid(form, lambda: goals.check_action(db(), _action_spec(form))) and (done := _save(
        form, lambda: goals.edit_action(db(), clock(), action_id, _action_spec(form),
                                        actor=current_user.email),
        lambda _action: _("Action saved."), "review.actions_page",
    )):  # fmt: skip
        return done
    status = 400 if form.errors else 200
    return render_template("review/action_edit.html", form=form, action=action), status


@bp.route(f"/actions.{FORMAT}")
@writes  # every export is audited
@role_required(*REVIEW_ROLES)
def actions_export(fmt: str) -> Response:
    table = goals.actions_table(goals.list_actions(db()))
    return _export(fmt, "speakup-actions", {"title": "Actions (you said, we did)"}, [table])
