"""Publication's SQL aggregates agree with the pure reference in surveys.scoring."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from publish_factory import (
    ETHNICITY,
    TEAM,
    add_responses,
    assert_nothing_recoverable,
    make_round,
    make_survey,
    random_respondents,
    stored_round,
)

from surveys.itembank import load_item_bank
from surveys.publish import publish_round
from surveys.published import Cell
from surveys.scoring import Summary, respondent_scale_score, summarise_item, summarise_scale

BANK = load_item_bank()
# Every instrument; incl asks 5 of 9 items, just enough (ceil(0.5 x 9)) for a scale score.
SURVEY_ITEMS = [
    *(f"psafe_{i}" for i in range(1, 8)),
    *(f"speak_{i}" for i in range(1, 5)),
    *(f"incl_{i}" for i in range(1, 6)),
    *(f"wres_{i}" for i in range(5, 9)),
]


def assert_same(cell: Cell | None, expected: Summary, *, mean_rounded: bool = False) -> None:
    assert cell is not None
    assert cell.n == expected.n
    assert cell.distribution == {str(v): c for v, c in expected.distribution.items()}
    mean = expected.mean
    if mean_rounded and mean is not None:
        # Scale means are stored as shown: two decimals, half up.
        mean = math.floor(mean * 100 + 0.5) / 100
    for got, want in (
        (cell.mean, mean),
        (cell.favourable, expected.favourable_share),
        (cell.yes_share, expected.yes_share),
    ):
        if want is None:
            assert got is None
        else:
            assert got == pytest.approx(want, rel=0, abs=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_aggregates_equal_the_reference(session, settings, clock, seed):
    # Given a round of random answers (skips, prefer-not-to-say, unanswered groups)
    rng = random.Random(seed)
    survey = make_survey(session, item_ids=SURVEY_ITEMS)
    round_ = make_round(session, survey, keys=settings, k=3)
    people = random_respondents(rng, BANK, SURVEY_ITEMS, 160, (ETHNICITY, TEAM))
    add_responses(session, round_, people)

    # When it is published
    returned = publish_round(session, round_, settings, clock)
    published = stored_round(session, round_.id)
    assert returned == published
    assert_nothing_recoverable(published)
    assert published.responses == 160

    # Then every shown cell equals the reference over the same people
    def subsets():
        yield None, None, people
        for question in (ETHNICITY, TEAM):
            for group in published.group_counts[question["id"]]:
                members = [p for p in people if p.groups.get(question["id"]) == group]
                yield question["id"], group, members

    shown_group_cells = 0
    item_rows = {row.id: row for row in published.items}
    scale_rows = {row.id: row for row in published.scales}
    assert list(item_rows) == SURVEY_ITEMS
    # wres has no scale score; incl asks openness (3 of 3) and availability (2 of 4, just
    # enough), so those subscales are published too, accessibility (0 of 2) is not.
    assert list(scale_rows) == ["psafe", "speak", "incl", "incl.openness", "incl.availability"]
    assert scale_rows["incl.openness"].label == "Inclusive leadership – openness"
    for dim, group, members in subsets():
        if dim is not None:
            assert published.group_counts[dim][group] in (None, len(members))
        for item_id, row in item_rows.items():
            expected = summarise_item(BANK.item(item_id), [p.answers.get(item_id) for p in members])
            cell = row.overall if dim is None else row.by_group[dim][group]
            if cell is not None or dim is None:
                assert_same(cell, expected)
                shown_group_cells += dim is not None
        for row_id, row in scale_rows.items():
            instrument_id, _, sub = row_id.partition(".")
            instrument = BANK.instrument(instrument_id)
            scores = [respondent_scale_score(instrument, p.answers, subdimension=sub or None)
                      for p in members]  # fmt: skip
            expected = summarise_scale(instrument, scores)
            # A scale's favourable share pools every answer to its items (factor
            # favourability), so it is the item shares weighted by their answers.
            asked = [BANK.item(i) for i in SURVEY_ITEMS if i.startswith(instrument_id + "_")
                     and (not sub or BANK.item(i).subdimension == sub)]  # fmt: skip
            answers = [(item, p.answers.get(item.id)) for p in members for item in asked]
            answers = [(item, v) for item, v in answers if v in item.scale.answer_values]
            pooled = (sum(item.is_favourable(v) for item, v in answers) / len(answers)
                      if expected.n and answers else None)
            expected = dataclasses.replace(expected, favourable_share=pooled)
            cell = row.overall if dim is None else row.by_group[dim][group]
            if cell is not None or dim is None:
                assert_same(cell, expected, mean_rounded=True)
    # With k = 3 and 160 people, nearly every group cell is shown.
    assert shown_group_cells > 0.8 * len(SURVEY_ITEMS) * 7


def test_labels_directions_and_dimensions(session, settings, clock):
    survey = make_survey(session, item_ids=["psafe_1", "wres_5", "wres_7"],
                         demographics=[ETHNICITY])
    round_ = make_round(session, survey, keys=settings, k=3)
    add_responses(session, round_, random_respondents(random.Random(0), BANK,
                                                       survey.item_ids, 30, [ETHNICITY]))
    published = publish_round(session, round_, settings, clock)
    rows = {row.id: row for row in published.items}
    assert rows["psafe_1"].reverse and rows["psafe_1"].response_scale == "agree7"
    assert rows["wres_5"].lower_is_better and not rows["wres_7"].lower_is_better
    assert rows["wres_5"].overall.mean is None and rows["wres_5"].overall.yes_share is not None
    # psafe asks 1 of 7 items: no scale score is possible, so there is no scale row.
    assert published.scales == []
    [dim] = published.dimensions
    assert [g.id for g in dim.groups] == ["global_majority", "white", "prefer_not"]
    assert dim.groups[-1].label == "Prefer not to say"
    # The factory opens the round at a random minute of 2 Feb (UTC): 2 or 3 Feb in London.
    assert published.label == f"Round 1 · {round_.opens_at.day} Feb 2026"
    assert published.opens_on.startswith("2026-02")
