"""CSV and JSON exports of the review pages' tables (the same objects the pages render)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from review.tables import (
    COUNT,
    DATE,
    DAYS,
    MEAN,
    PERCENT,
    POINTS,
    Column,
    Table,
    TableRow,
    export_value,
)
from speakup.spreadsheet import formula_safe

FORMATS = ("csv", "json")
EXPORT_UNITS = {PERCENT: "percent (0-100)", POINTS: "percentage points"}
NUMBER_UNITS = frozenset({COUNT, PERCENT, MEAN, DAYS, POINTS})
# The CSV's first and last columns: which table a row belongs to, and why a figure is blank.
TABLE_HEADER, STATUS_HEADER = "Table", "Blank figures"
STATUS_DEFINITION = (
    f"“{STATUS_HEADER}” says why a row’s empty figure cells are empty: not shown (too few "
    "people, or hidden so that a smaller group cannot be worked out), or a word such as "
    "“not yet published”; it is empty when every figure of the row is shown."
)


def readable_header(column: Column) -> str:
    """A column's spreadsheet header: its label, with its unit where the label lacks it."""
    label = column.label
    if column.unit == PERCENT and "%" not in label:
        return f"{label} (%)"
    if column.unit == POINTS and "percentage points" not in label:
        return f"{label} (percentage points)"
    if column.unit == DAYS and "days" not in label.lower():
        return f"{label} (days)"
    return label


def csv_columns(tables: Sequence[Table]) -> list[tuple[Column, str]]:
    """Every distinct column of the tables with its unique, readable CSV header.

    Columns are the same when key and label agree ("n" of the respondents table counts
    people, of the results table answers: two columns); a header that is still taken
    gets its table's title in brackets.
    """
    out: list[tuple[Column, str]] = []
    seen: set[tuple[str, str]] = set()
    taken = {TABLE_HEADER, STATUS_HEADER}
    for table in tables:
        for column in table.columns:
            if (column.key, column.label) in seen:
                continue
            seen.add((column.key, column.label))
            header = readable_header(column)
            if header in taken:
                header = f"{header} ({table.title})"
            number = 2
            while header in taken:
                header, number = f"{readable_header(column)} ({table.title}, {number})", number + 1
            taken.add(header)
            out.append((column, header))
    return out


def _cell(value: Any, column: Column) -> tuple[Any, str | None]:
    """(what the export writes, the word that stood there) for one figure.

    A word in a number or date column ("not yet published") leaves the cell empty and is
    said in the row's status instead, so a spreadsheet reads the column as numbers.
    """
    value = export_value(value, column.unit)
    if isinstance(value, str) and column.unit in NUMBER_UNITS:
        return None, value
    if isinstance(value, str) and column.unit == DATE and not _is_date(value):
        return None, value
    return value, None


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _status(table: Table, row: TableRow, words: list[tuple[Column, str]]) -> str | None:
    if row.hidden:
        return table.hidden_note
    if words:
        return "; ".join(f"{column.label}: {word}" for column, word in words)
    return None


def to_csv(tables: Sequence[Table]) -> str:
    """Return the tables as one CSV sheet: a "Table" column, every column, then the status.

    Headers are unique and readable; number columns hold numbers or nothing (the status
    column says why a figure is blank); a UTF-8 byte order mark lets spreadsheet
    programs read accented labels correctly.
    """
    columns = csv_columns(tables)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([TABLE_HEADER, *(header for _, header in columns), STATUS_HEADER])
    for table in tables:
        mine = {(c.key, c.label) for c in table.columns}
        for row in table.rows:
            cells: list[Any] = [formula_safe(table.title)]
            words: list[tuple[Column, str]] = []
            for column, _ in columns:
                value = None
                if (column.key, column.label) in mine:
                    value, word = _cell(row.values.get(column.key), column)
                    if word is not None:
                        words.append((column, word))
                cells.append("" if value is None else formula_safe(value))  # numbers stay numbers
            cells.append(formula_safe(_status(table, row, words) or ""))
            writer.writerow(cells)
    return out.getvalue()


def table_payload(table: Table, headers: dict[tuple[str, str], str] | None = None
                  ) -> dict[str, Any]:
    headers = headers or {(c.key, c.label): h for c, h in csv_columns([table])}
    rows = []
    for row in table.rows:
        values: dict[str, Any] = {}
        words: list[tuple[Column, str]] = []
        for column in table.columns:
            values[column.key], word = _cell(row.values.get(column.key), column)
            if word is not None:
                words.append((column, word))
        rows.append({**values, "blank_figures": _status(table, row, words)})
    return {
        "id": table.id,
        "title": table.title,
        "description": table.description,
        "columns": [
            {"key": c.key, "label": c.label, "unit": EXPORT_UNITS.get(c.unit, c.unit),
             "csv_header": headers[(c.key, c.label)]}
            for c in table.columns
        ],
        "rows": rows,
        **table.extra,
    }


def to_json(meta: Mapping[str, Any], tables: Sequence[Table], **extra: Any) -> str:
    """Return the tables as JSON: a figure absent is null and its row's status says why."""
    headers = {(c.key, c.label): h for c, h in csv_columns(tables)}
    payload = {
        **meta,
        "hidden_figures": (
            "null, with a status on the row: groups with fewer answers than the minimum "
            "group size, groups hidden so that they cannot be worked out by subtraction, and "
            "groups with no answers all look the same; a figure not yet published or not yet "
            "due is null too, its row's status naming it"
        ),
        "tables": [table_payload(t, headers) for t in tables],
        **extra,
    }
    return json.dumps(payload, ensure_ascii=False, indent=2, allow_nan=False)
