"""Batched suppression for the insiders and witness reuse between audits (issue 17).

`decide_suppression` hides more groups per round when the insiders' audit keeps asking
the same dimension, then bisects the last batch; the insiders' audit hands the points it
found to the next audit of the round, which re-checks them. Neither may change what the
final publication is proven to withstand.
"""

from __future__ import annotations

import numpy as np
from test_insider_audit import TEAMS, hiding, pool_round
from test_insider_audit import truth_of as one_dimension_truth
from test_insider_headline import NO, YES, K, people_of, row_of, truth_of

from speakup.insider_audit import InsiderWitnesses, audit_insiders
from surveys.round_disclosure import decide_suppression

# Ten teams of 5 to 9, ethnicity mixed in each; (team, ethnicity or "" unstated, answer,
# how many). One group at a time, the insiders' audit asks for a fifth round before it
# passes, each round hiding one more team.
TEN_TEAMS = [
    ("a", "gm", NO, 2), ("a", "w", NO, 4), ("a", "w", YES, 3),
    ("b", "", NO, 1), ("b", "", YES, 2), ("b", "gm", YES, 1), ("b", "w", YES, 2),
    ("c", "gm", NO, 1), ("c", "gm", YES, 2), ("c", "pn", NO, 1), ("c", "pn", YES, 1),
    ("c", "w", YES, 1),
    ("d", "", NO, 1), ("d", "gm", YES, 2), ("d", "pn", NO, 1), ("d", "w", NO, 4),
    ("d", "w", YES, 1),
    ("e", "gm", NO, 2), ("e", "w", NO, 3), ("e", "w", YES, 1),
    ("f", "gm", NO, 1), ("f", "gm", YES, 1), ("f", "pn", YES, 1), ("f", "w", NO, 1),
    ("f", "w", YES, 3),
    ("g", "gm", YES, 4), ("g", "pn", NO, 1), ("g", "w", NO, 2), ("g", "w", YES, 2),
    ("h", "gm", NO, 1), ("h", "gm", YES, 1), ("h", "w", NO, 3), ("h", "w", YES, 3),
    ("i", "", NO, 1), ("i", "pn", NO, 1), ("i", "w", YES, 3),
    ("j", "gm", YES, 1), ("j", "w", NO, 1), ("j", "w", YES, 5),
]
DIMS = {"ethnicity": ["gm", "w", "pn"], "team": list("abcdefghij")}


def ten_teams(monkeypatch):
    monkeypatch.setattr("test_insider_headline.DIMS", DIMS)
    people = people_of(TEN_TEAMS)
    return people, truth_of(people, [row_of(people, "q")])


def test_batched_suppression_hides_what_one_group_at_a_time_hides_in_fewer_rounds(monkeypatch):
    people, truth = ten_teams(monkeypatch)
    one_at_a_time = decide_suppression(truth, K, people=people, batch_growth=1)
    batched = decide_suppression(truth, K, people=people)
    assert one_at_a_time.insider is not None and one_at_a_time.insider.ok
    assert batched.insider is not None and batched.insider.ok
    assert batched.groups_hidden == one_at_a_time.groups_hidden
    assert batched.rounds_of_audit < one_at_a_time.rounds_of_audit == 5
    # The batched result passes a fresh full audit (no reused points, exact bounds) ...
    assert audit_insiders(truth, people, K, batched).ok
    # ... and needs every team it hides beyond the outsider's: showing the largest of
    # them again lets an insider prove an answer.
    outsider = decide_suppression(truth, K)
    extra = batched.groups_hidden["team"] - outsider.groups_hidden["team"]
    largest = max(extra, key=lambda g: (truth.group_sizes["team", g], g))
    fewer = hiding(DIMS, {**batched.groups_hidden,
                          "team": set(batched.groups_hidden["team"] - {largest})})
    assert not audit_insiders(truth, people, K, fewer).ok


def test_reused_points_change_the_programs_solved_not_the_answers_found(monkeypatch):
    people, truth = ten_teams(monkeypatch)
    outsider = decide_suppression(truth, K)
    fresh = audit_insiders(truth, people, K, outsider)
    witnesses = InsiderWitnesses()
    first = audit_insiders(truth, people, K, outsider, witnesses=witnesses)
    again = audit_insiders(truth, people, K, outsider, witnesses=witnesses)
    assert not fresh.ok
    assert first.exposures == fresh.exposures == again.exposures
    # The second audit finds the first one's points still fit: fewer programs.
    assert again.programs_solved < first.programs_solved


def test_an_offered_point_that_breaks_a_constraint_is_not_used():
    people = pool_round((NO, YES), (YES, YES, YES))
    truth = one_dimension_truth(people, TEAMS)
    pool = hiding(TEAMS, {"team": {"c", "d"}})
    fresh = audit_insiders(truth, people, K, pool)
    # Nobody answering anything meets every requirement "this count can be 0", but not
    # the shown figures: taken on trust it would clear every exposure.
    witnesses = InsiderWitnesses()
    witnesses.store((False, ("q",)), [np.zeros(4 * 2)])  # 4 team cells × yes/no
    offered = audit_insiders(truth, people, K, pool, witnesses=witnesses)
    assert not offered.ok
    assert offered.exposures == fresh.exposures


def test_only_the_exposures_asked_for_get_exact_bounds():
    people = pool_round((NO, YES), (YES, YES, YES))
    truth = one_dimension_truth(people, TEAMS)
    pool = hiding(TEAMS, {"team": {"c", "d"}})
    exact = audit_insiders(truth, people, K, pool)
    quick = audit_insiders(truth, people, K, pool, exact_bounds=0)
    assert [(e.attacker, e.row_id, e.cell, e.value) for e in quick.exposures] == \
        [(e.attacker, e.row_id, e.cell, e.value) for e in exact.exposures]
    assert quick.programs_solved < exact.programs_solved
    # Without its exact bound an exposure still reports a true lower bound.
    assert all(0 < q.proven_at_least <= e.proven_at_least
               for q, e in zip(quick.exposures, exact.exposures, strict=True))
