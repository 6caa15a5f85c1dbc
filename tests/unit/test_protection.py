"""surveys/protection.py: the perturbation table, cell keys, bands, and the publication step."""

from __future__ import annotations

import pytest

from surveys.itembank import load_item_bank
from surveys.protection import (
    KEY_SPACE,
    MAX_NOISE,
    ProtectionError,
    apply_protection,
    band,
    cell_key,
    check_protection,
    describe,
    noise,
    perturb_count,
    perturbation_table,
)
from surveys.published import Cell, Dimension, Group, PublishedRound, Row

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_every_row_of_the_table_has_zero_mean_and_bounded_noise():
    for count, noises in perturbation_table().items():
        assert len(noises) == KEY_SPACE
        assert sum(noises) == 0, count
        assert max(abs(n) for n in noises) <= MAX_NOISE
    large = perturbation_table()[5]
    assert sum(n * n for n in large) / KEY_SPACE == 1  # variance 1 from 5 upwards
    assert sum(n != 0 for n in large) > KEY_SPACE / 3  # most large counts do move


def test_no_count_is_ever_shown_as_1_or_2_nor_below_0():
    for count in range(0, 40):
        shown = {count + noise(count, key) for key in range(KEY_SPACE)}
        assert not shown & {1, 2}, count
        assert min(shown) >= 0
    assert {1 + noise(1, key) for key in range(KEY_SPACE)} == {0, 3}
    assert {noise(0, key) for key in range(KEY_SPACE)} == {0}  # a true zero stays zero


def test_the_same_cell_gets_the_same_noise_and_another_key_other_noise():
    cells = [("psafe_1", "team", f"t{i}", "6") for i in range(300)]
    first = [perturb_count(9, SECRET, cell) for cell in cells]
    again = [perturb_count(9, SECRET, cell) for cell in cells]
    assert first == again
    other = [perturb_count(9, OTHER, cell) for cell in cells]
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 100
    keys = {cell_key(SECRET, cell) for cell in cells}
    assert len(keys) > 150 and all(0 <= key < KEY_SPACE for key in keys)


def test_noise_averages_out_over_many_cells():
    shown = [perturb_count(20, SECRET, ("row", "dim", str(i), "1")) for i in range(4000)]
    assert abs(sum(shown) / len(shown) - 20) < 0.1


def test_bands_of_the_favourable_share():
    assert [band(s) for s in (0.0, 0.49, 0.5, 0.69, 0.7, 1.0)] == [
        "under 50 %", "under 50 %", "50–70 %", "50–70 %", "over 70 %", "over 70 %"]


def test_unknown_protections_are_refused_by_name():
    assert check_protection("perturb") == "perturb"
    for bad in ("coarsen", "", None, ["suppress"], "SUPPRESS"):
        with pytest.raises(ProtectionError, match="suppress, perturb"):
            check_protection(bad)


def _published() -> PublishedRound:
    def item_cell(dist: dict[str, int]) -> Cell:
        n = sum(dist.values())
        return Cell(n=n, mean=None, favourable=dist["2"] / n, distribution=dist,
                    yes_share=dist["1"] / n)

    def agree(dist: dict[str, int]) -> Cell:
        n = sum(dist.values())
        fav = dist["4"] + dist["5"]
        return Cell(n=n, mean=sum(int(v) * c for v, c in dist.items()) / n, favourable=fav / n,
                    distribution=dist)

    wres = Row("wres_5", "harassment", "yes_no", item_cell({"1": 9, "2": 31}),
               {"team": {"a": item_cell({"1": 4, "2": 16}), "b": None}}, instrument_id="wres")
    speak = Row("speak_2", "confident", "agree5",
                agree({"1": 2, "2": 5, "3": 10, "4": 15, "5": 8}),
                {"team": {"a": agree({"1": 1, "2": 2, "3": 5, "4": 8, "5": 4}), "b": None}},
                instrument_id="speak")
    scale = Row("speak", "Speaking up", "agree5",
                Cell(n=40, mean=3.55, favourable=23 / 40,
                     distribution={"1": 1, "2": 6, "3": 10, "4": 15, "5": 8}),
                {"team": {"a": Cell(n=20, mean=3.6, favourable=12 / 20,
                                    distribution={"1": 1, "2": 2, "3": 5, "4": 8, "5": 4}),
                          "b": None}}, instrument_id="speak")
    return PublishedRound(
        round_id=1, survey_id=1, survey_title="Pulse", label="March 2026",
        opens_on="2026-03-02", closes_on="2026-03-16", published_on="2026-03-17", k=5,
        invited=80, responses=40, response_rate=0.5,
        dimensions=[Dimension("team", "Team", [Group("a", "A"), Group("b", "B")])],
        group_counts={"team": {"a": 20, "b": None}}, scales=[scale], items=[wres, speak],
        comments=None,
    )


def test_suppress_leaves_every_figure_exact_and_records_itself():
    published = _published()
    kept = apply_protection(published, None, load_item_bank())
    assert kept.protection == "suppress"
    assert kept.items == published.items and kept.group_counts == published.group_counts


def test_perturb_noises_counts_derives_figures_from_them_and_keeps_hidden_cells_hidden():
    bank = load_item_bank()
    first = apply_protection(_published(), "perturb", bank, secret=SECRET)
    again = apply_protection(_published(), "perturb", bank, secret=SECRET)
    assert first == again  # the same cells, the same noise
    assert first.protection == "perturb"
    assert first.group_counts["team"]["b"] is None
    assert abs(first.group_counts["team"]["a"] - 20) <= MAX_NOISE
    assert first.response_rate == first.responses / 80
    moved = 0
    for row, true_row in zip([*first.items, *first.scales],
                             [*_published().items, *_published().scales], strict=True):
        assert row.by_group["team"]["b"] is None
        for cell, true in ((row.overall, true_row.overall),
                           (row.by_group["team"]["a"], true_row.by_group["team"]["a"])):
            assert cell.n == sum(cell.distribution.values())
            for value, count in cell.distribution.items():
                assert count not in (1, 2)
                assert abs(count - true.distribution[value]) <= MAX_NOISE
                moved += count != true.distribution[value]
    assert moved > 0
    wres = first.items[0].overall
    assert wres.yes_share == wres.distribution["1"] / wres.n
    assert wres.favourable == wres.distribution["2"] / wres.n
    speak = first.items[1].overall
    assert speak.favourable == (speak.distribution["4"] + speak.distribution["5"]) / speak.n
    assert speak.mean == pytest.approx(
        sum(int(v) * c for v, c in speak.distribution.items()) / speak.n)
    # The scale's favourable share pools its (perturbed) items, as publication does.
    assert first.scales[0].overall.favourable == speak.favourable


def test_each_protection_has_one_sentence_for_the_pages():
    assert "exact" in describe("suppress") and describe(None) == describe("suppress")
    assert "±3" in describe("perturb") and "never shown as 1 or 2" in describe("perturb")
