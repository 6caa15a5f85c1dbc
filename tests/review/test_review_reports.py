"""Round reports, overview and trends, built from rounds the real publisher stored."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.orm import Session

from review import reports, trends
from review.safety import checked_round, recheck
from surveys.published import Cell, PublishedRound

# Fixtures shared by the review tests (a tests/review/conftest.py would shadow the root one).
pytest_plugins = ["review_fixtures"]


def test_checked_round_leaves_correctly_published_rounds_unchanged(published_survey,
                                                                   tricky_round):
    for published in [*published_survey, tricky_round]:
        checked = checked_round(published)
        if checked == published:
            continue
        # The one difference allowed: a group the publication hid in some rows only (a
        # sensitive item's near-uniform cell) the review hides in every row of its
        # dimension. Every figure the review shows is the published one.
        for before, after in zip(published.scales + published.items,
                                 checked.scales + checked.items, strict=True):
            assert before.overall == after.overall
            for dim, cells in after.by_group.items():
                for group, cell in cells.items():
                    if cell is None and before.by_group[dim][group] is not None:
                        assert any(r.by_group[dim][group] is None
                                   for r in published.items if r.response_scale == "yes_no"), (
                            published.label, before.id, dim, group)
                    else:
                        assert cell == before.by_group[dim][group]


def test_round_report_has_every_group_with_hidden_and_empty_alike(published_survey):
    latest = published_survey[-1]
    report = reports.round_report(latest, "team")
    groups = [r.values["group"] for r in report.respondents.rows]
    assert groups == ["Everyone", "Emergency department", "Surgery", "Community services",
                      "Corporate services", "Estates", "Prefer not to say"]
    estates = report.respondents.rows[5]
    # Estates (about 1.5% of people) is never big enough: shown as not shown.
    assert estates.hidden and estates.values["n"] is None
    for row in report.results.rows:
        if row.hidden:
            assert all(row.values[k] is None for k in ("n", "mean", "favourable_pct", "yes_pct"))
            assert all(v is None for key, v in row.values.items()
                       if " % " in key or " n " in key or key.endswith((" %", " n")))


def test_round_report_figures_match_the_published_cells(published_survey):
    latest = published_survey[-1]
    report = reports.round_report(latest, "ethnicity")
    speak = next(s for s in latest.scales if s.id == "speak")
    rows = [r for r in report.results.rows if r.values["id"] == "speak"]
    assert [r.values["group"] for r in rows] == ["Everyone", "Global Majority", "White",
                                                  "Prefer not to say"]
    everyone = rows[0].values
    assert everyone["n"] == speak.overall.n
    assert everyone["favourable_pct"] == speak.overall.favourable
    white = rows[2].values
    assert white["mean"] == speak.by_group["ethnicity"]["white"].mean
    # The five answer shares of a shown row add up to one.
    labels = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree",
              "Strongly agree"]
    shares = [white[f"{label} % (5-point)"] for label in labels]
    assert sum(shares) == pytest.approx(1)
    assert sum(white[f"{label} n (5-point)"] for label in labels) == white["n"]
    assert white.get("Somewhat disagree % (7-point)") is None  # not a 5-point answer


def test_round_report_without_breakdown_draws_one_chart_per_instrument(published_survey):
    report = reports.round_report(published_survey[-1], None)
    titles = [s.title for s in report.sections]
    assert titles == ["Speaking up", "Team psychological safety", "Inclusive leadership",
                      "Inclusive leadership: subscales", "Race equality"]
    assert [len(s.charts) for s in report.sections] == [1, 1, 1, 1, 2]
    wres = report.sections[-1].charts
    # The unfavourable answer always goes left: Yes for harassment, No for fair progression.
    assert wres[0].table_headers[2:] == ("Yes", "No")
    assert wres[1].table_headers[2:] == ("No", "Yes")


def test_unknown_breakdown_is_refused(published_survey):
    with pytest.raises(reports.ReviewError):
        reports.round_report(published_survey[-1], "salary")


def test_tricky_round_hides_complements_in_every_table(tricky_round):
    report = reports.round_report(tricky_round, "ethnicity")
    counts = {r.values["group"]: r.values["n"] for r in report.respondents.rows}
    # Global Majority has 4 + 6 = 10, White 44, prefer-not 2, 3 skipped the question:
    # prefer-not (2) and the skipped (3) alone would be recoverable, hidden together they hold 5.
    assert counts["Everyone"] == 59
    assert counts["Prefer not to say"] is None
    shown = [n for g, n in counts.items() if g != "Everyone" and n is not None]
    assert counts["Everyone"] - sum(shown) in (0,) or counts["Everyone"] - sum(shown) >= 5


def test_recheck_hides_more_when_a_publisher_lets_a_small_remainder_through():
    # Shown groups leave 3 people unaccounted for: the smallest shown group must go too.
    assert recheck(40, {"a": 20, "b": 17, "c": None}, 5) == {"b", "c"}
    # A cell below k is never shown, whatever the publisher said.
    assert recheck(40, {"a": 36, "b": 4}, 5) == {"a", "b"}
    assert recheck(None, {"a": 20, "b": 20}, 5) == {"a", "b"}
    assert recheck(40, {"a": 20, "b": 20}, 5) == set()


def test_checked_round_repairs_an_unsafe_payload(tricky_round):
    # Given a payload a buggy publisher might store: White shown, others shown below k.
    speak = next(s for s in tricky_round.scales if s.id == "speak")
    leaky = dataclasses.replace(
        speak,
        by_group={**speak.by_group, "ethnicity": {
            "global_majority": Cell(4, 3.0, 0.5, {"3": 2, "4": 2}),
            "white": speak.by_group["ethnicity"]["white"],
            "prefer_not": None,
        }},
    )  # fmt: skip
    unsafe = dataclasses.replace(tricky_round, scales=[leaky])
    fixed = checked_round(unsafe).scales[0].by_group["ethnicity"]
    assert fixed["global_majority"] is None
    overall, white = leaky.overall.n, leaky.by_group["ethnicity"]["white"]
    if white is not None and 0 < overall - white.n < 5:
        assert fixed["white"] is None


def test_overview_headlines_and_change_since_previous(session: Session, published_survey):
    view = reports.overview(session)
    latest, previous = published_survey[-1], published_survey[-2]
    assert view.latest.round_id == latest.round_id
    assert view.previous.round_id == previous.round_id
    speak = next(h for h in view.headlines if h.row.id == "speak")
    assert speak.value == next(s for s in latest.scales if s.id == "speak").overall.favourable
    assert speak.previous == next(
        s for s in previous.scales if s.id == "speak").overall.favourable
    assert view.gap_labels == ("Global Majority", "White")
    cells = next(s for s in latest.scales if s.id == "speak").by_group["ethnicity"]
    # In this small synthetic round the hidden pool of "prefer not to say" and unstated
    # ethnicity (11 people) answered the sensitive items nearly alike, and the HR list
    # says who is in it whatever teams are shown: only an ethnicity group joining the
    # pool protects them, so Global Majority is hidden and no gap is shown, never one
    # computed from a hidden figure. (Gap arithmetic: tests/review/test_goals.py.)
    assert cells["global_majority"] is None and cells["white"] is not None
    assert speak.gap is None
    # Where hiding small teams is enough, as in the first round, the gap is shown.
    first = next(s for s in checked_round(published_survey[0]).scales if s.id == "speak")
    shown = first.by_group["ethnicity"]
    assert shown["global_majority"] is not None and shown["white"] is not None
    assert reports.row_gap(first, "ethnicity", ("global_majority", "white")) == pytest.approx(
        shown["global_majority"].favourable - shown["white"].favourable)
    assert view.trend_chart is not None
    assert view.trend_chart.table_headers == ("Round", "Everyone", "Global Majority", "White")


def test_trends_follow_each_group_and_gap_is_none_where_either_is_hidden(published_survey):
    view = trends.build_trends(published_survey, "team", "emergency", "estates")
    assert view.pair == ("emergency", "estates")
    gaps = [r for r in view.gap_table.rows if r.values["measure_id"] == "speak"]
    assert len(gaps) == len(published_survey)
    for row in gaps:
        # Estates is always hidden, so no gap with it can ever be shown.
        assert row.values["second_pct"] is None
        assert row.values["gap_pts"] is None and row.hidden
    block = next(b for b in view.blocks if b.row.id == "speak")
    assert block.gap is not None
    assert all(cells[-1] == "not shown" for cells in block.gap.table_rows)


def test_trend_values_and_default_pair(published_survey):
    view = trends.build_trends(published_survey, None)
    assert view.dimension.id == "ethnicity"  # the headline dimension by default
    assert view.pair_labels == ("Global Majority", "White")
    for published in published_survey:
        speak = next(s for s in published.scales if s.id == "speak")
        a = speak.by_group["ethnicity"]["global_majority"]
        b = speak.by_group["ethnicity"]["white"]
        row = next(r for r in view.gap_table.rows
                   if r.values["measure_id"] == "speak" and r.values["round_id"] ==
                   published.round_id)
        if a is None or b is None:
            assert row.values["gap_pts"] is None
        else:
            assert row.values["gap_pts"] == pytest.approx((a.favourable - b.favourable) * 100)
    everyone_only = trends.build_trends(published_survey, "")
    assert everyone_only.dimension is None
    assert {r.values["group"] for r in everyone_only.series_table.rows} == {"Everyone"}


def test_trends_include_yes_no_questions_without_a_mean(published_survey):
    view = trends.build_trends(published_survey, None)
    wres = [b for b in view.blocks if b.row.id.startswith("wres_")]
    assert [b.row.id for b in wres] == ["wres_5", "wres_6", "wres_7", "wres_8"]
    assert all(b.measure_label == "Answering yes" and not b.mean_charts for b in wres)


def test_rounds_list_newest_first(session: Session, published_survey: list[PublishedRound]):
    table = reports.rounds_table(session)
    assert [r.values["round_id"] for r in table.rows] == [
        r.round_id for r in reversed(published_survey)
    ]


def test_checked_round_hides_a_group_in_every_row_once_any_row_hides_it(tricky_round):
    # Given a payload stored by the row-by-row publisher this project used before: one
    # item hides Global Majority while the scale and the other rows show it.
    item = tricky_round.items[0]
    hidden_here = dataclasses.replace(
        item, by_group={**item.by_group, "ethnicity": {
            **item.by_group["ethnicity"], "global_majority": None}},
    )  # fmt: skip
    mixed = dataclasses.replace(tricky_round, items=[hidden_here, *tricky_round.items[1:]])
    # When the review reads it
    fixed = checked_round(mixed)
    # Then Global Majority is hidden in every row and in the respondent counts, so the
    # shown rows cannot rebuild the hidden one (scale mean x n minus the other items).
    for row in fixed.items + fixed.scales:
        if row.overall is not None:
            assert row.by_group["ethnicity"]["global_majority"] is None, row.id
    assert fixed.group_counts["ethnicity"]["global_majority"] is None
