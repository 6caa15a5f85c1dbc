"""Insiders cannot prove a colleague's answer (issue 17, findings 3 and 4), and sensitive
items hide near-uniform groups below 2k.

The attacker here is the test's own integer program over the cross-classified cells
(insider_attacker.py), reading what the decision or the stored payload shows and the
test's respondents (the HR list). "Before" is the decision without the respondents,
which is exactly what publication did before the insiders' audit existed.
"""

from __future__ import annotations

from attacker import attack, truth_from_people
from insider_attacker import (
    alone,
    cell_of,
    lowest,
    people_for_audit,
    shown_by_decision,
    shown_in_payload,
)
from publish_factory import (
    ETHNICITY,
    Respondent,
    add_responses,
    make_round,
    make_survey,
    stored_round,
)

from surveys.itembank import load_item_bank
from surveys.publish import preview_suppression, publish_round
from surveys.round_disclosure import decide_suppression

K = 5
BANK = load_item_bank()
YES, NO = 1, 2
TEAMS = {"id": "team", "label": "Team",
         "options": [{"id": t, "label": f"Team {t}"} for t in ("a", "b", "c", "d")]}  # fmt: skip
TEAM_DIMS = {"team": ["a", "b", "c", "d", "prefer_not"]}
BOTH_DIMS = {"ethnicity": ["global_majority", "white", "prefer_not"], **TEAM_DIMS}
VALUES = ["1", "2"]


def finding_3_people() -> list[Respondent]:
    """Teams a and b (6 each) shown; c (2) and d (3) hidden together. In the pool, the
    answers other than the respondent's own ("no", in team c) are all "yes"."""
    people = []
    for team in ("a", "b"):
        people += [Respondent({"wres_7": YES if i < 3 else NO}, {"team": team}) for i in range(6)]
    people.append(Respondent({"wres_7": NO}, {"team": "c"}))  # the attacker
    people.append(Respondent({"wres_7": YES}, {"team": "c"}))  # their colleague
    people += [Respondent({"wres_7": YES}, {"team": "d"}) for _ in range(3)]
    return people


def finding_4_people() -> list[Respondent]:
    """Teams a, b (10 each) shown; c (2), d (3) hidden. The only Global Majority person
    in c and d said yes to harassment from managers or colleagues (wres_6)."""

    def person(team: str, ethnicity: str, answer: int) -> Respondent:
        return Respondent({"wres_6": answer, "wres_7": YES},
                          {"team": team, "ethnicity": ethnicity})  # fmt: skip

    people = [person("a", "global_majority", YES if i < 2 else NO) for i in range(4)]
    people += [person("a", "white", NO) for _ in range(6)]
    people += [person("b", "global_majority", YES if i < 1 else NO) for i in range(4)]
    people += [person("b", "white", NO) for _ in range(6)]
    people.append(person("c", "global_majority", YES))  # the person the manager is after
    people.append(person("c", "white", NO))
    people += [person("d", "white", NO) for _ in range(3)]
    return people


def insiders_learn_nothing(people, dims, shown, item_ids, own_too=True) -> None:
    """No member of a cross-cell smaller than k has an answer proven beyond what one shown
    figure alone says, by the HR list, nor by any respondent subtracting their own."""
    heads = {}
    for p in people:
        heads[cell_of(p, dims)] = heads.get(cell_of(p, dims), 0) + 1
    for item_id in item_ids:
        figures = shown[item_id]
        for cell, head in heads.items():
            if head >= K:
                continue
            for value in VALUES:
                least = lowest(people, dims, figures, item_id, VALUES, cell, value)
                assert least <= max(0, alone(people, dims, figures, cell, value)), (
                    item_id, cell, value, least)
                if not own_too or head < 2:
                    continue
                for me in (p for p in people if cell_of(p, dims) == cell):
                    mine = int(str(me.answers.get(item_id)) == value)
                    least = lowest(people, dims, figures, item_id, VALUES, cell, value, own=me)
                    assert least <= max(0, alone(people, dims, figures, cell, value) - mine), (
                        item_id, cell, value, "respondent", least)


def test_finding_3_a_respondent_subtracting_themselves_learns_their_colleagues_answer():
    people = finding_3_people()
    truth = truth_from_people(BANK, ["wres_7"], TEAM_DIMS, people)
    dims = list(TEAM_DIMS)
    # Before: the outsider's audit alone hides c and d together, and passes
    before = decide_suppression(truth, K)
    assert before.groups_hidden["team"] >= {"c", "d"} and "a" not in before.groups_hidden["team"]
    shown = shown_by_decision(truth, before)["wres_7"]
    # The attacker (team c, answered no) proves their colleague answered yes
    me = people[12]
    assert lowest(people, dims, shown, "wres_7", VALUES, ("c",), "1", own=me) == 1
    # After: with the respondents given, nobody in c or d has an answer proven
    after = decide_suppression(truth, K, people=people_for_audit(BANK, ["wres_7"], people))
    assert after.insider is not None and after.insider.ok
    assert lowest(people, dims, shown_by_decision(truth, after)["wres_7"], "wres_7", VALUES,
                  ("c",), "1", own=me) == 0  # fmt: skip
    insiders_learn_nothing(people, dims, shown_by_decision(truth, after), ["wres_7"])


def test_finding_3_is_flagged_by_the_audit_for_both_insiders():
    people = finding_3_people()
    truth = truth_from_people(BANK, ["wres_7"], TEAM_DIMS, people)
    before = decide_suppression(truth, K)
    audit_people = people_for_audit(BANK, ["wres_7"], people)
    for attackers in (("hr",), ("respondent",)):
        flagged = decide_suppression(truth, K, people=audit_people, attackers=attackers)
        assert flagged.rounds_of_audit > before.rounds_of_audit, attackers
        assert flagged.insider is not None and flagged.insider.ok


def test_finding_4_a_manager_with_the_hr_list_pins_the_only_global_majority_person():
    people = finding_4_people()
    items = ["wres_6", "wres_7"]
    truth = truth_from_people(BANK, items, BOTH_DIMS, people)
    dims = list(BOTH_DIMS)
    target = cell_of(people[20], dims)  # ("global_majority", "c")
    before = decide_suppression(truth, K)
    assert before.groups_hidden["team"] >= {"c", "d"}
    assert not before.hides("wres_6", "ethnicity", "global_majority")
    shown = shown_by_decision(truth, before)["wres_6"]
    # Global Majority said yes 4 times; teams a and b said yes 2 and 1 times in all,
    # so at least one yes is left for the one Global Majority person in c and d.
    assert lowest(people, dims, shown, "wres_6", VALUES, target, "1") == 1
    assert alone(people, dims, shown, target, "1") <= 0  # no single figure says it
    after = decide_suppression(truth, K, people=people_for_audit(BANK, items, people))
    assert after.insider is not None and after.insider.ok
    after_shown = shown_by_decision(truth, after)
    assert lowest(people, dims, after_shown["wres_6"], "wres_6", VALUES, target, "1") == 0
    insiders_learn_nothing(people, dims, after_shown, items)
    # The audit records what it checked
    assert after.insider.programs_solved >= 0 and after.report.ok


def test_finding_4_published_through_the_database_keeps_the_answer(session, settings, clock):
    people = finding_4_people()
    items = ["wres_6", "wres_7"]
    survey = make_survey(session, item_ids=items, demographics=[ETHNICITY, TEAMS])
    round_ = make_round(session, survey, k=K, keys=settings)
    add_responses(session, round_, people)
    preview = preview_suppression(session, round_, settings)
    assert preview.suppression.insider is not None and preview.suppression.insider.ok
    publish_round(session, round_, settings, clock)
    published = stored_round(session, round_.id)
    dims = [d.id for d in published.dimensions]
    shown = shown_in_payload(published)
    target = cell_of(people[20], dims)
    assert lowest(people, dims, shown["wres_6"], "wres_6", VALUES, target, "1") == 0
    insiders_learn_nothing(people, dims, shown, items)
    # The preview hid exactly what publication hid
    for dim in published.dimensions:
        hidden = {g for g, n in published.group_counts[dim.id].items() if n is None}
        assert hidden == set(preview.suppression.groups_hidden[dim.id])
    assert attack(published, BANK, people).ok


def test_finding_3_published_through_the_database(session, settings, clock):
    people = finding_3_people()
    survey = make_survey(session, item_ids=["wres_7"], demographics=[TEAMS])
    round_ = make_round(session, survey, k=K, keys=settings)
    add_responses(session, round_, people)
    publish_round(session, round_, settings, clock)
    published = stored_round(session, round_.id)
    shown = shown_in_payload(published)
    assert lowest(people, ["team"], shown["wres_7"], "wres_7", VALUES, ("c",), "1",
                  own=people[12]) == 0  # fmt: skip
    insiders_learn_nothing(people, ["team"], shown, ["wres_7"])


# --- sensitive items ---------------------------------------------------------------------


def sensitive_round(gm_yes: int, gm_no: int) -> tuple[list[Respondent], object]:
    """Global Majority as given on wres_5 (sensitive); White 12, mixed; wres_7 too."""
    people = [Respondent({"wres_5": YES, "wres_7": YES}, {"ethnicity": "global_majority"})
              for _ in range(gm_yes)]  # fmt: skip
    people += [Respondent({"wres_5": NO, "wres_7": NO}, {"ethnicity": "global_majority"})
               for _ in range(gm_no)]  # fmt: skip
    people += [Respondent({"wres_5": YES if i < 4 else NO, "wres_7": YES},
                          {"ethnicity": "white"}) for i in range(12)]  # fmt: skip
    truth = truth_from_people(BANK, ["wres_5", "wres_7"],
                              {"ethnicity": ["global_majority", "white", "prefer_not"]}, people)
    return people, truth


def gm_shown(truth, row_id: str) -> bool:
    decided = decide_suppression(truth, K)
    assert decided.report.ok
    return not decided.hides(row_id, "ethnicity", "global_majority")


def test_a_sensitive_item_hides_six_of_six_yes_below_2k():
    _, truth = sensitive_round(6, 0)
    assert not gm_shown(truth, "wres_5")
    assert gm_shown(truth, "wres_7")  # the same group, an item that is not sensitive


def test_a_sensitive_item_shows_twelve_of_twelve_yes_at_2k_or_more():
    _, truth = sensitive_round(12, 0)
    assert gm_shown(truth, "wres_5")


def test_a_sensitive_item_hides_seven_of_eight_yes():
    _, truth = sensitive_round(7, 1)
    assert not gm_shown(truth, "wres_5")


def test_a_sensitive_item_shows_five_yes_three_no():
    _, truth = sensitive_round(5, 3)
    assert gm_shown(truth, "wres_5")


def test_a_sensitive_item_hides_a_near_uniform_everyone_below_2k():
    people = [Respondent({"wres_5": NO}, {"ethnicity": "white"}) for _ in range(8)]
    truth = truth_from_people(BANK, ["wres_5"], {"ethnicity": ["white", "prefer_not"]}, people)
    decided = decide_suppression(truth, K)
    assert "wres_5" in decided.rows_hidden


def test_a_hidden_sensitive_cell_cannot_be_rebuilt_from_the_rest_of_its_row():
    # Everyone minus White would give Global Majority's 6 yes back: White is hidden
    # in that row too, and the audit cannot show fewer than 2 answers other than yes.
    _, truth = sensitive_round(6, 0)
    decided = decide_suppression(truth, K)
    assert decided.hides("wres_5", "ethnicity", "white")
    assert not decided.hides("wres_7", "ethnicity", "white")
    assert decided.cells_hidden[("wres_5", "ethnicity")] >= {"global_majority", "white"}


def test_a_sensitive_cell_is_hidden_in_the_stored_payload(session, settings, clock):
    people, _ = sensitive_round(7, 1)
    survey = make_survey(session, item_ids=["wres_5", "wres_7"], demographics=[ETHNICITY])
    round_ = make_round(session, survey, k=K, keys=settings)
    add_responses(session, round_, people)
    publish_round(session, round_, settings, clock)
    published = stored_round(session, round_.id)
    rows = {row.id: row for row in published.items}
    assert rows["wres_5"].by_group["ethnicity"]["global_majority"] is None
    assert rows["wres_7"].by_group["ethnicity"]["global_majority"] is not None
    assert published.group_counts["ethnicity"]["global_majority"] == 8
    assert attack(published, BANK, people).ok
