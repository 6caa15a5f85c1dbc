"""Concern statistics: quarterly publications, computed once, audited, never recomputed."""

from __future__ import annotations

import datetime as dt
import json
import secrets

from concern_fixtures import *  # noqa: F403 - pytest fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from concerns import publication, services
from concerns.models import Concern, ConcernCategory, ConcernStatsPublication
from concerns.stats import published_stats
from concerns.wiring import PUBLISH_STATS_JOB_ID
from speakup.jobs import registered_jobs
from speakup.models import AuditEntry
from speakup.web import services as app_services

K = 5
TODAY = dt.date(2026, 3, 2)  # the frozen clock's date: 2026-Q1, 2025-Q4 published on 01-14
CATEGORIES = ["Racism or discrimination", "Bullying or harassment",
              "Patient or service-user safety", "Other"]


def _add(session, received, category=1, *, ack_days=None, reply_days=None, close_days=None,
         outcome="resolved"):
    concern = Concern(
        id=secrets.token_hex(5), category_id=category, status="new", received_on=received,
        acknowledge_by=received + dt.timedelta(days=7),
        feedback_by=received + dt.timedelta(days=91), last_seq=1,
    )
    if ack_days is not None:
        concern.status = "acknowledged"
        concern.acknowledged_on = received + dt.timedelta(days=ack_days)
    if reply_days is not None:
        concern.first_replied_on = received + dt.timedelta(days=reply_days)
    if close_days is not None:
        concern.status, concern.outcome = "closed", outcome
        concern.closed_on = received + dt.timedelta(days=close_days)
        concern.acknowledged_on = concern.acknowledged_on or concern.closed_on
    session.add(concern)
    return concern


def _publish(session, clock, today=TODAY, k=K):
    session.flush()
    return publication.publish_due_quarters(session, clock, today, k=k, grace_days=14,
                                            actor="test")


def _quarter(stats, label):
    return next(q for q in stats.quarters if q.quarter == label)


def _payloads(session):
    return {row.quarter: row.payload for row in session.scalars(select(ConcernStatsPublication))}


def test_timeliness_counts_each_concern_in_the_quarter_its_deadline_falls(session, clock):
    # Given 2025-Q3 (1 July – 30 September, snapshot date 14 October):
    # due for acknowledgement in Q3: received 26 June (on time, day 2) and six on 10 July.
    _add(session, dt.date(2025, 6, 26), ack_days=2, reply_days=30)
    for ack, close in ((1, 20), (3, 20), (7, 25), (8, 30), (12, 40), (None, None)):
        _add(session, dt.date(2025, 7, 10), 2, ack_days=ack, close_days=close)
    # Received 28 September: acknowledge-by 5 October is Q4's, so it is not in Q3's share.
    _add(session, dt.date(2025, 9, 28), 1, ack_days=10, close_days=120)  # closed after snapshot
    for _ in range(2):
        _add(session, dt.date(2025, 7, 20), 3, ack_days=1, close_days=1, outcome="spam")
    # Due for feedback in Q3 (received 10 April, feedback-by 10 July): 3 of 5 in time.
    for reply in (20, 60, 91, 100, None):
        _add(session, dt.date(2025, 4, 10), 4, ack_days=1, reply_days=reply)

    _publish(session, clock)
    q3 = _quarter(published_stats(session, K, TODAY), "2025-Q3")

    assert q3.published and q3.snapshot_date == "2025-10-14"
    assert q3.received == 7  # 6 + 1 received in Q3; the two spam reports left out
    assert q3.acknowledged_within_7_days == 0.571  # (1 + 3) of 7, to 0.1 %
    # 4 of 6: the 26 June concern (feedback-by 25 Sep) joins the five from April; the
    # Q3 concerns are due in Q4, so their missing replies count nowhere yet.
    assert q3.feedback_within_3_months == 0.667
    assert q3.closed_share == 0.714  # 5 of 7 by 14 October; the sixth closed later
    assert q3.median_days_to_acknowledge == 7.5  # 1, 3, 7, 8, 10, 12
    assert q3.outcomes["Resolved"] == 5
    assert q3.received_by_category is None  # 1 and 6: the cells would all be hidden
    # Q4's acknowledgement share has one concern due in it: below k, hidden.
    q4 = _quarter(published_stats(session, K, TODAY), "2025-Q4")
    assert q4.acknowledged_within_7_days is None and q4.received is None


def test_concerns_not_yet_due_are_never_counted(session, clock):
    # Four of five concerns are 0-3 days old: the running quarter is not published at all.
    for days in (30, 3, 2, 1, 0):
        _add(session, TODAY - dt.timedelta(days=days), ack_days=0 if days == 30 else None)
    _publish(session, clock)
    current = _quarter(published_stats(session, K, TODAY), "2026-Q1")
    assert not current.published and current.received is None
    assert current.acknowledged_within_7_days is None
    assert session.get(ConcernStatsPublication, "2026-Q1") is None


def test_every_category_ever_defined_is_listed(session, clock):
    session.add(ConcernCategory(label="Retired and never used", position=99, active=False))
    _publish(session, clock)
    stats = published_stats(session, K, TODAY)
    assert stats.categories == [*CATEGORIES, "Retired and never used"]
    assert stats.retired_categories == ["Retired and never used"]


def test_publication_is_frozen(session, clock):
    concerns = [_add(session, dt.date(2025, 11, 3), c % 2 + 1, ack_days=1, reply_days=5)
                for c in range(12)]
    _publish(session, clock)
    before = published_stats(session, K, TODAY)
    stored = json.dumps(_payloads(session), sort_keys=True)
    assert _quarter(before, "2025-Q4").received == 12
    assert _quarter(before, "2025-Q4").received_by_category["Racism or discrimination"] == 6

    # When concerns change, are marked spam or added with an old date, and a category retires…
    concerns[0].status, concerns[0].outcome, concerns[0].closed_on = ("closed", "spam",
                                                                      TODAY)
    concerns[1].status, concerns[1].outcome, concerns[1].closed_on = ("closed", "resolved",
                                                                      TODAY)
    _add(session, dt.date(2025, 12, 1))
    session.get(ConcernCategory, 1).active = False
    assert _publish(session, clock, TODAY + dt.timedelta(days=5)) == []

    # …nothing published changes.
    assert published_stats(session, K, TODAY) == before
    assert json.dumps(_payloads(session), sort_keys=True) == stored


def test_two_downloads_around_a_handlers_action_are_identical(
    app, client, session, clock, login_as, make_handler, recovery_key, concern_config
):
    handler = make_handler()
    for day in range(5):  # last quarter, published on 14 January
        _add(session, dt.date(2025, 12, 1 + day), ack_days=1)
    ids = []
    for _ in range(3):  # this quarter, through the real services
        _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                                what_happened="Something happened here.")
        ids.append(concern_id)
    session.commit()
    app_services(app).extras["concerns"] = concern_config
    next(j for j in registered_jobs(app) if j.id == PUBLISH_STATS_JOB_ID).run(app_services(app))
    login_as("reviewer")

    def download() -> dict:
        body = json.loads(client.get("/review/mechanisms.json").data)
        body.pop("exported_on")
        return {t["id"]: t for t in body["tables"] if t["id"].startswith("concern")}

    first = download()
    services.change_status(session, clock, concern_config, handler.user, ids[0],
                           new_status="acknowledged", outcome=None, expected_status="new")
    services.change_status(session, clock, concern_config, handler.user, ids[1],
                           new_status="closed", outcome="resolved", expected_status="new")
    services.mark_excluded(session, clock, concern_config, handler.user, ids[2],
                           reason="spam", expected_status="new")
    session.commit()
    next(j for j in registered_jobs(app) if j.id == PUBLISH_STATS_JOB_ID).run(app_services(app))
    assert download() == first
    clocks = {r["quarter"]: r for r in first["concern_clocks"]["rows"]}
    assert clocks["2026-Q1"]["snapshot_date"] is None
    # The running quarter has no figure at all, only the words saying why.
    assert clocks["2026-Q1"]["received"] is None
    assert "not yet published" in clocks["2026-Q1"]["blank_figures"]
    assert clocks["2025-Q4"]["received"] == 5


def test_job_is_idempotent_and_catches_up(app, session, clock):
    job = next(j for j in registered_jobs(app) if j.id == PUBLISH_STATS_JOB_ID)
    svc = app_services(app)

    def stored() -> list[str]:
        return list(session.scalars(
            select(ConcernStatsPublication.quarter).order_by(ConcernStatsPublication.quarter)))

    def audited() -> int:
        return session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == publication.AUDIT_ACTION))

    job.run(svc)
    window = ["2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert stored() == window and audited() == 7
    job.run(svc)  # a duplicate run
    assert stored() == window and audited() == 7
    clock.set(dt.datetime(2026, 4, 13, 9, tzinfo=dt.UTC))  # the grace period is not over
    job.run(svc)
    assert stored() == window
    clock.set(dt.datetime(2026, 10, 20, 9, tzinfo=dt.UTC))  # after six months of downtime
    job.run(svc)
    assert stored() == [*window, "2026-Q1", "2026-Q2", "2026-Q3"] and audited() == 10


def test_a_second_publisher_changes_nothing(session, clock):
    _publish(session, clock)
    row = session.get(ConcernStatsPublication, "2025-Q4")
    again = publication.publish_quarter(session, clock, "2025-Q4", TODAY, k=K, grace_days=14,
                                        actor="test")
    assert again is None and session.get(ConcernStatsPublication, "2025-Q4") is row


def test_cli_publishes_due_quarters_and_says_so(app, runner, session):
    for day in range(6):
        _add(session, dt.date(2025, 10, 6 + day), ack_days=2)
    session.commit()
    result = runner.invoke(args=["concerns", "publish-stats"])
    assert result.exit_code == 0, result.output
    assert "Published 2025-Q4 (figures as of 2026-01-14)" in result.output
    assert "Next: 2026-Q1 on 2026-04-14." in result.output
    assert session.get(ConcernStatsPublication, "2025-Q4").payload["published"]["figures"][
        "received"] == 6
    again = runner.invoke(args=["concerns", "publish-stats"])
    assert again.exit_code == 0 and "Nothing to publish" in again.output


def test_the_year_table_cannot_reveal_a_hidden_quarter(session, clock):
    # Given three quarters whose category cells are all shown, and a fourth whose cells
    # are hidden (4 and 2): year minus the three shown quarters would give it away.
    for month, (racism, bullying) in ((2, (5, 5)), (5, (6, 5)), (8, (5, 6)), (11, (4, 2))):
        for _ in range(racism):
            _add(session, dt.date(2025, month, 10), 1)
        for _ in range(bullying):
            _add(session, dt.date(2025, month, 10), 2)
    done = {q.quarter: q for q in _publish(session, clock)}
    payloads = _payloads(session)
    year = [payloads[f"2025-Q{q}"] for q in (1, 2, 3, 4)]
    q4 = year[3]["published"]
    assert [p["published"]["figures"]["received_by_category"]["Racism or discrimination"]
            for p in year[:3]] == [5, 6, 5]
    assert q4["figures"]["received"] == 6 and q4["figures"]["received_by_category"] is None

    # The heuristics alone would show the year's cells (20 and 18): the audit sees
    # 20 - 16 = 4 and makes the publication hide more.
    naive = json.loads(json.dumps(year[3]))
    naive["published"]["year"]["received_by_category"] = {
        "Racism or discrimination": 20, "Bullying or harassment": 18,
        "Patient or service-user safety": None, "Other": None}
    exposed = publication.audit_publications(K, [*year[:3], naive])
    assert ("2025-Q4", "category", 1) in {e.key for e in exposed.exposures}
    assert next(e for e in exposed.exposures if e.key == ("2025-Q4", "category", 1)).low == 4
    assert done["2025-Q4"].hidden_by_audit
    cells = q4["year"]["received_by_category"] or {}
    assert cells.get("Racism or discrimination") is None
    assert cells.get("Bullying or harassment") is None
    assert publication.audit_publications(K, year).ok
    detail = json.loads(session.scalar(select(AuditEntry.detail).where(
        AuditEntry.action == publication.AUDIT_ACTION, AuditEntry.subject == "2025-Q4")))
    assert detail["hidden_by_audit"] == list(done["2025-Q4"].hidden_by_audit)


def test_a_year_table_is_published_when_it_reveals_nothing(session, clock):
    # Every quarter alone is too small to split by category; the year is not.
    for month in (2, 5, 8, 11):
        for category in (1, 1, 1, 2, 2, 2):
            _add(session, dt.date(2025, month, 10), category)
    _publish(session, clock)
    q4 = _payloads(session)["2025-Q4"]["published"]
    assert q4["figures"]["received_by_category"] is None
    assert q4["year"] == {"year": 2025, "k": K, "received": 24, "received_by_category": {
        "Racism or discrimination": 12, "Bullying or harassment": 12,
        "Patient or service-user safety": None, "Other": None}}


def test_the_audit_hides_a_closed_share_that_pins_small_outcomes(session, clock):
    # 8 received, 2 closed: the share (25.0 %) would tell that 2 concerns had outcomes.
    for i in range(8):
        _add(session, dt.date(2025, 11, 3), ack_days=1, close_days=10 if i < 2 else None)
    done = {q.quarter: q for q in _publish(session, clock)}
    q4 = _quarter(published_stats(session, K, TODAY), "2025-Q4")
    assert q4.received == 8 and q4.closed_share is None
    assert done["2025-Q4"].hidden_by_audit == ("the closed share",)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4), st.booleans(),
                             st.sampled_from([None, "resolved", "not_upheld", "spam"])),
                   max_size=50),
    k=st.integers(3, 6),
)
def test_no_publication_lets_a_hidden_cell_be_worked_out(session, clock, cells, k):
    savepoint = session.begin_nested()
    truth: dict[str, dict[str, int]] = {}
    for quarter, category, acknowledged, outcome in cells:
        received = dt.date(2025, 3 * quarter + 2, 10)
        _add(session, received, category, ack_days=3 if acknowledged else None,
             close_days=None if outcome is None else 30, outcome=outcome or "resolved")
        if outcome != "spam":
            row = truth.setdefault(f"2025-Q{quarter + 1}", dict.fromkeys(CATEGORIES, 0))
            row[CATEGORIES[category - 1]] += 1
    _publish(session, clock, k=k)
    payloads = _payloads(session)
    stats = published_stats(session, k, TODAY)
    savepoint.rollback()
    year = [payloads[f"2025-Q{q}"] for q in (1, 2, 3, 4)]
    assert publication.audit_publications(k, year).ok
    for label in ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"):
        q = _quarter(stats, label)
        counts = truth.get(label, dict.fromkeys(CATEGORIES, 0))
        total = sum(counts.values())
        assert q.received == (total if total >= k else None)
        shown = {c: n for c, n in (q.received_by_category or {}).items() if n is not None}
        assert all(n >= k and n == counts[c] for c, n in shown.items())
        if q.received is not None:  # nothing to subtract from when the total is hidden
            hidden = total - sum(shown.values())
            assert hidden == 0 or hidden >= k
        else:
            assert shown == {}
        assert all(n is None or n >= k for n in q.outcomes.values())
