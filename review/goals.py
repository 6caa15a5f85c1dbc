"""Goals linked to published measures, their progress, and the actions log.

A goal follows one figure Speak Up already publishes: a scale's or question's
favourable share in a survey's published rounds, the gap between two groups of a
breakdown, or a quarterly concern-statistics figure. Its progress is read from
those publications only: a figure that is hidden, or not yet published, makes
the goal "not measurable" — never guessed, never interpolated. Plain functions
taking a Session; they never commit (the caller owns the transaction) and every
change goes to the audit log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from concerns.stats import QuarterStats, published_stats
from review.models import (
    AT_LEAST,
    AT_MOST,
    DIRECTIONS,
    FAVOURABLE,
    GAP,
    METRICS,
    QUARTER_METRICS,
    SURVEY_METRICS,
    Action,
    Goal,
)
from review.reports import headline_value, row_gap
from review.safety import checked_mechanism_stats, checked_round
from review.tables import (
    DATE,
    PERCENT,
    POINTS,
    Column,
    Table,
    TableRow,
    change_text,
    not_shown_note,
)
from speakup import audit
from speakup.clock import Clock
from surveys.published import Dimension, PublishedRound, Row, published_rounds

MAX_LABEL, MAX_OWNER, MAX_NOTE = 200, 200, 2000
MAX_TITLE, MAX_DESCRIPTION = 200, 4000
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)

ON_TRACK, OFF_TRACK, NOT_MEASURABLE = "on track", "off track", "not measurable"
NOT_YET_PUBLISHED = "not yet published"

METRIC_LABELS = {
    FAVOURABLE: "Favourable % of a scale or question (survey)",
    GAP: "Gap between two groups of a breakdown, in percentage points (survey)",
    "acknowledged_within_7_days": "Concerns acknowledged within 7 days %",
    "feedback_within_3_months": "Concerns with feedback within 3 months %",
    "would_speak_up_again": "Reporters who would speak up again %",
}
DIRECTION_LABELS = {AT_LEAST: "at least", AT_MOST: "at most"}

# One sentence per word or figure the goal tables show (pages and exports).
DEFINITIONS = {
    "on_track": "On track: the latest published value, rounded as the page shows it, "
                "already meets the target.",
    "off_track": "Off track: the latest published value does not meet the target yet.",
    "not_measurable": "Not measurable: the latest figure is hidden (too few people, or "
                      "hidden so a small group cannot be worked out) or nothing has been "
                      "published yet; it is never guessed.",
    "change": "Change: the latest published value minus the one published before it, in "
              "percentage points (blank when either is not shown).",
    "gap": "A gap goal follows the size of the difference between the two groups’ "
           "favourable shares, in percentage points, whichever group is higher.",
    "due": "Due: the goal counts the latest round opened, or the quarter ending, by this date.",
}  # fmt: skip


class GoalError(ValueError):
    """Raise when a goal or an action is not valid; ``problems`` are (field, message)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = list(problems)


# --------------------------------------------------------------------------
# What a goal can follow: the rows and group pairs of each survey's latest round


def _latest_rounds(session: Session) -> dict[int, PublishedRound]:
    latest: dict[int, PublishedRound] = {}
    for published in published_rounds(session):  # oldest first within each survey
        latest[published.survey_id] = published
    return latest


def _rows(published: PublishedRound) -> list[tuple[Row, str]]:
    return [(r, "scale") for r in published.scales] + [(r, "question") for r in published.items]


def _find_row(published: PublishedRound, row_id: str | None) -> Row | None:
    return next((r for r, _ in _rows(published) if r.id == row_id), None)


def _find_dimension(published: PublishedRound, dimension_id: str | None) -> Dimension | None:
    return next((d for d in published.dimensions if d.id == dimension_id), None)


def row_choices(session: Session) -> list[tuple[str, str]]:
    """("survey:row", label) for every scale and question of each survey's latest round."""
    out = []
    for survey_id, published in sorted(_latest_rounds(session).items()):
        for row, kind in _rows(published):
            out.append((f"{survey_id}:{row.id}",
                        f"{published.survey_title}: {row.label} ({kind})"))
    return out


def pair_choices(session: Session) -> list[tuple[str, str]]:
    """("survey:dimension:first:second", label) for every two groups of each breakdown."""
    out = []
    for survey_id, published in sorted(_latest_rounds(session).items()):
        for dimension in published.dimensions:
            groups = [g for g in dimension.groups if g.id != "prefer_not"]
            for i, first in enumerate(groups):
                for second in groups[i + 1:]:
                    out.append((f"{survey_id}:{dimension.id}:{first.id}:{second.id}",
                                f"{published.survey_title}: {dimension.name}: "
                                f"{first.label} and {second.label}"))
    return out


# --------------------------------------------------------------------------
# Creating, editing and archiving goals


@dataclass(frozen=True)
class GoalSpec:
    label: str
    metric: str
    target: int | None
    direction: str
    due_on: dt.date | None
    owner: str
    note: str = ""
    survey_id: int | None = None
    row_id: str | None = None
    dimension_id: str | None = None
    first_group: str | None = None
    second_group: str | None = None


def _text_problems(field: str, name: str, value: str, limit: int, required: bool = True
                   ) -> list[tuple[str, str]]:
    if required and not value.strip():
        return [(field, f"Enter {name}.")]
    if len(value) > limit:
        return [(field, f"{name.capitalize()} must be at most {limit} characters "
                        f"(it has {len(value)}).")]
    return []


def _date_problems(field: str, value: dt.date | None, name: str) -> list[tuple[str, str]]:
    if value is None:
        return [(field, f"Enter {name} as a date.")]
    if not EARLIEST <= value <= LATEST:
        return [(field, f"Enter {name} between {EARLIEST.year} and {LATEST.year}.")]
    return []


def check_goal(session: Session, spec: GoalSpec) -> GoalSpec:
    """Return the spec cleaned up (survey fields only where they apply), or raise GoalError."""
    problems = _text_problems("label", "a name for the goal", spec.label, MAX_LABEL)
    problems += _text_problems("owner", "an owner (a role or team)", spec.owner, MAX_OWNER)
    problems += _text_problems("note", "the note", spec.note, MAX_NOTE, required=False)
    problems += _date_problems("due_on", spec.due_on, "the due date")
    if spec.direction not in DIRECTIONS:
        problems.append(("direction", "Choose at least or at most."))
    if spec.target is None or not 0 <= spec.target <= 100:
        problems.append(("target", "Enter a whole number from 0 to 100."))
    cleaned = GoalSpec(spec.label.strip(), spec.metric, spec.target, spec.direction,
                       spec.due_on, spec.owner.strip(), spec.note.strip())
    if spec.metric not in METRICS:
        problems.append(("metric", "Choose a measure."))
    elif spec.metric in SURVEY_METRICS:
        published = _latest_rounds(session).get(spec.survey_id or -1)
        if published is None or _find_row(published, spec.row_id) is None:
            problems.append(("row", "Choose a scale or question from a published survey."))
        else:
            cleaned = replace(cleaned, survey_id=spec.survey_id, row_id=spec.row_id)
            if spec.metric == GAP:
                dimension = _find_dimension(published, spec.dimension_id)
                groups = {g.id for g in dimension.groups} if dimension else set()
                if (spec.first_group not in groups or spec.second_group not in groups
                        or spec.first_group == spec.second_group):
                    problems.append(("pair", "Choose two groups of a breakdown of the same "
                                             "survey."))
                else:
                    cleaned = replace(cleaned, dimension_id=spec.dimension_id,
                                      first_group=spec.first_group,
                                      second_group=spec.second_group)
    if problems:
        raise GoalError(problems)
    return cleaned


def _goal_detail(goal: Goal) -> dict[str, object]:
    return {"label": goal.label, "metric": goal.metric, "survey_id": goal.survey_id,
            "row_id": goal.row_id, "dimension_id": goal.dimension_id,
            "groups": [goal.first_group, goal.second_group] if goal.metric == GAP else None,
            "target": goal.target, "direction": goal.direction,
            "due_on": goal.due_on.isoformat(), "owner": goal.owner}


def _apply(goal: Goal, spec: GoalSpec) -> None:
    for name, value in asdict(spec).items():
        setattr(goal, name, value)


def create_goal(session: Session, clock: Clock, spec: GoalSpec, *, actor: str) -> Goal:
    """Validate and add a goal; audited as "goal.create"."""
    cleaned = check_goal(session, spec)
    today = clock.today()
    goal = Goal(archived=False, created_on=today, updated_on=today)
    _apply(goal, cleaned)
    session.add(goal)
    session.flush()
    audit.record(session, clock, actor=actor, action="goal.create", subject=f"goal:{goal.id}",
                 detail=_goal_detail(goal))
    return goal


def get_goal(session: Session, goal_id: int) -> Goal:
    goal = session.get(Goal, goal_id)
    if goal is None:
        raise GoalError([("goal", f"There is no goal {goal_id}.")])
    return goal


def edit_goal(session: Session, clock: Clock, goal_id: int, spec: GoalSpec, *,
              actor: str) -> Goal:
    """Validate and change a goal; audited as "goal.edit" with what it was before."""
    goal = get_goal(session, goal_id)
    cleaned = check_goal(session, spec)
    before = _goal_detail(goal)
    _apply(goal, cleaned)
    goal.updated_on = clock.today()
    session.flush()
    audit.record(session, clock, actor=actor, action="goal.edit", subject=f"goal:{goal.id}",
                 detail={"before": before, "after": _goal_detail(goal)})
    return goal


def archive_goal(session: Session, clock: Clock, goal_id: int, *, actor: str,
                 archived: bool = True) -> Goal:
    """Archive a goal (or bring it back): it is kept, never deleted. Audited."""
    goal = get_goal(session, goal_id)
    goal.archived = archived
    goal.updated_on = clock.today()
    session.flush()
    audit.record(session, clock, actor=actor,
                 action="goal.archive" if archived else "goal.restore",
                 subject=f"goal:{goal.id}", detail={"label": goal.label})
    return goal


def list_goals(session: Session, *, archived: bool | None = False) -> list[Goal]:
    """Goals in the order they were made; ``archived=None`` lists all."""
    query = select(Goal).order_by(Goal.id)
    if archived is not None:
        query = query.where(Goal.archived.is_(archived))
    return list(session.scalars(query))


# --------------------------------------------------------------------------
# Progress, read from publications only


@dataclass(frozen=True)
class Reading:
    """One published value of a goal's measure: a share 0..1, None when hidden."""

    source: str  # the round's label ("November 2026") or the quarter ("2026-Q3")
    day: dt.date  # the round's opening date, or the quarter's last day
    value: float | None


@dataclass(frozen=True)
class GoalProgress:
    goal_id: int
    label: str
    metric: str
    measure: str  # the measure in words
    unit: str  # PERCENT, or POINTS for a gap
    target: int  # whole percent or points
    direction: str
    target_text: str  # "at least 75%"
    due_on: dt.date
    due_text: str
    owner: str
    note: str
    readings: tuple[Reading, ...]  # every published value, oldest first
    latest: Reading | None
    previous: Reading | None
    latest_text: str  # "72%", "8 pts", "not shown", "not yet published"
    change_text: str  # "+3 pts", "no change", "" when either value is not shown
    status: str  # ON_TRACK, OFF_TRACK or NOT_MEASURABLE
    status_reason: str
    past_due: bool
    archived: bool
    survey_id: int | None = None
    row_id: str | None = None
    dimension_id: str | None = None
    pair: tuple[str, str] | None = None
    survey_title: str = ""  # the survey its figure comes from ("" for concern figures)

    @property
    def value_text(self) -> str:
        """The latest value as shown (the name the staff results page reads)."""
        return self.latest_text

    @property
    def hidden(self) -> bool:
        """The latest published figure is not shown (as opposed to not yet published)."""
        return self.latest is not None and self.latest.value is None


def whole(share: float) -> int:
    """A share as whole percentage points, rounded half up as every page rounds."""
    return math.floor(share * 100 + 0.5)


def figure_text(share: float | None, unit: str) -> str:
    if share is None:
        return "not shown"
    return f"{whole(share)}%" if unit == PERCENT else f"{whole(share)} pts"


def _survey_readings(goal: Goal, rounds: Sequence[PublishedRound]) -> list[Reading]:
    out = []
    for published in rounds:
        row = _find_row(published, goal.row_id)
        if row is None:
            continue  # not asked in that round: nothing published for it
        if goal.metric == FAVOURABLE:
            value = headline_value(row, row.overall)
        else:
            gap = row_gap(row, goal.dimension_id or "",
                          (goal.first_group or "", goal.second_group or ""))
            value = None if gap is None else abs(gap)
        out.append(Reading(published.label, dt.date.fromisoformat(published.opens_on), value))
    return out


def _quarter_readings(goal: Goal, quarters: Sequence[QuarterStats]) -> list[Reading]:
    out = []
    for quarter in quarters:
        if not quarter.published:
            continue
        year, number = quarter.quarter.split("-Q")
        last_day = _quarter_end(int(year), int(number))
        out.append(Reading(quarter.quarter, last_day, getattr(quarter, goal.metric, None)))
    return out


def _quarter_end(year: int, quarter: int) -> dt.date:
    following = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return following - dt.timedelta(days=1)


def quarter_label(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _date_text(day: dt.date) -> str:
    return f"{day.day} {day:%B} {day.year}"


def _measure(goal: Goal, latest: dict[int, PublishedRound]) -> str:
    if goal.metric in QUARTER_METRICS:
        return METRIC_LABELS[goal.metric].removeprefix("Concerns ").capitalize()
    published = latest.get(goal.survey_id or -1)
    row = _find_row(published, goal.row_id) if published else None
    row_label = row.label if row else goal.row_id
    survey = published.survey_title if published else f"survey {goal.survey_id}"
    measure = "answering yes" if row and row.response_scale == "yes_no" else "favourable"
    if goal.metric == FAVOURABLE:
        return f"{row_label}: {measure} % ({survey})"
    dimension = _find_dimension(published, goal.dimension_id) if published else None
    names = {g.id: g.label for g in dimension.groups} if dimension else {}
    first = names.get(goal.first_group or "", goal.first_group)
    second = names.get(goal.second_group or "", goal.second_group)
    return (f"{row_label}: gap in {measure} % between {first} and {second} staff, "
            f"percentage points ({survey})")


def _progress(goal: Goal, readings: list[Reading], measure: str, today: dt.date) -> GoalProgress:
    unit = POINTS if goal.metric == GAP else PERCENT
    latest = readings[-1] if readings else None
    previous = readings[-2] if len(readings) > 1 else None
    if latest is None:
        status, reason, latest_text = NOT_MEASURABLE, NOT_YET_PUBLISHED, NOT_YET_PUBLISHED
    elif latest.value is None:
        status, reason, latest_text = NOT_MEASURABLE, f"not shown in {latest.source}", "not shown"
    else:
        shown = whole(latest.value)
        meets = shown >= goal.target if goal.direction == AT_LEAST else shown <= goal.target
        status = ON_TRACK if meets else OFF_TRACK
        reason = f"{figure_text(latest.value, unit)} in {latest.source}"
        latest_text = figure_text(latest.value, unit)
    change = change_text(latest.value if latest else None,
                         previous.value if previous else None, PERCENT)
    sign = "%" if unit == PERCENT else " pts"
    if goal.metric in QUARTER_METRICS:
        due_text = f"{quarter_label(goal.due_on)} (by {_date_text(goal.due_on)})"
    else:
        due_text = f"{_date_text(goal.due_on)} (latest round opened by then)"
    return GoalProgress(
        goal_id=goal.id, label=goal.label, metric=goal.metric, measure=measure, unit=unit,
        target=goal.target, direction=goal.direction,
        target_text=f"{DIRECTION_LABELS[goal.direction]} {goal.target}{sign}",
        due_on=goal.due_on, due_text=due_text, owner=goal.owner, note=goal.note,
        readings=tuple(readings), latest=latest, previous=previous, latest_text=latest_text,
        change_text=change, status=status, status_reason=reason,
        past_due=today > goal.due_on, archived=goal.archived,
        survey_id=goal.survey_id, row_id=goal.row_id, dimension_id=goal.dimension_id,
        pair=(goal.first_group, goal.second_group)  # type: ignore[arg-type]
        if goal.metric == GAP else None,
    )  # fmt: skip


def goal_progress(session: Session, k: int, today: dt.date, *,
                  archived: bool = False) -> list[GoalProgress]:
    """Every goal (not archived, unless asked) with its latest published value and status."""
    goals = list_goals(session, archived=archived)
    if not goals:
        return []
    by_survey: dict[int, list[PublishedRound]] = {}
    for published in published_rounds(session):
        by_survey.setdefault(published.survey_id, []).append(checked_round(published))
    latest = {survey_id: rounds[-1] for survey_id, rounds in by_survey.items()}
    quarters: list[QuarterStats] = []
    if any(g.metric in QUARTER_METRICS for g in goals):
        quarters = checked_mechanism_stats(published_stats(session, k, today)).quarters
    out = []
    for goal in goals:
        if goal.metric in QUARTER_METRICS:
            readings = _quarter_readings(goal, quarters)
        else:
            readings = _survey_readings(goal, by_survey.get(goal.survey_id or -1, []))
        progress = _progress(goal, readings, _measure(goal, latest), today)
        published = latest.get(goal.survey_id or -1)
        out.append(replace(progress, survey_title=published.survey_title if published else ""))
    return out


# --------------------------------------------------------------------------
# Actions


@dataclass(frozen=True)
class ActionSpec:
    taken_on: dt.date | None
    title: str
    description: str = ""
    goal_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ActionView:
    id: int
    taken_on: dt.date
    date_text: str
    title: str
    description: str
    goal_ids: tuple[int, ...]
    goal_labels: tuple[str, ...]

    @property
    def date(self) -> str:
        """The date as people read it (the name the staff results page reads)."""
        return self.date_text


def check_action(session: Session, spec: ActionSpec) -> list[Goal]:
    """Return the goals an action names, or raise GoalError with every problem."""
    return _check_action(session, spec)


def _check_action(session: Session, spec: ActionSpec) -> list[Goal]:
    problems = _date_problems("taken_on", spec.taken_on, "the date of the action")
    problems += _text_problems("title", "a title", spec.title, MAX_TITLE)
    problems += _text_problems("description", "the description", spec.description,
                               MAX_DESCRIPTION, required=False)
    wanted = set(spec.goal_ids)
    goals = list(session.scalars(select(Goal).where(Goal.id.in_(wanted)))) if wanted else []
    if len(goals) != len(wanted):
        problems.append(("goals", "Choose goals from the list."))
    if problems:
        raise GoalError(problems)
    return sorted(goals, key=lambda g: g.id)


def _action_detail(action: Action) -> dict[str, object]:
    return {"taken_on": action.taken_on.isoformat(), "title": action.title,
            "goal_ids": [g.id for g in action.goals]}


def create_action(session: Session, clock: Clock, spec: ActionSpec, *, actor: str) -> Action:
    """Validate and log an action; audited as "action.create"."""
    goals = _check_action(session, spec)
    today = clock.today()
    action = Action(taken_on=spec.taken_on, title=spec.title.strip(),
                    description=spec.description.strip(), created_on=today, updated_on=today,
                    goals=goals)
    session.add(action)
    session.flush()
    audit.record(session, clock, actor=actor, action="action.create",
                 subject=f"action:{action.id}", detail=_action_detail(action))
    return action


def get_action(session: Session, action_id: int) -> Action:
    action = session.get(Action, action_id)
    if action is None:
        raise GoalError([("action", f"There is no action {action_id}.")])
    return action


def edit_action(session: Session, clock: Clock, action_id: int, spec: ActionSpec, *,
                actor: str) -> Action:
    """Validate and change an action; audited as "action.edit" with what it was before."""
    action = get_action(session, action_id)
    goals = _check_action(session, spec)
    before = _action_detail(action)
    action.taken_on = spec.taken_on  # type: ignore[assignment]
    action.title = spec.title.strip()
    action.description = spec.description.strip()
    action.goals = goals
    action.updated_on = clock.today()
    session.flush()
    audit.record(session, clock, actor=actor, action="action.edit",
                 subject=f"action:{action.id}",
                 detail={"before": before, "after": _action_detail(action)})
    return action


def list_actions(session: Session) -> list[ActionView]:
    """Every action, newest first, with the labels of the goals it is linked to."""
    actions = session.scalars(
        select(Action).options(selectinload(Action.goals))
        .order_by(Action.taken_on.desc(), Action.id.desc())
    )
    return [
        ActionView(a.id, a.taken_on, _date_text(a.taken_on), a.title, a.description,
                   tuple(g.id for g in a.goals), tuple(g.label for g in a.goals))
        for a in actions
    ]


# --------------------------------------------------------------------------
# Tables for the exports (the pages read the same progress objects)


GOAL_COLUMNS = (
    Column("goal_id", "Goal id"),
    Column("goal", "Goal"),
    Column("measure", "Measure"),
    Column("survey", "Survey"),
    Column("direction", "Direction"),
    Column("target_pct", "Target", PERCENT),
    Column("target_pts", "Target gap (percentage points)", POINTS),
    Column("due_on", "Due", DATE),
    Column("owner", "Owner"),
    Column("latest_from", "Latest published"),
    Column("latest_pct", "Latest value", PERCENT),
    Column("latest_pts", "Latest gap (percentage points)", POINTS),
    Column("previous_from", "Published before"),
    Column("change_pts", "Change (percentage points)", POINTS),
    Column("status", "Status"),
    Column("status_reason", "Why"),
    Column("archived", "Archived"),
    Column("note", "Note"),
)


def _points(share: float | None) -> float | None:
    return None if share is None else share * 100


def goals_table(progress: Iterable[GoalProgress], k: int) -> Table:
    """The goals as one table: the Goals page's export."""
    rows = []
    for p in progress:
        gap = p.unit == POINTS
        latest = p.latest.value if p.latest else None
        change = None
        if p.latest and p.previous and p.latest.value is not None \
                and p.previous.value is not None:
            change = (p.latest.value - p.previous.value) * 100
        rows.append(TableRow({
            "goal_id": p.goal_id, "goal": p.label, "measure": p.measure,
            "survey": p.survey_title,
            "direction": DIRECTION_LABELS[p.direction],
            "target_pct": None if gap else p.target / 100,
            "target_pts": p.target if gap else None,
            "due_on": p.due_on.isoformat(), "owner": p.owner,
            "latest_from": p.latest.source if p.latest else NOT_YET_PUBLISHED,
            "latest_pct": None if gap else latest,
            "latest_pts": _points(latest) if gap else None,
            "previous_from": p.previous.source if p.previous else "",
            "change_pts": change, "status": p.status, "status_reason": p.status_reason,
            "archived": "yes" if p.archived else "no", "note": p.note,
        }, hidden=p.hidden))  # fmt: skip
    return Table("goals", "Goals", GOAL_COLUMNS, tuple(rows), not_shown_note(k),
                 description=" ".join(DEFINITIONS.values()))


ACTION_COLUMNS = (
    Column("action_id", "Action id"),
    Column("date", "Date", DATE),
    Column("title", "Action"),
    Column("description", "What was done"),
    Column("goals", "Linked goals"),
)


def actions_table(actions: Iterable[ActionView]) -> Table:
    """The actions log as one table, newest first: the Actions page's export."""
    rows = tuple(TableRow({"action_id": a.id, "date": a.taken_on.isoformat(), "title": a.title,
                           "description": a.description, "goals": "; ".join(a.goal_labels)})
                 for a in actions)
    return Table("actions", "Actions (you said, we did)", ACTION_COLUMNS, rows, "",
                 description="What the organisation did, on what date, and which goals it "
                             "serves.")
