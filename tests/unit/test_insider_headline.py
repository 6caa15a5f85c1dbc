"""The insiders' rule hides teams before ethnicity groups, the headline breakdown (issue 17).

Hand-made rounds of one yes/no question (no database): `decide_suppression` with the
respondents runs the insiders' audit, and `_suppress_more_for_insiders` chooses what
to hide when the audit finds an answer an insider can prove.
"""

from __future__ import annotations

from collections import Counter

from speakup.insider_audit import Person, audit_insiders
from surveys.admin_services import ETHNICITY_QUESTION
from surveys.round_disclosure import (
    HEADLINE_DIMENSION,
    RoundTruth,
    RowTruth,
    decide_suppression,
)

K = 5
YES, NO = "1", "2"
DIMS = {"ethnicity": ["gm", "w", "pn"], "team": ["a", "b", "c", "d"]}


def people_of(table: list[tuple[str, str, str, int]], row: str = "q") -> list[Person]:
    """(team, ethnicity or "" for unstated, answer, how many) -> respondents."""
    return [Person({"team": team, **({"ethnicity": eth} if eth else {})}, {row: answer})
            for team, eth, answer, count in table for _ in range(count)]  # fmt: skip


def row_of(people: list[Person], row_id: str, sensitive: bool = False) -> RowTruth:
    def dist(members: list[Person]) -> dict[str, int]:
        got = Counter(p.answers.get(row_id) for p in members)
        return {YES: got[YES], NO: got[NO]}

    by_group = {(d, g): dist([p for p in people if p.groups.get(d) == g])
                for d, groups in DIMS.items() for g in groups}  # fmt: skip
    return RowTruth(row_id, row_id, False, dist(people), by_group, sensitive=sensitive)


def truth_of(people: list[Person], rows: list[RowTruth]) -> RoundTruth:
    sizes = {(d, g): sum(1 for p in people if p.groups.get(d) == g)
             for d, groups in DIMS.items() for g in groups}  # fmt: skip
    return RoundTruth(len(people), DIMS, sizes, rows, [])


# Four small teams, every ethnicity group in each; two people left the ethnicity
# question unanswered, so "prefer not to say" (7) is hidden with them.
SMALL_TEAMS = [
    ("a", "", NO, 1), ("a", "gm", YES, 3), ("a", "gm", NO, 1), ("a", "pn", YES, 1),
    ("a", "w", YES, 1), ("a", "w", NO, 1),
    ("b", "gm", YES, 2), ("b", "pn", YES, 1), ("b", "pn", NO, 2), ("b", "w", YES, 2),
    ("b", "w", NO, 2),
    ("c", "gm", YES, 2), ("c", "pn", YES, 1), ("c", "pn", NO, 1), ("c", "w", YES, 1),
    ("d", "", YES, 1), ("d", "gm", YES, 1), ("d", "pn", YES, 1),
]


def test_hiding_small_teams_keeps_the_ethnicity_groups_shown():
    people = people_of(SMALL_TEAMS)
    truth = truth_of(people, [row_of(people, "q")])
    # The outsider's pattern shows Global Majority, White and teams a and b ...
    outsider = decide_suppression(truth, K)
    assert outsider.groups_hidden == {"ethnicity": {"pn"}, "team": {"c", "d"}}
    # ... which lets the HR insider prove an answer in the "prefer not to say" members
    # of teams b and c (team b's figure against the hidden ethnicity pool).
    flagged = audit_insiders(truth, people, K, outsider)
    assert {dict(e.cell)["team"] for e in flagged.exposures} == {"b", "c"}
    assert all(dict(e.cell)["ethnicity"] == "pn" for e in flagged.exposures)
    # Hiding one more team passes the audit: both ethnicity groups stay shown.
    decided = decide_suppression(truth, K, people=people)
    assert decided.insider is not None and decided.insider.ok
    assert decided.groups_hidden["ethnicity"] == {"pn"}
    assert not decided.hides("q", "ethnicity", "gm") and not decided.hides("q", "ethnicity", "w")
    assert len(decided.groups_hidden["team"]) == 2


# Three teams of 10 or 11 (and d, empty), Global Majority and White half yes, half no in each; the
# 6 "prefer not to say" and the one who skipped the question all said yes.
UNIFORM_POOL = [
    *((team, eth, answer, 2) for team in "abc" for eth in ("gm", "w") for answer in (YES, NO)),
    *((team, "pn", YES, 2) for team in "abc"), ("a", "", YES, 1),
]


def test_a_near_uniform_ethnicity_pool_is_merged_with_an_ethnicity_group_not_hidden_teams():
    people = people_of(UNIFORM_POOL)
    truth = truth_of(people, [row_of(people, "q")])
    # Everyone minus Global Majority minus White: 7 people, 7 yes. The HR list says
    # who they are whatever teams are shown, so hiding teams cannot help.
    all_teams_hidden = decide_suppression(truth, K)
    assert all_teams_hidden.groups_hidden["ethnicity"] == {"pn"}
    all_teams_hidden = type(all_teams_hidden)(
        False, {"ethnicity": frozenset({"pn"}), "team": frozenset(DIMS["team"])},
        frozenset(), all_teams_hidden.report, 1)  # fmt: skip
    assert not audit_insiders(truth, people, K, all_teams_hidden).ok
    decided = decide_suppression(truth, K, people=people)
    assert decided.insider is not None and decided.insider.ok
    # One ethnicity group goes into the pool (gm and w are the same size: gm sorts
    # first; the pool then needs "prefer not to say" no more), and no team is hidden
    # for nothing (d has nobody).
    assert decided.groups_hidden == {"ethnicity": {"gm"}, "team": {"d"}}


def test_an_ethnicity_group_the_audit_needs_is_hidden_in_every_row():
    people = people_of(UNIFORM_POOL, "harassed")
    # A second question where the pool's answers are mixed: only the first needs it.
    for i, person in enumerate(people):
        person.answers["fair"] = YES if i % 2 else NO  # type: ignore[index]
    truth = truth_of(people, [row_of(people, "harassed", sensitive=True), row_of(people, "fair")])
    decided = decide_suppression(truth, K, people=people)
    assert decided.insider is not None and decided.insider.ok
    # One pattern per breakdown: rows share their respondents.
    assert decided.hides("harassed", "ethnicity", "gm") and decided.hides("fair", "ethnicity", "gm")
    assert not decided.hides("fair", "ethnicity", "w")
    assert decided.groups_hidden["team"] == {"d"}


def test_the_headline_dimension_is_the_ethnicity_question():
    assert ETHNICITY_QUESTION["id"] == HEADLINE_DIMENSION
