"""The mechanism review: concern statistics, speaking-up trend and the audit log summary."""

from __future__ import annotations

import pytest
from conftest import add_concern_reader
from review_support import assert_breakdown_safe, csv_tables, json_tables, number
from sqlalchemy import update

from concerns.demo import seed_demo_concerns
from concerns.stats import MechanismStats, QuarterStats, YearStats, published_stats
from review.mechanisms import AuditSummary, audit_summary, mechanism_review
from review.safety import checked_mechanism_stats
from review.tables import Table
from speakup import audit
from speakup.models import AuditEntry
from speakup.web import services

K = 5

# Fixtures shared by the review tests (a tests/review/conftest.py would shadow the root one).
pytest_plugins = ["review_fixtures"]


def quarter(label: str, received: int | None, by_category: dict | None, outcomes: dict,
            closed: float | None = None, year: YearStats | None = None) -> QuarterStats:
    return QuarterStats(label, True, "2026-04-14", K, received, by_category,
                        3.0 if received else None, 0.8 if received else None,
                        0.5 if received else None, closed if received else None, outcomes,
                        year)


STATS = MechanismStats(
    k=K,
    categories=["Racism or discrimination", "Bullying or harassment", "Other"],
    retired_categories=["Other"],
    outcomes=["Upheld", "Not upheld"],
    quarters=[
        quarter("2025-Q3", None, {"Racism or discrimination": None, "Bullying or harassment": None,
                                  "Other": None}, {"Upheld": None, "Not upheld": None}),
        quarter("2025-Q4", 14, {"Racism or discrimination": 9, "Bullying or harassment": None,
                                "Other": None}, {"Upheld": 5, "Not upheld": 5}, closed=10 / 14),
        # As a faulty publisher might send it: one category leaves 3 concerns unaccounted for.
        quarter("2026-Q1", 20, {"Racism or discrimination": 7, "Bullying or harassment": 10,
                                "Other": None}, {"Upheld": None, "Not upheld": None}, 0.2),
    ],
)


def test_quarter_tables_follow_the_published_statistics():
    review = mechanism_review(STATS, [], _no_audit(), K)
    tables = {t.id: t for t in review.tables}
    q4 = [r for r in tables["concerns_by_category"].rows if r.values["quarter"] == "2025-Q4"]
    assert [r.values["concerns"] for r in q4] == [9, None, None]
    assert [r.hidden for r in q4] == [False, True, True]
    clocks = tables["concern_clocks"].rows
    assert [r.values["received"] for r in clocks] == [None, 14, 20]
    assert clocks[0].hidden and clocks[0].values["median_days_to_acknowledge"] is None
    assert review.latest_quarter.quarter == "2026-Q1"
    assert [c.title for c in review.volume_charts] == [
        "Concerns received per quarter", "Concerns received by category"]
    assert review.clock_chart.table_headers == (
        "Quarter", "Acknowledged within 7 days", "Feedback within 3 months", "Closed")


def test_review_hides_more_when_a_quarter_could_be_worked_out_by_subtraction():
    checked = checked_mechanism_stats(STATS)
    q1 = checked.quarters[2]
    # 20 received, 7 + 10 shown: the 3 left over would be "Other"; hide 7 as well.
    assert q1.received_by_category == {
        "Racism or discrimination": None, "Bullying or harassment": 10, "Other": None}
    assert checked.quarters[1] == STATS.quarters[1]


def _no_audit() -> AuditSummary:
    return AuditSummary(True, Table("audit_chain", "Chain", (), (), ""),
                        Table("staff_changes", "Staff", (), (), ""))


def test_audit_summary_counts_staff_changes_only_and_no_chain_figure_live(session, clock):
    for action, times in (("account.create", 2), ("concern.read", 1), ("concern.reply", 7),
                          ("review.export", 3), ("login", 2), ("handler.digest", 1)):
        for _ in range(times):
            audit.record(session, clock, actor="someone@example.org", action=action)
    session.commit()
    summary = audit_summary(session, clock.today())
    cells = {(r.values["month"], r.values["action"]): r.values["count"]
             for r in summary.staff.rows}
    month = clock.today().isoformat()[:7]
    # Staff's own changes to the service are counted; nothing whose count follows
    # reporters' activity (actions on concerns, handlers' sign-ins and digests) is, and
    # neither are downloads (each would change the page).
    assert cells == {(month, "account.create"): 2}
    # No quarter is published: no length or head of the chain is shown, only "verifies".
    assert summary.verified and summary.chain.rows == ()
    assert summary.chain.extra == {"chain_verified_now": True}


def test_audit_summary_says_when_the_chain_is_broken(session, clock):
    for _ in range(3):
        audit.record(session, clock, actor="a@example.org", action="account.update")
    session.commit()
    session.execute(update(AuditEntry).where(AuditEntry.id == 2).values(actor="b@example.org"))
    session.commit()
    summary = audit_summary(session, clock.today())
    assert not summary.verified
    assert summary.chain.extra == {"chain_verified_now": False}


@pytest.fixture
def demo_concerns(app, session):  # type: ignore[no-untyped-def]
    """About thirty concerns over the last four quarters, through the concerns services."""
    svc = services(app)
    add_concern_reader(session, svc.clock, svc.extras["concerns"])  # as `speakup demo`
    seed_demo_concerns(session, svc, lambda _line: None)
    session.commit()


def test_mechanisms_page_and_exports_with_real_concern_statistics(
    client, sign_in, session, clock, published_survey, demo_concerns
):
    sign_in("reviewer")
    html = client.get("/review/mechanisms").get_data(as_text=True)
    assert "How quickly concerns are answered" in html
    assert "Do staff feel safe to speak up?" in html
    assert "Concerns acknowledged and answered in time" in html
    assert "Speaking up: favourable answers per question" in html
    assert "verifies today" in html
    real = published_stats(session, K, clock.today())
    shown_quarters = [q for q in real.quarters if q.received is not None]
    assert shown_quarters, "the concerns demo should give at least one quarter to show"
    for fmt in ("csv", "json"):
        body = client.get(f"/review/mechanisms.{fmt}").data
        twin = client.get("/review/mechanisms.json").data
        tables = csv_tables(body, twin) if fmt == "csv" else json_tables(body)
        clocks = [r for r in tables["concern_clocks"]
                  if r["snapshot_date"] is not None]  # words are not figures
        received = {r["quarter"]: r["received"] for r in clocks}
        closed = {r["quarter"]: (number(r["received"]) * number(r["closed_pct"]) / 100
                                 if r["received"] is not None and r["closed_pct"] is not None
                                 else None) for r in clocks}
        for q in [q for q in real.quarters if q.published]:
            cats = [r["concerns"] for r in tables.get("concerns_by_category", [])
                    if r["quarter"] == q.quarter]
            assert_breakdown_safe(received[q.quarter], cats, K, q.quarter)
            outcomes = [r["concerns"] for r in tables.get("concern_outcomes", [])
                        if r["quarter"] == q.quarter]
            total = None if closed[q.quarter] is None else round(closed[q.quarter])
            if total is not None and total < K:
                assert all(o is None for o in outcomes)
            elif total is not None:
                assert_breakdown_safe(total, outcomes, K, f"outcomes {q.quarter}")
        speak = tables["speaking_up"]
        assert {r["id"] for r in speak} == {"speak_1", "speak_2", "speak_3", "speak_4"}
        assert all(r["n"] is None or number(r["n"]) >= K for r in speak)


def test_overview_shows_the_latest_quarter_with_figures(
    client, sign_in, session, clock, published_survey, demo_concerns
):
    sign_in("reviewer")
    html = client.get("/review/").get_data(as_text=True)
    real = published_stats(session, K, clock.today())
    latest = [q for q in real.quarters if q.received is not None][-1]
    assert f"Concerns raised in {latest.quarter}" in html
    assert "Median days to acknowledge" in html


TOTAL_ONLY = MechanismStats(
    k=K,
    categories=["Racism or discrimination", "Bullying or harassment", "Retired"],
    retired_categories=["Retired"],
    outcomes=["Resolved"],
    quarters=[
        quarter("2025-Q4", 6, None, {"Resolved": None},
                year=YearStats(2025, 24, {"Racism or discrimination": 12,
                                          "Bullying or harassment": 12, "Retired": None})),
        QuarterStats("2026-Q1", False, None, None, None, None, None, None, None, None, {}),
    ],
)


def test_total_only_quarters_year_table_definitions_and_unpublished_quarters():
    review = mechanism_review(TOTAL_ONLY, [], _no_audit(), K)
    tables = {t.id: t for t in review.tables}
    assert tables["concerns_by_category"].rows == ()  # no table of "not shown"
    assert [(r.values["year"], r.values["category"], r.values["concerns"])
            for r in tables["concerns_by_category_year"].rows] == [
        ("2025", "Racism or discrimination", 12), ("2025", "Bullying or harassment", 12),
        ("2025", "Retired", None)]
    clocks = {r.values["quarter"]: r.values for r in tables["concern_clocks"].rows}
    assert clocks["2026-Q1"]["snapshot_date"] == "not yet published"
    assert clocks["2025-Q4"]["snapshot_date"] == "2026-04-14"
    assert clocks["2025-Q4"]["received"] == 6
    assert [r.values["offered"] for r in tables["concern_categories"].rows] == [
        "yes", "yes", "no"]
    figures = [r.values["figure"] for r in tables["concern_definitions"].rows]
    assert figures[:4] == ["Concerns received", "Received by category",
                           "Acknowledged within 7 days", "Feedback within 3 months"]


def test_page_and_exports_carry_the_definitions(
    client, sign_in, session, clock, published_survey, demo_concerns
):
    sign_in("reviewer")
    html = client.get("/review/mechanisms").get_data(as_text=True)
    assert "What each figure means" in html
    assert "the share acknowledged on or before that date" in html
    assert "not yet published" in html  # the running quarter
    for fmt in ("csv", "json"):
        body = client.get(f"/review/mechanisms.{fmt}").data
        twin = client.get("/review/mechanisms.json").data
        tables = csv_tables(body, twin) if fmt == "csv" else json_tables(body)
        definitions = {r["figure"]: r["definition"] for r in tables["concern_definitions"]}
        assert definitions["Feedback within 3 months"].startswith(
            "Among concerns whose feedback-by date")
        assert {r["category"] for r in tables["concern_categories"]} >= {"Other"}
