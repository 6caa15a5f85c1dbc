"""Reference scoring: respondent scale scores, item and scale summaries."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.itembank import NO, PREFER_NOT_TO_SAY, YES, load_item_bank
from surveys.scoring import (
    Summary,
    respondent_scale_score,
    round_half_up,
    scale_point,
    summarise,
    summarise_item,
    summarise_scale,
    yes_count,
    yes_share,
)

BANK = load_item_bank()
PSAFE = BANK.instrument("psafe")
SPEAK = BANK.instrument("speak")
INCL = BANK.instrument("incl")
WRES = BANK.instrument("wres")


# --- respondent scale scores ---------------------------------------------------------


def test_scale_score_flips_reverse_items_before_the_mean():
    # Agreeing strongly with everything: the three negative items score 1.
    answers = {item.id: 7 for item in PSAFE.items}
    assert respondent_scale_score(PSAFE, answers) == pytest.approx((4 * 7 + 3 * 1) / 7)
    # A consistently safe team: disagree with the negative items, agree with the rest.
    safe = {item.id: 1 if item.reverse else 7 for item in PSAFE.items}
    assert respondent_scale_score(PSAFE, safe) == 7


def test_scale_score_needs_at_least_half_the_items():
    three = {"psafe_1": 2, "psafe_2": 6, "psafe_3": None, "psafe_4": 5}
    assert respondent_scale_score(PSAFE, three) is None  # 3 of 7 < 3.5
    four = {**three, "psafe_6": 7}
    assert respondent_scale_score(PSAFE, four) == (6 + 6 + 5 + 7) / 4
    assert respondent_scale_score(SPEAK, {"speak_1": 4}) is None
    assert respondent_scale_score(SPEAK, {"speak_1": 4, "speak_4": 1}) == 2.5
    assert respondent_scale_score(SPEAK, {}) is None


def test_scale_score_ignores_other_instruments_answers():
    answers = {"speak_1": 5, "speak_2": 4, "psafe_1": 1, "wres_5": PREFER_NOT_TO_SAY}
    assert respondent_scale_score(SPEAK, answers) == 4.5


def test_subdimension_scores():
    answers = {"incl_1": 5, "incl_2": 4, "incl_3": 3, "incl_8": 2}
    assert respondent_scale_score(INCL, answers, subdimension="openness") == 4
    assert respondent_scale_score(INCL, answers, subdimension="accessibility") == 2
    assert respondent_scale_score(INCL, answers, subdimension="availability") is None
    assert respondent_scale_score(INCL, answers) is None  # 4 of 9 < 4.5


def test_scale_score_refuses_instruments_without_one_and_bad_values():
    with pytest.raises(ValueError, match="no scale score"):
        respondent_scale_score(WRES, {"wres_5": YES})
    with pytest.raises(ValueError, match="not a value of scale"):
        respondent_scale_score(SPEAK, {"speak_1": 6, "speak_2": 5})


# --- item summaries ------------------------------------------------------------------


def test_item_summary_of_a_plain_agree_item():
    summary = summarise_item(BANK.item("psafe_2"), [7, 6, 6, 4, 1, None])
    assert summary == Summary(
        n=5,
        mean=24 / 5,
        favourable_share=3 / 5,
        distribution={1: 1, 2: 0, 3: 0, 4: 1, 5: 0, 6: 2, 7: 1},
    )
    assert sum(summary.distribution.values()) == summary.n


def test_item_summary_of_a_reversed_item_counts_disagreement_as_favourable():
    summary = summarise_item(BANK.item("psafe_1"), [1, 2, 7, 4])
    # The distribution stays in the options people chose ...
    assert summary.distribution == {1: 1, 2: 1, 3: 0, 4: 1, 5: 0, 6: 0, 7: 1}
    # ... while mean and favourable share are after reverse scoring.
    assert summary.mean == (7 + 6 + 1 + 4) / 4
    assert summary.favourable_share == 2 / 4


def test_item_summary_of_a_yes_no_item():
    values = [YES, YES, NO, PREFER_NOT_TO_SAY, PREFER_NOT_TO_SAY, None, NO, NO]
    harassment = summarise_item(BANK.item("wres_5"), values)
    assert harassment == Summary(
        n=5,
        mean=None,
        favourable_share=3 / 5,  # lower is better: "No" is favourable
        distribution={YES: 2, NO: 3},
        yes_share=2 / 5,
        declined=2,
    )
    fairness = summarise_item(BANK.item("wres_7"), values)
    assert fairness.favourable_share == fairness.yes_share == 2 / 5


def test_summary_of_nothing():
    empty = summarise_item(BANK.item("speak_1"), [None, None])
    assert empty == Summary(
        n=0, mean=None, favourable_share=None, distribution=dict.fromkeys(range(1, 6), 0)
    )
    declined_only = summarise_item(BANK.item("wres_6"), [PREFER_NOT_TO_SAY])
    assert (declined_only.n, declined_only.yes_share, declined_only.declined) == (0, None, 1)
    assert summarise_scale(PSAFE, [None]).mean is None


def test_item_summary_refuses_values_off_the_scale():
    with pytest.raises(ValueError):
        summarise_item(BANK.item("speak_1"), [5, 7])


# --- scale summaries -----------------------------------------------------------------


def test_scale_summary_bins_scores_half_up_and_favourable_is_top_two_bins():
    summary = summarise_scale(SPEAK, [5.0, 4.25, 3.5, 3.49, 1.0, None])
    assert summary.n == 5
    assert summary.mean == pytest.approx((5.0 + 4.25 + 3.5 + 3.49 + 1.0) / 5)
    assert summary.distribution == {1: 1, 2: 0, 3: 1, 4: 2, 5: 1}
    assert summary.favourable_share == 3 / 5  # 5.0, 4.25 and 3.5 round into 4-5


def test_scale_summary_refuses_scores_outside_the_scale_and_unscored_instruments():
    with pytest.raises(ValueError, match="outside scale"):
        summarise_scale(SPEAK, [5.5])
    with pytest.raises(ValueError, match="no scale score"):
        summarise_scale(WRES, [1.0])


def test_summarise_dispatches_on_item_or_instrument():
    assert summarise([4, 5], BANK.item("speak_1")) == summarise_item(BANK.item("speak_1"), [4, 5])
    assert summarise([4.5], SPEAK) == summarise_scale(SPEAK, [4.5])
    with pytest.raises(TypeError):
        summarise([1], BANK.scale("agree5"))


def test_scale_point_rounds_half_up_not_to_even():
    agree7 = BANK.scale("agree7")
    assert [scale_point(x, agree7) for x in (1.0, 1.49, 1.5, 2.5, 4.5, 6.5, 7.0)] == [
        1,
        1,
        2,
        3,
        5,
        7,
        7,
    ]
    with pytest.raises(ValueError, match="no points"):
        scale_point(1.0, BANK.scale("yes_no"))


# --- yes share and display rounding --------------------------------------------------


def test_yes_share_leaves_out_skips_and_prefer_not_to_say():
    values = [YES, NO, NO, PREFER_NOT_TO_SAY, None, YES, YES]
    assert yes_count(values) == (3, 5)
    assert yes_share(values) == 3 / 5
    assert yes_share([PREFER_NOT_TO_SAY, None]) is None
    for bad in (3, True, False, "1"):
        with pytest.raises(ValueError, match="not a yes/no value"):
            yes_count([bad])


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (0.125, 2, 0.13),
        (2.675, 2, 2.68),
        (2.5, 0, 3.0),
        (3.5, 0, 4.0),
        (62.45, 1, 62.5),
        (-0.5, 0, -1.0),
    ],
)
def test_round_half_up_for_display(value, places, expected):
    assert round_half_up(value, places) == expected


# --- properties the SQL implementation must share ------------------------------------

agree_answers = st.lists(st.one_of(st.none(), st.integers(1, 7)), max_size=60)


@settings(database=None)
@given(
    item_id=st.sampled_from([item.id for item in PSAFE.items]),
    values=agree_answers,
)
def test_item_summary_invariants(item_id, values):
    item = BANK.item(item_id)
    summary = summarise_item(item, values)
    answered = [v for v in values if v is not None]
    assert summary.n == len(answered) == sum(summary.distribution.values())
    if not answered:
        assert summary.mean is None and summary.favourable_share is None
        return
    assert 1 <= summary.mean <= 7
    top_two = (1, 2) if item.reverse else (6, 7)
    assert summary.favourable_share == sum(summary.distribution[v] for v in top_two) / summary.n


@settings(database=None)
@given(
    respondents=st.lists(
        st.fixed_dictionaries(
            {item.id: st.one_of(st.none(), st.integers(1, 7)) for item in PSAFE.items}
        ),
        max_size=30,
    )
)
def test_scale_summary_matches_the_integer_formulas_sql_uses(respondents):
    scores = []
    for answers in respondents:
        scored = [BANK.item(i).scored(v) for i, v in answers.items() if v is not None]
        score = respondent_scale_score(PSAFE, answers)
        if len(scored) < PSAFE.min_answered:
            assert score is None
            continue
        assert score == pytest.approx(sum(scored) / len(scored))
        # The scale point SQL computes in integers: (2 * sum + count) // (2 * count).
        assert scale_point(score, PSAFE.scale) == (2 * sum(scored) + len(scored)) // (
            2 * len(scored)
        )
        scores.append(score)
    summary = summarise_scale(PSAFE, scores)
    assert summary.n == len(scores) == sum(summary.distribution.values())
    if scores:
        assert math.isclose(summary.mean, sum(scores) / len(scores))
        favourable = summary.distribution[6] + summary.distribution[7]
        assert summary.favourable_share == favourable / len(scores)
