"""CSV and JSON exports of the review pages' tables (the same objects the pages render)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from review.tables import PERCENT, POINTS, Table, export_value, table_columns
from speakup.spreadsheet import formula_safe

FORMATS = ("csv", "json")
EXPORT_UNITS = {PERCENT: "percent (0-100)", POINTS: "percentage points"}


def to_csv(tables: Sequence[Table]) -> str:
    """Return the tables as one CSV sheet: a "table" column, every column, then "note".

    Hidden figures are empty cells and their row's note says why; a UTF-8 byte
    order mark lets spreadsheet programs read accented labels correctly.
    """
    columns = table_columns(tables)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["table", *(c.key for c in columns), "note"])
    for table in tables:
        keys = {c.key for c in table.columns}
        for row in table.rows:
            cells: list[Any] = [table.id]
            for column in columns:
                value = row.values.get(column.key) if column.key in keys else None
                value = export_value(value, column.unit)
                cells.append("" if value is None else formula_safe(value))  # numbers stay numbers
            cells.append(table.hidden_note if row.hidden else "")
            writer.writerow(cells)
    return out.getvalue()


def table_payload(table: Table) -> dict[str, Any]:
    return {
        "id": table.id,
        "title": table.title,
        "description": table.description,
        "columns": [
            {"key": c.key, "label": c.label, "unit": EXPORT_UNITS.get(c.unit, c.unit)}
            for c in table.columns
        ],
        "rows": [
            {
                **{c.key: export_value(row.values.get(c.key), c.unit) for c in table.columns},
                "note": table.hidden_note if row.hidden else None,
            }
            for row in table.rows
        ],
        **table.extra,
    }


def to_json(meta: Mapping[str, Any], tables: Sequence[Table], **extra: Any) -> str:
    """Return the tables as JSON; hidden figures are null and their row carries a note."""
    payload = {
        **meta,
        "hidden_figures": (
            "null, with a note on the row: groups with fewer answers than the minimum group "
            "size, groups hidden so that they cannot be worked out by subtraction, and groups "
            "with no answers all look the same"
        ),
        "tables": [table_payload(t) for t in tables],
        **extra,
    }
    return json.dumps(payload, ensure_ascii=False, indent=2, allow_nan=False)
