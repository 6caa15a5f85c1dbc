"""Shortcuts of the attacker's audits that must not change what they find (issue 17).

The outsider's audit tries, before any program, the points where two alike groups
(declared with ``AttackModel.alike``) exchange their true values; ``ranges=False``
skips the exact ranges of exposures; the insiders' audit finds swap partners for all
cells of a row at once. Each must give the same exposures, and the same decision, as
the audit without it.
"""

from __future__ import annotations

from dataclasses import replace

from test_insider_batches import ten_teams
from test_insider_headline import K

import surveys.round_disclosure as round_disclosure
from speakup.disclosure_audit import AttackModel, audit_model
from speakup.insider_audit import _Component, _Round
from surveys.round_disclosure import attack_model, decide_suppression


def teams(sizes: dict[str, int], *, hints: bool, cap: dict[str, int] | None = None) -> AttackModel:
    """Hidden teams of a shown total, each with a yes/no split; ``cap``: n <= cap."""
    model = AttackModel(K)
    model.count("total", sum(sizes.values()), shown=True)
    model.sum_of("total", [("n", g) for g in sizes])
    for g, size in sizes.items():
        model.count(("n", g), size, shown=False)
        model.count(("yes", g), size // 2, shown=False, protected=False)
        model.count(("no", g), size - size // 2, shown=False, protected=False)
        model.sum_of(("n", g), [("yes", g), ("no", g)])
        if cap and g in cap:
            model.add({("n", g): 1.0}, upper=cap[g])
    if hints:
        model.alike({g: {"n": ("n", g), "yes": ("yes", g), "no": ("no", g)} for g in sizes})
    return model


def test_exchanging_alike_groups_proves_what_the_programs_prove_without_a_program():
    # e is empty: a and c reach 0 by exchange with it, 5 or more with b or d.
    sizes = {"a": 2, "b": 6, "c": 3, "d": 7, "e": 0}
    plain = audit_model(teams(sizes, hints=False))
    hinted = audit_model(teams(sizes, hints=True))
    assert plain.ok and hinted.ok
    assert plain.solves > 0
    assert hinted.solves == 0  # every requirement met by an exchange
    assert hinted.hidden_counts == plain.hidden_counts


def test_an_exposure_is_found_the_same_with_exchanges():
    # Two groups of 2 behind a shown total of 4: neither can reach 5.
    plain = audit_model(teams({"a": 2, "b": 2}, hints=False))
    hinted = audit_model(teams({"a": 2, "b": 2}, hints=True))
    assert not plain.ok
    assert hinted.exposures == plain.exposures


def test_a_hint_that_breaks_a_constraint_is_not_used():
    # b may hold at most 3: exchanging a's 7 into b breaks that, so only the programs
    # can say whether a (2) can reach 0 and 5; they find a point (b = 3, c, d larger).
    sizes = {"a": 2, "b": 3, "c": 8, "d": 7}
    plain = audit_model(teams(sizes, hints=False, cap={"b": 3}))
    hinted = audit_model(teams(sizes, hints=True, cap={"b": 3}))
    assert hinted.exposures == plain.exposures
    wrong = teams({"a": 2, "b": 2}, hints=True, cap={"a": 2})
    assert [e.key for e in audit_model(wrong).exposures] == [("n", "a"), ("n", "b")]


def test_without_ranges_the_same_counts_are_exposed_with_no_range():
    model = teams({"a": 2, "b": 2}, hints=True)
    full = audit_model(model)
    short = audit_model(model, ranges=False)
    assert [e.key for e in short.exposures] == [e.key for e in full.exposures]
    assert all(e.low is None and e.high is None for e in short.exposures)
    assert all(e.low is not None for e in full.exposures)


def test_the_decision_is_the_same_without_hints(monkeypatch):
    people, truth = ten_teams(monkeypatch)
    with_hints = decide_suppression(truth, K, people=people)
    hidden = {"team": frozenset(with_hints.groups_hidden["team"]),
              "ethnicity": frozenset(with_hints.groups_hidden["ethnicity"])}
    hinted_model = attack_model(truth, K, False, hidden, with_hints.rows_hidden)
    monkeypatch.setattr(round_disclosure, "_declare_alike", lambda model, truth: None)
    without = decide_suppression(truth, K, people=people)
    assert without.groups_hidden == with_hints.groups_hidden
    assert without.rows_hidden == with_hints.rows_hidden
    assert without.cells_hidden == with_hints.cells_hidden
    assert with_hints.insider is not None and with_hints.insider.ok
    bare_model = attack_model(truth, K, False, hidden, with_hints.rows_hidden)
    assert audit_model(hinted_model).ok and audit_model(bare_model).ok
    assert audit_model(hinted_model).solves < audit_model(bare_model).solves


def test_swap_partners_for_all_cells_at_once_match_the_definition(monkeypatch):
    people, truth = ten_teams(monkeypatch)
    # Three teams and one ethnicity group hidden: cells in those share partners.
    decided = replace(decide_suppression(truth, K), groups_hidden={
        "team": frozenset("abc"), "ethnicity": frozenset({"pn"})})
    round_ = _Round(truth, people, K, decided, {}, False)
    row = truth.rows[0]
    component = _Component(round_, [row], 20.0)
    for c, mine in enumerate(component.cells):
        expected = [
            other for other, theirs in enumerate(component.cells) if other != c and all(
                dict(mine)[dim] == dict(theirs)[dim] or not (
                    round_.group_shown(row.id, dim, dict(mine)[dim])
                    or round_.group_shown(row.id, dim, dict(theirs)[dim]))
                for dim in round_.dims)
        ]  # fmt: skip
        assert component._partners(row, c) == expected
    partners = [component._partners(row, c) for c in range(len(component.cells))]
    assert any(partners) and not all(partners)
