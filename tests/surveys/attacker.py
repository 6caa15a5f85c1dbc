"""The attacker's side of a published round, built from the stored payload and the test's people.

What is shown comes from the payload only (never from the publisher's own decision);
the true values come from the respondents the test made (never from SQL), so the audit
here checks the stored result against an independent truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from speakup.disclosure_audit import AuditReport, audit_model
from surveys.itembank import ItemBank, load_item_bank
from surveys.published import PublishedRound
from surveys.round_disclosure import (
    InstrumentTruth,
    RoundTruth,
    RowTruth,
    attack_model,
)

SENSITIVE = frozenset(i for i, item in load_item_bank().items.items() if item.sensitive)


def truth_from_people(
    bank: ItemBank, item_ids: Sequence[str], dims: dict[str, list[str]], people: Sequence
) -> RoundTruth:
    """Every true aggregate of the round, computed in Python from the respondents."""
    sizes: dict[tuple[str, str], int] = {}
    for person in people:
        for dim, option in person.groups.items():
            sizes[dim, option] = sizes.get((dim, option), 0) + 1
    rows: list[RowTruth] = []
    scale_ids = set()
    for instrument_id in {bank.item(i).instrument_id for i in item_ids}:
        instrument = bank.instrument(instrument_id)
        asked = [i for i in item_ids if bank.item(i).instrument_id == instrument_id]
        if instrument.has_scale_score and len(asked) >= (instrument.min_answered or 1):
            scale_ids.add(instrument_id)
    for item_id in item_ids:
        item = bank.item(item_id)
        values = [str(v) for v in item.scale.answer_values]

        def dist(members: Sequence, item=item, values=values) -> dict[str, int]:
            got = [str(p.answers.get(item.id)) for p in members]
            return {v: got.count(v) for v in values}

        rows.append(RowTruth(
            id=item.id, instrument_id=item.instrument_id, is_scale=False,
            overall=dist(people),
            by_group={(d, g): dist([p for p in people if p.groups.get(d) == g])
                      for d, groups in dims.items() for g in groups},
            scored={v: item.scored(int(v)) for v in values}
            if item.instrument_id in scale_ids else {},
            favourable_values=frozenset(v for v in values if item.is_favourable(int(v)))
            if item.instrument_id in scale_ids else frozenset(),
            sensitive=item.sensitive,
        ))  # fmt: skip
    instruments = []
    for instrument_id in dict.fromkeys(bank.item(i).instrument_id for i in item_ids):
        instrument = bank.instrument(instrument_id)
        asked_ids = tuple(i for i in item_ids if bank.item(i).instrument_id == instrument_id)
        if instrument_id not in scale_ids:
            instruments.append(InstrumentTruth(instrument_id, asked_ids))
            continue
        instruments.append(InstrumentTruth(
            instrument_id, asked_ids, instrument_id, instrument.min_answered or 1,
            instrument.scale.min_value, instrument.scale.max_value,
        ))  # fmt: skip
        asked = [bank.item(i) for i in asked_ids]

        def scores(members: Sequence, asked=asked, instrument=instrument) -> list[Fraction]:
            out = []
            for person in members:
                answered = [item.scored(person.answers.get(item.id)) for item in asked]
                answered = [a for a in answered if a is not None]
                if answered and len(answered) >= instrument.min_answered:
                    out.append(Fraction(sum(answered), len(answered)))
            return out

        def points(found: list[Fraction], instrument=instrument) -> dict[str, int]:
            rounded = [int(s + Fraction(1, 2)) for s in found]
            return {str(p): rounded.count(p) for p in instrument.scale.answer_values}

        by_group = {(d, g): scores([p for p in people if p.groups.get(d) == g])
                    for d, groups in dims.items() for g in groups}  # fmt: skip
        everyone = scores(people)
        rows.append(RowTruth(
            id=instrument_id, instrument_id=instrument_id, is_scale=True,
            overall=points(everyone),
            by_group={key: points(found) for key, found in by_group.items()},
            score_sum=sum(everyone, Fraction(0)),
            group_score_sums={key: sum(found, Fraction(0)) for key, found in by_group.items()},
        ))  # fmt: skip
    return RoundTruth(len(people), dims, sizes, rows, instruments)


def shown_pattern(
    published: PublishedRound,
) -> tuple[bool, dict[str, frozenset[str]], frozenset, dict[tuple[str, str], frozenset[str]]]:
    """Read what the payload hides: one pattern per dimension, plus cells hidden in one row.

    Only rows of sensitive items may hide a group in that row alone (near-uniform cells).
    """
    groups_hidden = {
        dim.id: frozenset(g for g, n in published.group_counts[dim.id].items() if n is None)
        for dim in published.dimensions
    }
    rows_hidden = set()
    cells_hidden = {}
    for row in published.items + published.scales:
        if row.overall is None:
            rows_hidden.add(row.id)
            continue
        for dim in published.dimensions:
            hidden = {g for g, cell in row.by_group[dim.id].items() if cell is None}
            assert groups_hidden[dim.id] <= hidden, (row.id, dim.id, hidden)
            if hidden != groups_hidden[dim.id]:
                assert row.id in SENSITIVE, (row.id, dim.id, hidden)
                cells_hidden[row.id, dim.id] = frozenset(hidden - groups_hidden[dim.id])
    return published.responses is None, groups_hidden, frozenset(rows_hidden), cells_hidden


def attack(published: PublishedRound, bank: ItemBank, people: Sequence) -> AuditReport:
    """Audit the stored payload against the true respondents."""
    dims = {d.id: [g.id for g in d.groups] for d in published.dimensions}
    item_ids = [row.id for row in published.items]
    truth = truth_from_people(bank, item_ids, dims, people)
    total_hidden, groups_hidden, rows_hidden, cells_hidden = shown_pattern(published)
    model = attack_model(truth, published.k, total_hidden, groups_hidden, rows_hidden,
                         cells_hidden=cells_hidden)  # fmt: skip
    # The payload's shown figures must be exactly the truth the model was built from.
    for row in published.items + published.scales:
        if row.overall is not None:
            assert row.overall.distribution == next(
                r.overall for r in truth.rows if r.id == row.id), row.id
    return audit_model(model)
