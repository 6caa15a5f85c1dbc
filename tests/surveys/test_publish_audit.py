"""Nothing a round hides can be worked out from everything it shows (the attacker's audit)."""

from __future__ import annotations

import random

import pytest
from attacker import attack, truth_from_people
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from publish_factory import (
    ETHNICITY,
    TEAM,
    Respondent,
    add_responses,
    make_round,
    make_survey,
    random_respondents,
    stored_round,
)

from speakup.disclosure import hidden_keys
from speakup.disclosure_audit import audit_model
from surveys.itembank import load_item_bank
from surveys.publish import publish_round
from surveys.round_disclosure import UNSTATED, attack_model, decide_suppression

K = 5
BANK = load_item_bank()
SPEAK = ["speak_1", "speak_2", "speak_3", "speak_4"]
ETHNIC_GROUPS = {"ethnicity": ["global_majority", "white", "prefer_not"]}


def finding_one_people() -> list[Respondent]:
    """Global Majority: 6 answer all four items; White: 5, only one answers speak_1."""
    people = [
        Respondent({"speak_1": 4, "speak_2": 4, "speak_3": 5, "speak_4": 3},
                   {"ethnicity": "global_majority"})
        for _ in range(6)
    ]  # fmt: skip
    people.append(Respondent({"speak_1": 1, "speak_2": 2, "speak_3": 2, "speak_4": 2},
                             {"ethnicity": "white"}))  # fmt: skip
    people += [Respondent({"speak_2": 3, "speak_3": 3, "speak_4": 3}, {"ethnicity": "white"})
               for _ in range(4)]  # fmt: skip
    people += [Respondent({"speak_2": 4, "speak_3": 4, "speak_4": 4},
                          {"ethnicity": "prefer_not"}) for _ in range(3)]  # fmt: skip
    people += [Respondent({"speak_2": 5, "speak_3": 5, "speak_4": 5}) for _ in range(2)]
    return people


def test_finding_1_a_scale_mean_no_longer_rebuilds_a_hidden_item(session, settings, clock):
    # Given the round of the finding: every group's speak_1 cell must be hidden
    people = finding_one_people()
    survey = make_survey(session, item_ids=SPEAK, demographics=[ETHNICITY])
    round_ = make_round(session, survey, keys=settings, k=K)
    add_responses(session, round_, people)

    # When it is published
    publish_round(session, round_, settings, clock)
    published = stored_round(session, round_.id)

    # Then White and Global Majority are hidden in every row of the instrument, the
    # scale included, so "4 x n x scale mean - the other items" has nothing to start from
    rows = {row.id: row for row in published.items + published.scales}
    for row_id in [*SPEAK, "speak"]:
        cells = rows[row_id].by_group["ethnicity"]
        assert cells["global_majority"] is None and cells["white"] is None, row_id
    assert published.group_counts["ethnicity"]["white"] is None
    # And the attacker's audit over the stored payload finds nothing to pin
    assert attack(published, BANK, people).ok


def test_a_row_by_row_publication_of_finding_1_fails_the_audit():
    # The publication this replaced: respondents table shown whole, speak_1 hiding
    # White and (as its complement) Global Majority, the other rows hiding nothing.
    people = [p for p in finding_one_people() if p.groups.get("ethnicity") != "prefer_not"
              and p.groups]  # fmt: skip
    truth = truth_from_people(BANK, SPEAK, ETHNIC_GROUPS, people)
    naive = {("speak_1", "ethnicity"): frozenset({"global_majority", "white", "prefer_not"})}
    model = attack_model(truth, K, False, {"ethnicity": frozenset({"prefer_not"})},
                         frozenset(), row_groups_hidden=naive)  # fmt: skip
    report = audit_model(model)
    # White's 5 are shown and Global Majority's 6 answered speak_1 with the one White
    # person: 7 answers, at most 6 from Global Majority, so White's cell is at least 1.
    exposed = {e.key: e for e in report.exposures}
    white = exposed[("n", "speak_1", "ethnicity", "white")]
    assert white.value == 1 and white.low == 1


def test_primary_suppression_alone_fails_the_audit():
    people = ([Respondent({"speak_2": 4}, {"ethnicity": "white"}) for _ in range(3)]
              + [Respondent({"speak_2": 2}, {"ethnicity": "global_majority"})
                 for _ in range(9)])  # fmt: skip
    truth = truth_from_people(BANK, ["speak_2"], ETHNIC_GROUPS, people)
    model = attack_model(truth, K, False, {"ethnicity": frozenset({"white", "prefer_not"})},
                         frozenset())  # fmt: skip
    exposed = {e.key: e for e in audit_model(model).exposures}
    # Everyone minus Global Majority leaves 3 people for White (or the empty groups):
    # a group that cannot be told from one of fewer than k.
    assert exposed[("r", "ethnicity", "white")].high == 3
    assert exposed[("n", "speak_2", "ethnicity", "white")].high == 3


def test_the_decision_passes_where_the_naive_one_fails():
    people = [p for p in finding_one_people() if p.groups]
    truth = truth_from_people(BANK, SPEAK, ETHNIC_GROUPS, people)
    decided = decide_suppression(truth, K)
    assert decided.report.ok
    assert {"global_majority", "white"} <= decided.groups_hidden["ethnicity"]


def _people_strategy():
    answer = st.one_of(st.none(), st.integers(1, 5))
    group = st.sampled_from(["global_majority", "white", "prefer_not", None])
    person = st.tuples(st.lists(answer, min_size=4, max_size=4), group)
    return st.lists(person, min_size=0, max_size=40)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_people_strategy(), k=st.integers(3, 6))
def test_any_round_passes_the_audit_after_publication(raw, k):
    # Random groups, skipped questions, prefer-not-to-say and unanswered group questions
    people = [
        Respondent({item: value for item, value in zip(SPEAK, answers, strict=True)
                    if value is not None}, {"ethnicity": g} if g else {})
        for answers, g in raw
    ]  # fmt: skip
    truth = truth_from_people(BANK, SPEAK, ETHNIC_GROUPS, people)
    decided = decide_suppression(truth, k)
    # An independent audit of the decided pattern finds nothing, and every shown line
    # still keeps small cells out and hidden remainders at 0 or >= k.
    model = attack_model(truth, k, decided.total_hidden, decided.groups_hidden,
                         decided.rows_hidden)  # fmt: skip
    assert audit_model(model).ok
    hidden = decided.groups_hidden["ethnicity"]
    if not decided.total_hidden:
        sizes = {g: sum(1 for p in people if p.groups.get("ethnicity") == g)
                 for g in ETHNIC_GROUPS["ethnicity"]}  # fmt: skip
        sizes[UNSTATED] = len(people) - sum(sizes.values())
        assert hidden_keys(sizes, k, also={*hidden, UNSTATED}) <= {*hidden, UNSTATED}


@pytest.mark.parametrize("seed", [4, 5])
def test_random_rounds_published_through_the_database_pass_the_attackers_audit(
    session, settings, clock, seed
):
    rng = random.Random(seed)
    items = ["psafe_1", "psafe_2", "psafe_3", "psafe_4", *SPEAK, "wres_5", "wres_7"]
    survey = make_survey(session, item_ids=items)
    round_ = make_round(session, survey, keys=settings, k=K)
    people = random_respondents(rng, BANK, items, 45, (ETHNICITY, TEAM))
    add_responses(session, round_, people)
    publish_round(session, round_, settings, clock)
    report = attack(stored_round(session, round_.id), BANK, people)
    assert report.ok, report.exposures[:3]
