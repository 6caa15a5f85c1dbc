"""Tables shared by the review pages and their CSV/JSON exports.

A page's service builds its tables once; the HTML template and the exports
read the very same objects, so a page and its export can never disagree about
what is shown. A hidden cell (and an empty group, which looks the same) is a
row with ``hidden=True`` whose figures are all None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# What a hidden or empty figure looks like on a page.
NOT_SHOWN = "not shown"

# Units decide how a figure is printed on a page and written to an export.
TEXT, COUNT, PERCENT, MEAN, DAYS, POINTS = "text", "count", "percent", "mean", "days", "points"
DATE = "date"  # an ISO date; exports leave the cell empty when a word stands there
UNITS = frozenset({TEXT, COUNT, PERCENT, MEAN, DAYS, POINTS, DATE})


def not_shown_note(k: int, what: str = "responses") -> str:
    """Return the legend for hidden and empty cells, naming both reasons a figure is hidden.

    A group of k or more can be hidden too (complementary suppression), so "fewer
    than k" alone would be wrong beside it.
    """
    return (f"{NOT_SHOWN}: either fewer than {k} {what}, or hidden as well so that a "
            "smaller group cannot be worked out by subtraction")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str = TEXT

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}")


@dataclass(frozen=True)
class TableRow:
    values: Mapping[str, Any]
    hidden: bool = False


@dataclass(frozen=True)
class Table:
    """One table: its columns, its rows and the note a hidden row carries."""

    id: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    hidden_note: str
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)


def percent_text(share: float) -> str:
    """Return a share 0..1 as a whole percentage, rounded half up as people round."""
    return f"{math.floor(share * 100 + 0.5)}%"


def display(value: Any, unit: str) -> str:
    """Return a figure as a page shows it; None is "not shown", words stay words."""
    if value is None:
        return NOT_SHOWN
    if isinstance(value, str):  # "not yet due", "not yet published": not a hidden figure
        return value
    if unit == PERCENT:
        return percent_text(value)
    if unit == MEAN:
        return f"{_half_up(value, 2):.2f}"
    if unit == DAYS:
        return f"{_half_up(value, 1):g}"
    if unit == POINTS:
        rounded = _half_up(value, 0)
        return "0" if rounded == 0 else f"{rounded:+.0f}"
    return str(value)


def export_value(value: Any, unit: str) -> Any:
    """Return a figure as an export writes it: percentages 0–100 to one decimal, means to two."""
    if value is None or isinstance(value, str):
        return value
    if unit == PERCENT:
        return _half_up(value * 100, 1)
    if unit == MEAN:
        return _half_up(value, 2)
    if unit in (DAYS, POINTS):
        return _half_up(value, 1)
    return value


def _half_up(value: float, places: int) -> float:
    scale = 10**places
    return math.floor(value * scale + 0.5) / scale


def change_text(now: float | None, before: float | None, unit: str) -> str:
    """Return the change between two shown figures, or "" when either is not shown.

    A change in percentage points has one decimal: comparing changes is its point, and
    whole points made +3.0 and +3.4 both read "+3".
    """
    if now is None or before is None:
        return ""
    if unit == PERCENT:
        points = _half_up((now - before) * 100, 1)
        return "no change" if points == 0 else f"{points:+.1f} pts"
    delta = _half_up(now - before, 2)
    return "no change" if delta == 0 else f"{delta:+.2f}"


def rows_by(table: Table, key: str) -> dict[Any, list[TableRow]]:
    """Group a table's rows by one column's value, keeping their order."""
    out: dict[Any, list[TableRow]] = {}
    for row in table.rows:
        out.setdefault(row.values.get(key), []).append(row)
    return out


def pivot(
    table: Table, row_key: str, column_key: str, value_key: str
) -> tuple[list[Any], list[Any], dict[tuple[Any, Any], Any]]:
    """Turn a long table into (row labels, column labels, cells) for a grid on a page."""
    row_labels: list[Any] = []
    column_labels: list[Any] = []
    cells: dict[tuple[Any, Any], Any] = {}
    for row in table.rows:
        r, c = row.values[row_key], row.values[column_key]
        if r not in row_labels:
            row_labels.append(r)
        if c not in column_labels:
            column_labels.append(c)
        cells[r, c] = None if row.hidden else row.values.get(value_key)
    return row_labels, column_labels, cells


def table_columns(tables: Sequence[Table]) -> list[Column]:
    """Return the union of the tables' columns, first appearance first."""
    seen: dict[str, Column] = {}
    for table in tables:
        for column in table.columns:
            seen.setdefault(column.key, column)
    return list(seen.values())
