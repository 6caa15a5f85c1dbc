"""CSV and JSON writers and figure formatting (no database)."""

from __future__ import annotations

import json

from review_support import parse_csv

from review.exports import to_csv, to_json
from review.tables import (
    COUNT,
    MEAN,
    PERCENT,
    POINTS,
    Column,
    Table,
    TableRow,
    change_text,
    display,
    export_value,
)

TABLE = Table(
    "t", "A table",
    (Column("group", "Group"), Column("n", "n", COUNT), Column("fav", "Favourable", PERCENT),
     Column("mean", "Mean", MEAN), Column("gap", "Gap", POINTS)),
    (
        TableRow({"group": "=HYPERLINK(\"x\")", "n": 12, "fav": 0.625, "mean": 3.456,
                  "gap": -4.04}),
        TableRow({"group": "Small team", "n": None, "fav": None, "mean": None, "gap": None},
                 hidden=True),
    ),
    "not shown: fewer than 5 responses",
)  # fmt: skip


HEADERS = ["Table", "Group", "n", "Favourable (%)", "Mean", "Gap (percentage points)",
           "Blank figures"]


def test_csv_has_a_table_column_every_figure_and_why_a_figure_is_blank():
    rows = parse_csv(to_csv([TABLE]).encode())
    assert list(rows[0]) == HEADERS
    assert list(rows[0].values()) == ["A table", "'=HYPERLINK(\"x\")", "12", "62.5", "3.46",
                                      "-4.0", None]
    assert list(rows[1].values()) == ["A table", "Small team", None, None, None, None,
                                      "not shown: fewer than 5 responses"]


def test_json_has_nulls_and_a_status_for_hidden_rows():
    payload = json.loads(to_json({"title": "x"}, [TABLE], comments=None))
    (table,) = payload["tables"]
    assert table["rows"][1] == {"group": "Small team", "n": None, "fav": None, "mean": None,
                                "gap": None, "blank_figures": "not shown: fewer than 5 responses"}
    assert [c["csv_header"] for c in table["columns"]] == HEADERS[1:-1]
    assert table["rows"][0]["group"] == "=HYPERLINK(\"x\")"  # JSON is data, not a sheet
    assert [c["unit"] for c in table["columns"]] == [
        "text", "count", "percent (0-100)", "mean", "percentage points"]
    assert payload["comments"] is None and "hidden_figures" in payload


def test_figures_round_half_up_as_people_do():
    assert display(0.625, PERCENT) == "63%"
    assert display(0.005, PERCENT) == "1%"
    assert display(None, PERCENT) == "not shown"
    assert display(3.455, MEAN) == "3.46"
    assert display(-4.5, POINTS) == "-4" and display(4.5, POINTS) == "+5"
    assert display(0.2, POINTS) == "0"
    assert export_value(0.12345, PERCENT) == 12.3
    assert change_text(0.74, 0.64, PERCENT) == "+10.0 pts"
    assert change_text(0.64, 0.64, PERCENT) == "no change"
    assert change_text(None, 0.64, PERCENT) == ""
