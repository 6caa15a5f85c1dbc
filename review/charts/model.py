"""The figures a chart draws: the published values, hidden ones as None."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

NOT_SHOWN = "not shown"


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart and the same data as a plain table."""

    id: str
    svg: Markup
    title: str
    description: str
    table_headers: tuple[str, ...]
    table_rows: tuple[tuple[str, ...], ...]
    # Text equivalents of target lines and date marks, one sentence each, for the page.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DivergingRow:
    """One bar of a diverging chart: a published distribution, or None when hidden."""

    label: str
    n: int | None
    shares: Sequence[float | None] | None
    # A question worded negatively: its answers are drawn the other way round, so that
    # more favourable is to the right on every row (its data table keeps answer order).
    reversed: bool = False


@dataclass(frozen=True)
class Series:
    """One named series; None marks a hidden (or empty) point."""

    label: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class TargetLine:
    """A goal's target drawn across a line chart, in the chart's own units."""

    value: float
    label: str  # e.g. "Goal: at least 75%"


@dataclass(frozen=True)
class DateMark:
    """A dated mark on a line chart: an action taken, or a goal's due date."""

    day: dt.date
    label: str
    kind: str = "action"  # "action" or "due"
