"""Helpers for the review tests: crafted respondents, reading exports and pages back."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from typing import Any

from review import demo
from review.demo import Respondent
from review.tables import not_shown_note
from surveys.published import PREFER_NOT

K = 5


def crafted_people(
    spec: Sequence[tuple[int, dict[str, str]]], seed: int = 3
) -> Callable[[random.Random, int, float], list[Respondent]]:
    """People in exact groups: (how many, {dimension: option}); answers are random."""

    def people(rng: random.Random, count: int, step: float) -> list[Respondent]:
        crowd = demo.synthetic_respondents(random.Random(seed), count, 0.5)
        out, i = [], 0
        for size, groups in spec:
            for _ in range(size):
                out.append(Respondent(crowd[i].answers, dict(groups)))
                i += 1
        assert i == count
        return out

    return people


# Groups sized to tempt subtraction: a group of k - 1, two small groups that together
# reach k, a group equal to the total minus k - 1, people who skipped the question.
TRICKY = (
    (K - 1, {"ethnicity": "global_majority", "team": "estates"}),
    (2, {"ethnicity": PREFER_NOT, "team": "community"}),
    (3, {"team": "community"}),
    (31, {"ethnicity": "white", "team": "emergency"}),
    (12, {"ethnicity": "white", "team": "surgery"}),
    (6, {"ethnicity": "global_majority", "team": "corporate"}),
    (1, {"ethnicity": "white", "team": PREFER_NOT}),
)


# --------------------------------------------------------------------------
# Reading exports back, as a spreadsheet or a script would


def parse_csv(body: bytes) -> list[dict[str, Any]]:
    text = body.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    return [{k: (None if v == "" else v) for k, v in row.items()} for row in rows]


def csv_tables(body: bytes, twin: bytes) -> dict[str, list[dict[str, Any]]]:
    """Read a CSV export back by the machine names its JSON twin gives each column.

    The CSV has readable headers and table titles only; the JSON keeps the machine names
    and says which CSV header each column has ("csv_header"). Rows come back keyed by
    machine name (strings, None for an empty cell) plus "blank_figures", grouped by table id.
    """
    payload = json.loads(twin)
    titles = {t["title"]: t for t in payload["tables"]}
    tables: dict[str, list[dict[str, Any]]] = {t["id"]: [] for t in payload["tables"]}
    for row in parse_csv(body):
        table = titles[row["Table"]]
        keyed = {c["key"]: row[c["csv_header"]] for c in table["columns"]}
        tables[table["id"]].append({**keyed, "blank_figures": row["Blank figures"]})
    return tables


def json_tables(body: bytes) -> dict[str, list[dict[str, Any]]]:
    payload = json.loads(body)
    return {t["id"]: t["rows"] for t in payload["tables"]}


def number(value: Any) -> float | None:
    return None if value is None else float(value)


def assert_breakdown_safe(total: Any, parts: Sequence[Any], k: int, where: str) -> None:
    """No shown part below k; total minus the shown parts is 0 or at least k."""
    total = number(total)
    shown = [number(p) for p in parts if p is not None]
    assert all(p >= k for p in shown), (where, shown)
    if total is None:
        assert not shown, (where, "parts shown under a hidden total")
        return
    assert total >= k, where
    rest = total - sum(shown)
    assert rest == 0 or rest >= k, (where, total, shown)


def assert_round_tables_safe(tables: dict[str, list[dict[str, Any]]], k: int) -> int:
    """Check a round export's tables; return how many hidden rows it had."""
    hidden = 0
    respondents = tables["respondents"]
    everyone = respondents[0]
    assert everyone["group"] == "Everyone"
    assert_breakdown_safe(everyone["n"], [r["n"] for r in respondents[1:]], k, "respondents")
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in tables["results"]:
        rows.setdefault((row["kind"], row["id"]), []).append(row)
        figures = [v for key, v in row.items() if key not in TEXT_KEYS]
        if row["n"] is None:
            hidden += 1
            assert all(v is None for v in figures), row
            assert row["blank_figures"] == not_shown_note(k), row
        else:
            assert row["blank_figures"] is None, row
    for key, group_rows in rows.items():
        head, *groups = group_rows
        assert head["group"] == "Everyone"
        assert_breakdown_safe(head["n"], [r["n"] for r in groups], k, str(key))
    return hidden


TEXT_KEYS = {"table", "round", "k", "kind", "id", "label", "dimension", "group", "definition",
             "blank_figures"}


# --------------------------------------------------------------------------
# Reading pages back


class _Tables(HTMLParser):
    """Collect every table on a page: its class, caption and rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self._stack: list[dict[str, Any]] = []
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._stack.append({"class": dict(attrs).get("class") or "", "caption": "",
                                "rows": []})
        elif tag == "caption" and self._stack:
            self._in_caption = True
        elif tag == "tr" and self._stack:
            self._stack[-1]["rows"].append([])
        elif tag in ("td", "th") and self._stack:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._stack:
            self.tables.append(self._stack.pop())
        elif tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self._stack:
            self._stack[-1]["rows"][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_caption and self._stack:
            self._stack[-1]["caption"] += data
        elif self._cell is not None:
            self._cell.append(data)


def page_tables(html: str) -> list[dict[str, Any]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables
