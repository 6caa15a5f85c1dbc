"""k is frozen per concern publication (issue 17, finding 2): lowering or raising
SPEAKUP_MIN_GROUP_SIZE later never re-reads or re-checks an old publication with
another k. Hand-made quarters, published through the real publisher on both engines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from sqlalchemy import select

from concerns import publication
from concerns.models import Concern, ConcernStatsPublication
from concerns.stats import MechanismStats, QuarterStats, YearStats, published_stats
from review.safety import checked_mechanism_stats
from speakup.disclosure_audit import audit_model

TODAY = dt.date(2026, 3, 2)  # the frozen clock's date; 2025-Q4 is due on 14 January
OTHER = "Other"
CATEGORIES = ["Racism or discrimination", "Bullying or harassment",
              "Patient or service-user safety", OTHER]


def _add(session, received: dt.date, category: int, times: int) -> None:
    for _ in range(times):
        session.add(Concern(
            id=secrets.token_hex(5), category_id=category, status="new", received_on=received,
            acknowledge_by=received + dt.timedelta(days=7),
            feedback_by=received + dt.timedelta(days=91), last_seq=1,
        ))


def _publish(session, clock, today: dt.date, k: int):
    session.flush()
    return publication.publish_due_quarters(session, clock, today, k=k, grace_days=14,
                                            actor="test")


def _payloads(session) -> dict:
    return {row.quarter: row for row in session.scalars(select(ConcernStatsPublication))}


def test_a_year_table_is_decided_and_audited_with_the_largest_k_of_its_quarters(
    session, clock
):
    # Each quarter of 2025: 6 racism, 5 bullying, 1 "Other" — the "Other" cell is hidden
    # (and bullying with it) in each quarter. Q1–Q3 are published under k = 5.
    for month in (2, 5, 8, 11):
        _add(session, dt.date(2025, month, 10), 1, 6)
        _add(session, dt.date(2025, month, 10), 2, 5)
        _add(session, dt.date(2025, month, 10), 4, 1)
    _publish(session, clock, dt.date(2025, 10, 20), k=5)
    assert set(_payloads(session)) >= {"2025-Q1", "2025-Q2", "2025-Q3"}
    # Then k is lowered to 3 before Q4's publication.
    _publish(session, clock, TODAY, k=3)
    rows = _payloads(session)
    year = [rows[f"2025-Q{q}"].payload for q in (1, 2, 3, 4)]
    # Each publication's k is the one it used, stored twice (column and payload).
    assert [(rows[f"2025-Q{q}"].min_group_size, p["published"]["k"])
            for q, p in zip((1, 2, 3, 4), year, strict=True)] == [(5, 5)] * 3 + [(3, 3)]
    for p in year[:3]:
        assert p["published"]["figures"]["received_by_category"][OTHER] is None
    table = year[3]["published"]["year"]
    # Under the new k the year's "Other" (4 = 1 + 1 + 1 + 1) would be shown, narrowing
    # each of Q1–Q3's hidden "Other" cells (hidden under k = 5) to [0, 4].
    assert table["k"] == 5
    assert (table["received_by_category"] or {}).get(OTHER) is None
    # The attacker, holding every download, cannot narrow any cell hidden under k = 5.
    older = {"2025-Q1", "2025-Q2", "2025-Q3"}
    report = audit_model(publication.attack_model(5, year, protect=older))
    assert report.ok, report.exposures
    assert publication.audit_with_their_own_k(year).ok


def test_the_attacker_model_is_not_fooled_by_a_year_table_cut_with_the_new_k(session, clock):
    """What the publisher did before the fix: the audit finds the narrowed cells."""
    for month in (2, 5, 8, 11):
        _add(session, dt.date(2025, month, 10), 1, 6)
        _add(session, dt.date(2025, month, 10), 2, 5)
        _add(session, dt.date(2025, month, 10), 4, 1)
    _publish(session, clock, dt.date(2025, 10, 20), k=5)
    _publish(session, clock, TODAY, k=3)
    year = [_payloads(session)[f"2025-Q{q}"].payload for q in (1, 2, 3, 4)]
    naive = dict(year[3], published=dict(year[3]["published"]))
    naive["published"]["year"] = {"year": 2025, "k": 3, "received": 48,
                                  "received_by_category": {CATEGORIES[0]: 24,
                                                           CATEGORIES[1]: 20,
                                                           CATEGORIES[2]: None, OTHER: 4}}
    report = publication.audit_with_their_own_k([*year[:3], naive])
    assert not report.ok
    narrowed = {e.key: e.high for e in report.exposures}
    assert ("2025-Q1", "category", 4) in narrowed
    assert narrowed[("2025-Q1", "category", 4)] in (None, 4)


def test_quarters_keep_their_own_k_when_read_back_after_k_changes(session, clock):
    _add(session, dt.date(2025, 11, 10), 1, 6)
    _add(session, dt.date(2025, 11, 10), 2, 5)
    _publish(session, clock, TODAY, k=5)
    before = checked_mechanism_stats(published_stats(session, 5, TODAY))
    for later_k in (3, 7):
        after = checked_mechanism_stats(published_stats(session, later_k, TODAY))
        assert after.quarters == before.quarters, later_k


def _quarter(label: str, k: int, received: int | None, cells: dict,
             year: YearStats | None = None) -> QuarterStats:
    return QuarterStats(label, True, "2026-01-14", k, received, cells, 2.0, 0.9, 0.5, 0.5,
                        {}, year)


def test_the_review_rechecks_each_publication_with_its_own_k_only():
    cells = {CATEGORIES[0]: 6, CATEGORIES[1]: None, CATEGORIES[2]: None, OTHER: None}
    earlier = [_quarter(f"2025-Q{q}", 5, 12, dict(cells)) for q in (1, 2, 3)]
    # A faulty fourth quarter, published under k = 3, whose year table shows "Other" = 4
    # (and no k of its own, as before k was stored with the year table).
    year = YearStats(2025, 48, {CATEGORIES[0]: 24, CATEGORIES[1]: 20, CATEGORIES[2]: None,
                                OTHER: 4})
    q4 = _quarter("2025-Q4", 3, 12, {CATEGORIES[0]: 6, CATEGORIES[1]: 5,
                                     CATEGORIES[2]: None, OTHER: None}, year)
    for today_k in (3, 5, 7):
        stats = MechanismStats(today_k, CATEGORIES, [], [], [*earlier, q4])
        checked = checked_mechanism_stats(stats)
        # Quarters are never re-cut with today's k: a shown 5 stays shown under k = 7.
        assert [q.received_by_category for q in checked.quarters[:3]] == [cells] * 3
        # The year table is re-checked with the largest k of its quarters (5), whatever
        # the setting is now: "Other" = 4 is hidden, and with it the next smallest.
        shown = checked.quarters[3].year.received_by_category
        assert shown[OTHER] is None and shown[CATEGORIES[1]] is None
        assert shown[CATEGORIES[0]] == 24
    stored_k = dataclasses.replace(q4, year=dataclasses.replace(year, k=5))
    checked = checked_mechanism_stats(MechanismStats(3, CATEGORIES, [], [], [stored_k]))
    assert checked.quarters[0].year.received_by_category[OTHER] is None
