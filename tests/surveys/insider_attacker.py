"""The insider's side: an integer program over the cross-classified cells, written for the tests.

Independent of ``speakup.insider_audit``: it reads what a publication shows (from the
stored payload, or from a suppression decision applied to the true figures) and the
test's own respondents (the HR list: everyone's combination of groups), and asks
HiGHS for the smallest number of a cross-cell's members who can have given an answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from speakup.insider_audit import Person
from surveys.itembank import ItemBank
from surveys.published import PublishedRound
from surveys.round_disclosure import RoundSuppression, RoundTruth

Figure = tuple[str | None, str | None]  # (dimension, group); (None, None) = Everyone
Shown = dict[str, dict[Figure, Mapping[str, int]]]  # row id -> figure -> distribution


def cell_of(person, dims: Sequence[str]) -> tuple[str, ...]:
    return tuple(person.groups.get(dim, "") for dim in dims)


def shown_in_payload(published: PublishedRound) -> Shown:
    """Every distribution the stored payload shows, per item row."""
    shown: Shown = {}
    for row in published.items:
        figures: dict[Figure, Mapping[str, int]] = {}
        if row.overall is not None:
            figures[None, None] = row.overall.distribution
            for dim, cells in row.by_group.items():
                for group, cell in cells.items():
                    if cell is not None:
                        figures[dim, group] = cell.distribution
        shown[row.id] = figures
    return shown


def shown_by_decision(truth: RoundTruth, decided: RoundSuppression) -> Shown:
    """Every distribution a decision leaves shown, per item row (from the true figures)."""
    shown: Shown = {}
    for row in truth.rows:
        if row.is_scale:
            continue
        figures: dict[Figure, Mapping[str, int]] = {}
        if not decided.total_hidden and row.id not in decided.rows_hidden:
            figures[None, None] = row.overall
            for dim, groups in truth.dimensions.items():
                for group in groups:
                    if not decided.hides(row.id, dim, group):
                        figures[dim, group] = row.by_group.get((dim, group), {})
        shown[row.id] = figures
    return shown


def lowest(
    people: Sequence, dims: Sequence[str], figures: Mapping[Figure, Mapping[str, int]],
    item_id: str, values: Sequence[str], cell: tuple[str, ...], value: str, own=None,
) -> int:
    """The fewest members of ``cell`` (other than ``own``) who can have answered ``value``.

    Unknowns: per cross-cell and value, how many of its members gave it (0 to the
    cell's headcount, at most one answer each); every shown figure's distribution is
    a sum of them. ``own``: a respondent whose answer the attacker knows (their own).
    """
    heads = Counter(cell_of(p, dims) for p in people)
    cells = sorted(heads)
    index = {(c, v): i for i, (c, v) in enumerate((c, v) for c in cells for v in values)}
    lower = np.zeros(len(index))
    upper = np.array([heads[c] for c, _ in index], dtype=float)
    rows, low, high = [], [], []

    def add(keys, lo, hi):
        row = np.zeros(len(index))
        for key in keys:
            row[index[key]] = 1.0
        rows.append(row)
        low.append(lo)
        high.append(hi)

    for c in cells:
        add([(c, v) for v in values], 0, heads[c])
    for (dim, group), distribution in figures.items():
        position = None if dim is None else list(dims).index(dim)
        members = [c for c in cells if position is None or c[position] == group]
        for v in values:
            add([(c, v) for c in members], distribution.get(v, 0), distribution.get(v, 0))
    mine = 0
    if own is not None:
        own_value = own_answer(own, item_id)
        if own_value is not None:
            lower[index[cell_of(own, dims), own_value]] = 1.0
            mine = int(cell_of(own, dims) == cell and own_value == value)
        else:
            add([(cell_of(own, dims), v) for v in values], 0, heads[cell_of(own, dims)] - 1)
    objective = np.zeros(len(index))
    objective[index[cell, value]] = 1.0
    result = milp(objective, integrality=np.ones(len(index)), bounds=Bounds(lower, upper),
                  constraints=[LinearConstraint(np.array(rows), low, high)])  # fmt: skip
    assert result.status == 0, result.message  # the truth is feasible: always solvable
    return int(round(result.fun)) - mine


def alone(
    people: Sequence, dims: Sequence[str], figures: Mapping[Figure, Mapping[str, int]],
    cell: tuple[str, ...], value: str,
) -> int:
    """What one shown figure alone proves about a cell (group attribute disclosure)."""
    heads = Counter(cell_of(p, dims) for p in people)
    best = 0
    for (dim, group), distribution in figures.items():
        position = None if dim is None else list(dims).index(dim)
        if position is not None and cell[position] != group:
            continue
        head = sum(n for c, n in heads.items() if position is None or c[position] == group)
        best = max(best, distribution.get(value, 0) - (head - heads[cell]))
    return best


def own_answer(person, item_id: str) -> str | None:
    value = person.answers.get(item_id)
    return None if value in (None, 0) else str(value)


def people_for_audit(
    bank: ItemBank, item_ids: Sequence[str], respondents: Sequence
) -> list[Person]:
    """The test's respondents as the insider audit reads them (scale points included)."""
    out = []
    for person in respondents:
        answers = {i: str(v) for i, v in person.answers.items()
                   if v is not None and v in bank.item(i).scale.answer_values}  # fmt: skip
        for instrument_id in dict.fromkeys(bank.item(i).instrument_id for i in item_ids):
            instrument = bank.instrument(instrument_id)
            asked = [bank.item(i) for i in item_ids if bank.item(i).instrument_id == instrument_id]
            if not instrument.has_scale_score or len(asked) < (instrument.min_answered or 1):
                continue
            scored = [s for item in asked
                      if (s := item.scored(person.answers.get(item.id))) is not None]
            if scored and len(scored) >= instrument.min_answered:
                answers[instrument_id] = str(int(Fraction(sum(scored), len(scored))
                                                 + Fraction(1, 2)))  # fmt: skip
        out.append(Person(groups=dict(person.groups), answers=answers))
    return out
