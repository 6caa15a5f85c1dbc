"""The insiders' audit on hand-made tables, with bounds computed by hand."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from speakup.disclosure_audit import AuditReport
from speakup.insider_audit import InsiderAuditError, Person, audit_insiders
from surveys.round_disclosure import InstrumentTruth, RoundSuppression, RoundTruth, RowTruth

K = 5
YES, NO = "1", "2"


def truth_of(people: list[Person], dims: dict[str, list[str]]) -> RoundTruth:
    """One yes/no item "q" and the group sizes, from the people."""

    def dist(members):
        got = Counter(p.answers.get("q") for p in members)
        return {YES: got[YES], NO: got[NO]}

    by_group = {(d, g): dist([p for p in people if p.groups.get(d) == g])
                for d, groups in dims.items() for g in groups}  # fmt: skip
    sizes = {(d, g): sum(1 for p in people if p.groups.get(d) == g)
             for d, groups in dims.items() for g in groups}  # fmt: skip
    row = RowTruth("q", "wres", False, dist(people), by_group)
    return RoundTruth(len(people), dims, sizes, [row], [])


def hiding(dims: dict[str, list[str]], hidden: dict[str, set[str]]) -> RoundSuppression:
    report = AuditReport((), 0, 0, 0.0)
    return RoundSuppression(False, {d: frozenset(hidden.get(d, set())) for d in dims},
                            frozenset(), report, 1)  # fmt: skip


def team(name: str, *answers: str | None, **other: str) -> list[Person]:
    return [Person({"team": name, **other}, {} if a is None else {"q": a}) for a in answers]


TEAMS = {"team": ["a", "b", "c", "d"]}


def pool_round(c: tuple, d: tuple) -> list[Person]:
    """Teams a and b (6 each, 3 yes 3 no) shown; c and d hidden together."""
    return [*team("a", YES, YES, YES, NO, NO, NO), *team("b", YES, YES, YES, NO, NO, NO),
            *team("c", *c), *team("d", *d)]  # fmt: skip


def found(report) -> set[tuple[str, str, str, int]]:
    return {(e.attacker, dict(e.cell)["team"], e.value, e.proven_at_least)
            for e in report.exposures}  # fmt: skip


def test_a_hidden_pool_whose_answers_are_nearly_uniform_is_flagged():
    # Pool c (2) + d (3) = Everyone − a − b: 4 yes, 1 no.
    people = pool_round((NO, YES), (YES, YES, YES))
    report = audit_insiders(truth_of(people, TEAMS), people, K, hiding(TEAMS, {"team": {"c", "d"}}))
    assert not report.ok
    # HR: c holds at least 4 − 3 (d's headcount) = 1 yes; d at least 4 − 2 = 2.
    # The respondent in c who said no: the other 4 in the pool said yes, so their one
    # colleague did (4 − 3 = 1); a respondent in d who said yes: 3 yes among the 4 others,
    # at most 2 of them in c, so at least 1 of their 2 colleagues said yes.
    assert found(report) >= {("hr", "c", YES, 1), ("hr", "d", YES, 2),
                             ("respondent", "c", YES, 1), ("respondent", "d", YES, 1)}
    assert all(e.proven_at_least > 0 for e in report.exposures)
    assert report.programs_solved > 0


def test_a_hidden_pool_with_mixed_answers_and_skips_passes():
    # Pool: c = (no, skipped), d = (yes, no, skipped): 1 yes, 2 no, 2 skips.
    # HR: c yes >= 1 − 3, c no >= 2 − 3, d yes >= 1 − 2, d no >= 2 − 2 = 0: nothing proven.
    people = pool_round((NO, None), (YES, NO, None))
    report = audit_insiders(truth_of(people, TEAMS), people, K, hiding(TEAMS, {"team": {"c", "d"}}))
    assert report.ok, report.exposures


def test_a_publication_known_only_within_one_passes_where_the_exact_one_fails():
    people = pool_round((NO, YES), (YES, YES, YES))
    truth = truth_of(people, TEAMS)
    hidden = hiding(TEAMS, {"team": {"c", "d"}})
    # Every shown count within ±1: the pool's yes count is only known to be at least
    # (10 − 1) − (3 + 1) − (3 + 1) = 1, which c (1 − 3) and d (1 − 2) can do without.
    assert audit_insiders(truth, people, K, hidden, shown_tolerance={"*": 1}).ok
    # Only Everyone within ±1: the pool holds at least 9 − 3 − 3 = 3 yes, so d (3 − 2 = 1)
    # is still pinned and c (3 − 3 = 0) is not.
    report = audit_insiders(truth, people, K, hidden, attackers=("hr",),
                            shown_tolerance={("q", None, None): 1})  # fmt: skip
    assert found(report) == {("hr", "d", YES, 1)}


def test_one_shown_group_of_identical_answers_is_group_attribute_disclosure_not_an_exposure():
    # Team a (6, shown) all said yes: the HR insider knows every member's answer from
    # that figure alone, the single Global Majority member's included. That is the
    # sensitive items' rule's business (hidden below 2k), not a combination of figures.
    dims = {"team": ["a", "b"], "ethnicity": ["gm", "w"]}
    people = [*team("a", YES, ethnicity="gm"), *team("a", YES, YES, YES, YES, YES, ethnicity="w"),
              *team("b", YES, NO, NO, ethnicity="gm"), *team("b", NO, YES, NO, ethnicity="w")]
    # Ethnicity hidden: only the teams' figures are shown, one at a time.
    report = audit_insiders(truth_of(people, dims), people, K,
                            hiding(dims, {"ethnicity": {"gm", "w"}}))  # fmt: skip
    assert report.ok, report.exposures


def test_the_cross_classification_pins_the_only_global_majority_member_of_hidden_teams():
    # Teams a (6: 2 gm, 4 w) and b (6: 2 gm, 4 w) shown; c (2: 1 gm, 1 w) and d (3 w) hidden.
    # Global Majority (5) said yes 3 times; a and b said yes once each (so at most once
    # each from their gm members): the gm member of c said yes (3 − 1 − 1 = 1).
    dims = {"team": ["a", "b", "c", "d"], "ethnicity": ["gm", "w"]}
    people = [*team("a", YES, NO, ethnicity="gm"), *team("a", NO, NO, NO, NO, ethnicity="w"),
              *team("b", YES, NO, ethnicity="gm"), *team("b", NO, NO, NO, NO, ethnicity="w"),
              *team("c", YES, ethnicity="gm"), *team("c", NO, ethnicity="w"),
              *team("d", NO, NO, NO, ethnicity="w")]  # fmt: skip
    truth = truth_of(people, dims)
    report = audit_insiders(truth, people, K, hiding(dims, {"team": {"c", "d"}}),
                            attackers=("hr",))  # fmt: skip
    pinned = {(dict(e.cell)["team"], dict(e.cell)["ethnicity"], e.value, e.proven_at_least)
              for e in report.exposures}  # fmt: skip
    assert ("c", "gm", YES, 1) in pinned
    # Hiding every team leaves Global Majority's 3 yes to 5 people in cells of 2, 2 and 1,
    # and White's 12 unanimous no (one figure's own group attribute): nothing to pin.
    assert audit_insiders(truth, people, K, hiding(dims, {"team": {"a", "b", "c", "d"}})).ok


def test_people_that_do_not_add_up_to_the_figures_are_refused():
    people = pool_round((NO, YES), (YES, YES, YES))
    truth = truth_of(people, TEAMS)
    with pytest.raises(InsiderAuditError):
        audit_insiders(truth, people[:-1], K, hiding(TEAMS, {}))
    changed = [*people[:-1], Person({"team": "d"}, {"q": NO})]
    with pytest.raises(InsiderAuditError):
        audit_insiders(truth, changed, K, hiding(TEAMS, {}))
    with pytest.raises(InsiderAuditError):
        audit_insiders(truth, people, K, hiding(TEAMS, {}), attackers=("outsider?",))


def test_a_hidden_round_shows_nothing_to_audit():
    people = pool_round((NO, YES), (YES, YES, YES))
    hidden = RoundSuppression(True, {"team": frozenset(TEAMS["team"])}, frozenset({"q"}),
                              AuditReport((), 0, 0, 0.0), 1)  # fmt: skip
    report = audit_insiders(truth_of(people, TEAMS), people, K, hidden)
    assert report.ok and report.programs_solved == 0


def test_linked_scales_hold_the_truth_and_find_what_one_row_cannot():
    # One 5-point instrument of 2 items and its scale (score = mean of both answers).
    # Teams a, b (6 each) shown, c (2) and d (3) hidden. With the scale linked to its
    # items per cross-cell the audit still accepts the truth as a point of its system.
    dims = {"team": ["a", "b", "c", "d"]}
    answers = {"a": [(4, 4), (5, 5), (2, 2), (3, 3), (4, 5), (1, 2)],
               "b": [(5, 4), (3, 3), (2, 3), (4, 4), (1, 1), (5, 5)],
               "c": [(2, 2), (4, 4)], "d": [(3, 4), (5, 5), (1, 1)]}  # fmt: skip
    people = []
    for name, pairs in answers.items():
        for first, second in pairs:
            mean = (first + second) / 2
            point = int(mean + 0.5)
            people.append(Person({"team": name}, {"i1": str(first), "i2": str(second),
                                                  "s": str(point)}))  # fmt: skip
    values = [str(v) for v in range(1, 6)]

    def dist(members, row):
        got = Counter(p.answers[row] for p in members)
        return {v: got[v] for v in values}

    def score(members):
        return sum((Fraction(int(p.answers["i1"]) + int(p.answers["i2"]), 2) for p in members),
                   Fraction(0))

    groups = {("team", g): [p for p in people if p.groups["team"] == g] for g in answers}
    rows = [RowTruth(r, "inst", False, dist(people, r),
                     {key: dist(m, r) for key, m in groups.items()},
                     scored={v: int(v) for v in values},
                     favourable_values=frozenset({"4", "5"})) for r in ("i1", "i2")]
    rows.append(RowTruth("s", "inst", True, dist(people, "s"),
                         {key: dist(m, "s") for key, m in groups.items()},
                         score_sum=score(people),
                         group_score_sums={key: score(m) for key, m in groups.items()}))
    truth = RoundTruth(len(people), dims, {key: len(m) for key, m in groups.items()}, rows,
                       [InstrumentTruth("inst", ("i1", "i2"), "s", 1, 1, 5)])  # fmt: skip
    hidden = hiding(dims, {"team": {"c", "d"}})
    linked = audit_insiders(truth, people, K, hidden, link_scales=True)
    alone_rows = audit_insiders(truth, people, K, hidden)
    # Linking only adds constraints: whatever one row at a time proves, linked proves too.
    exposed = [{(e.attacker, e.row_id, e.cell, e.value) for e in report.exposures}
               for report in (alone_rows, linked)]  # fmt: skip
    assert exposed[0] <= exposed[1]
    assert linked.programs_solved >= 1


def test_swaps_between_hidden_cells_prove_a_pass_without_any_integer_program():
    # Hidden pool c (2: yes, skipped) + d (3: no, yes, skipped): every small-cell
    # requirement is met by moving c's yes to d's skipper, or d's answers to c's, which
    # changes no shown figure (pool: 2 yes, 1 no, 2 skips; nothing is pinned).
    people = pool_round((YES, None), (NO, YES, None))
    report = audit_insiders(truth_of(people, TEAMS), people, K, hiding(TEAMS, {"team": {"c", "d"}}))
    assert report.ok, report.exposures
    assert report.programs_solved == 0


def test_no_swap_crosses_a_shown_group():
    # c and d hidden, but a (shown) is small too: a's cells may not swap with c or d, so
    # a's uniform answers stay what the shown figure says (its allowance), not a failure.
    people = [*team("a", YES, YES, YES, YES, YES), *team("b", YES, YES, YES, NO, NO, NO),
              *team("c", YES, None), *team("d", NO, YES, None)]
    report = audit_insiders(truth_of(people, TEAMS), people, K, hiding(TEAMS, {"team": {"c", "d"}}))
    assert report.ok, report.exposures
    assert report.programs_solved == 0


def test_respondents_reuse_the_hr_insiders_points_before_any_program_of_their_own():
    # Teams and ethnicity all shown: no cell has a swap partner, so every point comes
    # from a program. The HR insider's points already keep each respondent's own answer
    # in their cell; each respondent is checked against them one at a time (not only
    # against every respondent's knowledge at once), so the respondents add no program.
    dims = {"team": ["a", "b", "c", "d"], "ethnicity": ["gm", "w"]}
    spec = {"a": ((YES, NO, YES), (NO, YES, None)), "b": ((NO, NO, YES), (YES, YES, NO)),
            "c": ((YES, NO), (NO, None, YES, YES)), "d": ((NO, YES, None), (YES, NO, NO))}
    people = [person for name, (gm, w) in spec.items()
              for person in (*team(name, *gm, ethnicity="gm"), *team(name, *w, ethnicity="w"))]
    truth, shown = truth_of(people, dims), hiding(dims, {})
    hr = audit_insiders(truth, people, K, shown, attackers=("hr",))
    both = audit_insiders(truth, people, K, shown)
    assert hr.ok and both.ok, both.exposures
    assert hr.programs_solved > 0
    assert both.programs_solved == hr.programs_solved
