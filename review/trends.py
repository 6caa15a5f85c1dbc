"""Trends over published rounds: each scale per group, and the gap between two groups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from review import charts
from review.goals import ActionView, GoalProgress
from review.models import FAVOURABLE, GAP
from review.reports import (
    EVERYONE,
    ReviewError,
    default_gap_pair,
    gap_dimension,
    headline_value,
)
from review.safety import checked_round
from review.tables import COUNT, MEAN, PERCENT, POINTS, Column, Table, TableRow, not_shown_note
from surveys.itembank import ItemBankError, load_item_bank
from surveys.published import Cell, Dimension, PublishedRound, Row

SERIES_PER_CHART = len(charts.LINE_COLOURS)


@dataclass(frozen=True)
class TrendBlock:
    """One scale (or yes/no question) over the rounds."""

    row: Row
    kind: str  # "scale" or "item"
    measure_label: str  # "Favourable" or "Answering yes"
    headline_charts: tuple[charts.Chart, ...]
    mean_charts: tuple[charts.Chart, ...]
    gap: charts.Chart | None


@dataclass(frozen=True)
class Trends:
    rounds: list[PublishedRound]
    dimensions: list[Dimension]
    dimension: Dimension | None
    gap_dimension: Dimension | None
    pair: tuple[str, str] | None
    pair_labels: tuple[str, str] | None
    blocks: list[TrendBlock]
    series_table: Table
    gap_table: Table
    hidden_note: str


def _scale_range(response_scale: str) -> tuple[float, float]:
    try:
        scale = load_item_bank().scale(response_scale)
    except ItemBankError:
        return 1.0, 7.0
    return float(scale.min_value), float(scale.max_value)


def _cell(row: Row | None, dimension_id: str | None, group_id: str | None) -> Cell | None:
    if row is None:
        return None
    cell = row.overall if group_id is None else row.by_group.get(dimension_id or "", {}).get(
        group_id
    )
    return cell if cell is not None and cell.n else None


def _chunks(series: Sequence[charts.Series]) -> list[list[charts.Series]]:
    return [list(series[i : i + SERIES_PER_CHART]) for i in range(0, len(series), SERIES_PER_CHART)]


def _rows_over_rounds(rounds: Sequence[PublishedRound]) -> list[tuple[str, str]]:
    """(row id, kind) of every scale and yes/no question, in the latest round's order."""
    seen: list[tuple[str, str]] = []
    for published in reversed(rounds):
        for row in published.scales:
            if (row.id, "scale") not in seen:
                seen.append((row.id, "scale"))
        for row in published.items:
            if row.response_scale == "yes_no" and (row.id, "item") not in seen:
                seen.append((row.id, "item"))
        break  # the latest round's rows define the page; older rounds fill in
    return seen


def resolve_pair(dimension: Dimension | None, first: str | None,
                 second: str | None) -> tuple[str, str] | None:
    """Return the two groups to compare, falling back to the default pair."""
    if dimension is None:
        return None
    ids = [g.id for g in dimension.groups]
    if first in ids and second in ids and first != second:
        return first, second  # type: ignore[return-value]
    return default_gap_pair(dimension)


def build_trends(
    rounds: Sequence[PublishedRound],
    dimension_id: str | None,  # None: the headline dimension; "": no groups
    first: str | None = None,
    second: str | None = None,
    goals: Sequence[GoalProgress] = (),
    actions: Sequence[ActionView] = (),
) -> Trends:
    """Build every trend chart and table for the rounds of one survey.

    A goal on a measure drawn here adds its target line and due date to that
    measure's chart (a gap goal to the gap chart, when it compares the same two
    groups); actions linked to those goals, and actions linked to no goal, are
    marked on the same charts by date.
    """
    rounds = [checked_round(r) for r in rounds]
    if not rounds:
        raise ReviewError("no published rounds")
    latest = rounds[-1]
    dimensions = list(latest.dimensions)
    dimension = None
    if dimension_id is None:
        # Not asked: lines per group of the headline dimension; "" asks for everyone only.
        default = gap_dimension(dimensions)
        dimension_id = default.id if default else ""
    if dimension_id:
        dimension = next((d for d in dimensions if d.id == dimension_id), None)
        if dimension is None:
            raise ReviewError(f"no breakdown {dimension_id!r}")
    gap_dim = dimension or gap_dimension(dimensions)
    pair = resolve_pair(gap_dim, first, second)
    names = {g.id: g.label for g in gap_dim.groups} if gap_dim else {}
    pair_labels = (names[pair[0]], names[pair[1]]) if pair else None
    x_labels = [r.label for r in rounds]
    x_dates = [dt.date.fromisoformat(r.opens_on) for r in rounds]
    note = not_shown_note(latest.k)

    series_rows: list[TableRow] = []
    gap_rows: list[TableRow] = []
    blocks: list[TrendBlock] = []
    groups: list[tuple[str | None, str]] = [(None, EVERYONE)]
    if dimension is not None:
        groups += [(g.id, g.label) for g in dimension.groups]

    for b, (row_id, kind) in enumerate(_rows_over_rounds(rounds)):
        per_round = [_row_in(r, row_id, kind) for r in rounds]
        template = next(r for r in reversed(per_round) if r is not None)
        yes_no = template.response_scale == "yes_no"
        measure = "Answering yes" if yes_no else "Favourable"
        headline_series, mean_series = [], []
        for group_id, group_label in groups:
            values, means = [], []
            for published, row in zip(rounds, per_round, strict=True):
                cell = _cell(row, dimension.id if dimension else None, group_id)
                value = headline_value(row, cell) if row else None
                values.append(None if value is None else value * 100)
                means.append(cell.mean if cell else None)
                series_rows.append(TableRow({
                    "measure_id": row_id,
                    "measure": template.label,
                    "round_id": published.round_id,
                    "round": published.label,
                    "dimension": dimension.name if (dimension and group_id) else "",
                    "group": group_label,
                    "n": cell.n if cell else None,
                    "favourable_pct": cell.favourable if cell else None,
                    "yes_pct": cell.yes_share if cell else None,
                    "mean": cell.mean if cell else None,
                }, hidden=cell is None))
            headline_series.append(charts.Series(group_label, values))
            mean_series.append(charts.Series(group_label, means))
        suffix = "" if dimension is None else f" by {dimension.name.lower()}"
        row_goals = [g for g in goals if g.survey_id == latest.survey_id and g.row_id == row_id]
        fav_goals = [g for g in row_goals if g.metric == FAVOURABLE]
        gap_goals = [g for g in row_goals if g.metric == GAP and gap_dim is not None and pair
                     and g.dimension_id == gap_dim.id and set(g.pair or ()) == set(pair)]
        headline_charts = tuple(
            charts.line_chart(
                f"{template.label}: {measure.lower()} (%){suffix}", x_labels, chunk, 0, 100,
                f"{measure} (%)", id_prefix=f"trend-{b}-fav-{c}",
                # Goals are for everyone: drawn on the chart holding the "Everyone" line.
                **(_goal_marks(fav_goals, actions, x_dates, percent=True) if c == 0 else {}),
            )
            for c, chunk in enumerate(_chunks(headline_series))
        )  # fmt: skip
        mean_charts: tuple[charts.Chart, ...] = ()
        if not yes_no:
            low, high = _scale_range(template.response_scale)
            mean_charts = tuple(
                charts.line_chart(
                    f"{template.label}: mean score{suffix}", x_labels, chunk, low, high,
                    f"Mean ({low:g} to {high:g})", "{:.1f}", id_prefix=f"trend-{b}-mean-{c}",
                )
                for c, chunk in enumerate(_chunks(mean_series))
            )  # fmt: skip
        gap = None
        if gap_dim is not None and pair and pair_labels:
            firsts, seconds = [], []
            for published, row in zip(rounds, per_round, strict=True):
                a = headline_value(row, _cell(row, gap_dim.id, pair[0])) if row else None
                z = headline_value(row, _cell(row, gap_dim.id, pair[1])) if row else None
                firsts.append(None if a is None else a * 100)
                seconds.append(None if z is None else z * 100)
                gap_value = None if a is None or z is None else (a - z) * 100
                gap_rows.append(TableRow({
                    "measure_id": row_id,
                    "measure": template.label,
                    "round_id": published.round_id,
                    "round": published.label,
                    "dimension": gap_dim.name,
                    "first_group": pair_labels[0],
                    "second_group": pair_labels[1],
                    "first_pct": a,
                    "second_pct": z,
                    "gap_pts": gap_value,
                }, hidden=gap_value is None))
            gap = charts.gap_chart(
                f"{template.label}: gap in {measure.lower()} share, "
                f"{pair_labels[0]} minus {pair_labels[1]}",
                x_labels,
                charts.Series(pair_labels[0], firsts),
                charts.Series(pair_labels[1], seconds),
                y_extent=100.0 if any(
                    a is not None and z is not None and abs(a - z) > 50
                    for a, z in zip(firsts, seconds, strict=True)
                ) else None,
                id_prefix=f"trend-{b}-gap",
                **_goal_marks(gap_goals, actions, x_dates, percent=False),
            )
        blocks.append(TrendBlock(template, kind, measure, headline_charts, mean_charts, gap))

    series_table = Table("trends", "Scores over rounds", SERIES_COLUMNS, tuple(series_rows), note)
    gap_table = Table("gaps", "Gap between groups over rounds", GAP_COLUMNS, tuple(gap_rows), note,
                      description="A gap is not shown when either group is not shown.")
    return Trends(rounds, dimensions, dimension, gap_dim, pair, pair_labels, blocks, series_table,
                  gap_table, note)


def _goal_marks(goals: Sequence[GoalProgress], actions: Sequence[ActionView],
                x_dates: Sequence[dt.date], *, percent: bool) -> dict[str, object]:
    """Target lines, due dates and action marks for one chart (empty without goals or actions).

    A gap goal bounds the size of the gap, so its target is drawn on both sides of zero.
    """
    targets: list[charts.TargetLine] = []
    marks: list[charts.DateMark] = []
    for goal in goals:
        if percent:
            targets.append(charts.TargetLine(float(goal.target), f"Goal: {goal.target_text}"))
        else:
            targets += [charts.TargetLine(float(v), f"Goal: gap {goal.target_text}")
                        for v in sorted({goal.target, -goal.target}, reverse=True)]
        marks.append(charts.DateMark(goal.due_on, goal.label, "due"))
    ids = {g.goal_id for g in goals}
    for action in actions:
        if not action.goal_ids or ids & set(action.goal_ids):
            marks.append(charts.DateMark(action.taken_on, action.title))
    if not targets and not marks:
        return {}
    return {"targets": targets, "marks": marks, "x_dates": x_dates}


def blocks_to_show(view: Trends, measure: str | None) -> list[TrendBlock]:
    """Every block, or with lines per group one measure per page (``measure``, default the first).

    A breakdown's lines, gaps and means for every measure weigh over 200 KB of HTML.
    """
    if view.dimension is None or not view.blocks:
        return view.blocks
    wanted = measure or view.blocks[0].row.id
    shown = [b for b in view.blocks if b.row.id == wanted]
    if not shown:
        raise ReviewError(f"no measure {measure!r} in these trends")
    return shown


def _row_in(published: PublishedRound, row_id: str, kind: str) -> Row | None:
    rows = published.scales if kind == "scale" else published.items
    return next((r for r in rows if r.id == row_id), None)


SERIES_COLUMNS = (
    Column("measure_id", "Id"),
    Column("measure", "Scale or question"),
    Column("round_id", "Round id"),
    Column("round", "Round"),
    Column("dimension", "Breakdown"),
    Column("group", "Group"),
    Column("n", "Answers", COUNT),
    Column("favourable_pct", "Favourable", PERCENT),
    Column("yes_pct", "Answering yes", PERCENT),
    Column("mean", "Mean", MEAN),
)

GAP_COLUMNS = (
    Column("measure_id", "Id"),
    Column("measure", "Scale or question"),
    Column("round_id", "Round id"),
    Column("round", "Round"),
    Column("dimension", "Breakdown"),
    Column("first_group", "First group"),
    Column("second_group", "Second group"),
    Column("first_pct", "First group", PERCENT),
    Column("second_pct", "Second group", PERCENT),
    Column("gap_pts", "Gap (percentage points)", POINTS),
)
