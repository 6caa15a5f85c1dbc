"""Crafted rounds publish nothing recoverable: no shown cell below k, no subtraction attack."""

from __future__ import annotations

import random

import pytest
from publish_factory import (
    ETHNICITY,
    TEAM,
    Respondent,
    add_responses,
    assert_nothing_recoverable,
    crowd,
    make_round,
    make_survey,
    random_respondents,
    stored_round,
)

from surveys.itembank import load_item_bank
from surveys.publish import publish_round

K = 5
BANK = load_item_bank()


def publish(session, settings, clock, people, *, demographics=(ETHNICITY, TEAM), k=K,
            items=None, invited=200):
    extra = {"item_ids": items} if items else {}
    survey = make_survey(session, demographics=demographics, **extra)
    round_ = make_round(session, survey, keys=settings, k=k, invited=invited)
    add_responses(session, round_, people)
    publish_round(session, round_, settings, clock)
    published = stored_round(session, round_.id)
    assert_nothing_recoverable(published)
    return published


def shown_groups(published, dim="ethnicity"):
    return {g for g, n in published.group_counts[dim].items() if n is not None}


def assert_rows_follow_groups(published, dim="ethnicity"):
    """Every row shows exactly the groups whose respondent count is shown (all answered)."""
    shown = shown_groups(published, dim)
    for row in published.items + published.scales:
        if row.overall is None:
            continue
        assert {g for g, c in row.by_group[dim].items() if c is not None} == shown, row.id


def test_a_group_of_k_minus_1_is_hidden_with_its_complement(session, settings, clock):
    people = crowd({"global_majority": K - 1, "white": 20, "prefer_not": 6})
    published = publish(session, settings, clock, people)
    assert published.responses == 30
    assert published.group_counts["ethnicity"] == {
        "global_majority": None, "white": 20, "prefer_not": None,
    }
    assert_rows_follow_groups(published)


def test_two_small_groups_pull_in_a_third(session, settings, clock):
    people = crowd({"a": 2, "b": 2, "c": 30, "d": 31}, dimension="team")
    published = publish(session, settings, clock, people)
    counts = published.group_counts["team"]
    assert counts["a"] is None and counts["b"] is None
    # 2 + 2 < k, so the smallest shown group goes too.
    assert counts == {"a": None, "b": None, "c": None, "d": 31, "prefer_not": None}
    assert_rows_follow_groups(published, "team")


def test_one_group_equal_to_total_minus_k_minus_1_hides_the_whole_breakdown(
    session, settings, clock
):
    people = crowd({"white": 26, "global_majority": 2, "prefer_not": 2})
    published = publish(session, settings, clock, people)
    assert published.responses == 30
    assert set(published.group_counts["ethnicity"].values()) == {None}
    for row in published.items:
        if row.id not in people[0].answers:
            continue
        assert row.overall is not None and row.overall.n == 30
        assert set(row.by_group["ethnicity"].values()) == {None}


def test_small_prefer_not_to_say_is_a_group_like_any_other(session, settings, clock):
    people = crowd({"global_majority": 10, "white": 17, "prefer_not": 3})
    published = publish(session, settings, clock, people)
    assert published.group_counts["ethnicity"] == {
        "global_majority": None, "white": 17, "prefer_not": None,
    }


def test_large_prefer_not_to_say_is_shown(session, settings, clock):
    people = crowd({"global_majority": 10, "white": 17, "prefer_not": 8})
    published = publish(session, settings, clock, people)
    assert published.group_counts["ethnicity"] == {
        "global_majority": 10, "white": 17, "prefer_not": 8,
    }
    assert_rows_follow_groups(published)


def test_people_who_skipped_the_question_cannot_be_singled_out(session, settings, clock):
    # Three people left the ethnicity question blank: total 30, groups 10 + 17.
    people = crowd({"global_majority": 10, "white": 17, "": 3})
    published = publish(session, settings, clock, people)
    assert published.responses == 30
    # Showing both groups would reveal the three (30 - 27) and their answers.
    assert published.group_counts["ethnicity"] == {
        "global_majority": None, "white": 17, "prefer_not": None,
    }


def test_an_option_the_survey_does_not_list_is_never_published(session, settings, clock):
    people = crowd({"global_majority": 10, "white": 17, "retired_option": 8})
    published = publish(session, settings, clock, people)
    assert published.group_counts["ethnicity"] == {
        "global_majority": 10, "white": 17, "prefer_not": None,
    }


def test_a_shown_group_with_few_answers_to_one_item_is_hidden_in_that_row(
    session, settings, clock
):
    # Every group is large, but only 2 white respondents answered speak_2.
    people = crowd({"global_majority": 10, "white": 17, "prefer_not": 8})
    for person in [p for p in people if p.groups["ethnicity"] == "white"][:2]:
        person.answers["speak_2"] = 5
    published = publish(session, settings, clock, people)
    row = next(r for r in published.items if r.id == "speak_2")
    assert row.overall is None  # 2 answers overall: below k
    row = next(r for r in published.items if r.id == "speak_1")
    assert all(c is not None for c in row.by_group["ethnicity"].values())

    # And when the item's overall n is shown, the row's complement hides more.
    for person in [p for p in people if p.groups["ethnicity"] == "global_majority"]:
        person.answers["speak_2"] = 4
    published = publish(session, settings, clock, people)
    row = next(r for r in published.items if r.id == "speak_2")
    assert row.overall.n == 12
    assert all(c is None for c in row.by_group["ethnicity"].values())


def test_fewer_than_k_responses_publish_nothing(session, settings, clock):
    people = crowd({"white": K - 1})
    for person in people:
        person.comment = "All fine."
    published = publish(session, settings, clock, people, invited=40)
    assert published.responses is None and published.response_rate is None
    assert published.comments is None
    assert all(row.overall is None for row in published.items + published.scales)
    assert set(published.group_counts["ethnicity"].values()) == {None}


def test_response_rate_shown_with_the_count(session, settings, clock):
    published = publish(session, settings, clock, crowd({"white": 8}), invited=40)
    assert published.responses == 8
    assert published.response_rate == pytest.approx(0.2)
    # Everyone is white: the empty groups hide nobody, so the group can be shown.
    assert published.group_counts["ethnicity"] == {
        "global_majority": None, "white": 8, "prefer_not": None,
    }


@pytest.mark.parametrize("seed", range(6))
def test_random_small_rounds_leak_nothing(session, settings, clock, seed):
    rng = random.Random(seed)
    items = ["psafe_1", "psafe_2", "psafe_3", "psafe_4", "speak_1", "wres_5"]
    people = random_respondents(rng, BANK, items, rng.randint(3, 45), (ETHNICITY, TEAM))
    for person in people:
        if rng.random() < 0.3:
            person.groups.pop("team", None)
    publish(session, settings, clock, people, items=items, k=rng.choice([3, 5, 7]))


def test_no_group_questions_publishes_overall_only(session, settings, clock):
    people = [Respondent({"psafe_2": 7}) for _ in range(6)]
    published = publish(session, settings, clock, people, demographics=())
    assert published.dimensions == [] and published.group_counts == {}
    assert published.items[1].overall.n == 6 and published.items[1].by_group == {}
