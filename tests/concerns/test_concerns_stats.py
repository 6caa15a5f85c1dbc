"""Mechanism statistics: SQL aggregates per quarter, passed through disclosure control."""

from __future__ import annotations

import datetime as dt
import secrets
import statistics

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from concerns.models import OUTCOMES, Concern
from concerns.stats import mechanism_stats

TODAY = dt.date(2026, 3, 2)  # 2026-Q1
CATEGORIES = ["Racism or discrimination", "Bullying or harassment",
              "Patient or service-user safety", "Other"]


def _add(session, received, category=1, *, ack_days=None, reply_days=None, close_days=None,
         outcome="resolved"):
    status = "new"
    concern = Concern(
        id=secrets.token_hex(5), category_id=category, status=status, received_on=received,
        acknowledge_by=received + dt.timedelta(days=7),
        feedback_by=received + dt.timedelta(days=91), last_seq=1,
    )
    if ack_days is not None:
        concern.status, concern.acknowledged_on = "acknowledged", received + dt.timedelta(
            days=ack_days)
    if reply_days is not None:
        concern.first_replied_on = received + dt.timedelta(days=reply_days)
    if close_days is not None:
        concern.status, concern.outcome = "closed", outcome
        concern.closed_on = received + dt.timedelta(days=close_days)
    session.add(concern)
    return concern


def _quarter(stats, label):
    return next(q for q in stats.quarters if q.quarter == label)


def test_lists_eight_quarters_and_the_contract_fields(session):
    stats = mechanism_stats(session, 5, TODAY)
    assert [q.quarter for q in stats.quarters] == [
        "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1"]
    assert stats.k == 5 and stats.categories == CATEGORIES
    assert stats.outcomes == list(OUTCOMES.values())
    empty = stats.quarters[0]
    assert empty.received is None and set(empty.received_by_category.values()) == {None}
    assert empty.median_days_to_acknowledge is None and set(empty.outcomes.values()) == {None}


def test_a_quarter_below_k_shows_nothing_and_looks_empty(session):
    for _ in range(4):
        _add(session, dt.date(2025, 11, 3), ack_days=1, reply_days=2, close_days=3)
    session.flush()
    stats = mechanism_stats(session, 5, TODAY)
    small, empty = _quarter(stats, "2025-Q4"), _quarter(stats, "2025-Q3")
    assert small.received is None
    assert (small.received_by_category, small.outcomes) == (empty.received_by_category,
                                                            empty.outcomes)
    assert small.median_days_to_acknowledge is None
    assert small.acknowledged_within_7_days is None and small.closed_share is None
    assert small.feedback_within_3_months is None


def test_figures_of_a_quarter_above_k(session):
    # 2025-Q3: 7 racism, 1 bullying, 2 spam (left out).
    received = dt.date(2025, 8, 1)
    for days in (1, 2, 3, 4, 9, 12):
        _add(session, received, 1, ack_days=days, reply_days=days + 10,
             close_days=days + 20 if days < 9 else None)
    _add(session, received, 1)
    _add(session, received, 2, ack_days=20, reply_days=120)
    for _ in range(2):
        _add(session, received, 3, ack_days=1, close_days=1, outcome="spam")
    session.flush()
    q = _quarter(mechanism_stats(session, 5, TODAY), "2025-Q3")
    assert q.received == 8
    # Bullying (1) is below k; the empty cells cannot make the hidden part reach k,
    # so racism is hidden too — else 8 - 7 would give the bullying count away.
    assert q.received_by_category == dict.fromkeys(CATEGORIES)
    assert q.median_days_to_acknowledge == statistics.median([1, 2, 3, 4, 9, 12, 20])
    assert q.acknowledged_within_7_days == 4 / 8
    assert q.feedback_within_3_months == 6 / 8
    assert q.closed_share == 4 / 8
    assert q.outcomes == {label: None for label in OUTCOMES.values()}  # 4 closed: below k


def test_outcomes_shown_when_enough_closed(session):
    received = dt.date(2025, 5, 5)
    for _ in range(6):
        _add(session, received, 2, ack_days=1, reply_days=3, close_days=30, outcome="resolved")
    for _ in range(2):
        _add(session, received, 2, ack_days=1, reply_days=3, close_days=30,
             outcome="not_upheld")
    session.flush()
    q = _quarter(mechanism_stats(session, 5, TODAY), "2025-Q2")
    # "not upheld" (2) is below k; the next smallest (0s) cannot bring it to k, so the
    # largest remaining cell is hidden too and nothing can be subtracted.
    shown = {label: n for label, n in q.outcomes.items() if n is not None}
    hidden_total = 8 - sum(shown.values())
    assert hidden_total == 0 or hidden_total >= 5
    assert q.outcomes[OUTCOMES["not_upheld"]] is None
    assert q.closed_share == 1.0 and q.median_days_to_acknowledge == 1


def test_median_needs_k_acknowledged(session):
    received = dt.date(2025, 2, 10)
    for days in (1, 2, 3):
        _add(session, received, 1, ack_days=days)
    for _ in range(4):
        _add(session, received, 1)
    session.flush()
    q = _quarter(mechanism_stats(session, 5, TODAY), "2025-Q1")
    assert q.received == 7 and q.median_days_to_acknowledge is None
    assert q.acknowledged_within_7_days == 3 / 7


def test_future_and_old_concerns_are_left_out(session):
    for _ in range(5):
        _add(session, dt.date(2026, 3, 3))  # after today
        _add(session, dt.date(2024, 3, 31))  # before the window
    session.flush()
    stats = mechanism_stats(session, 5, TODAY)
    assert all(q.received is None for q in stats.quarters)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cells=st.lists(
        st.tuples(st.integers(0, 7), st.integers(1, 4), st.integers(0, 7),
                  st.sampled_from([None, *OUTCOMES, "spam"])),
        max_size=60,
    ),
    k=st.integers(3, 7),
)
def test_no_published_cell_can_reveal_fewer_than_k(session, cells, k):
    savepoint = session.begin_nested()
    truth: dict[str, dict[str, int]] = {}
    for quarter_index, category, ack_days, outcome in cells:
        year, quarter = divmod(2024 * 4 + 1 + quarter_index, 4)  # 2024-Q2 … 2026-Q1
        received = dt.date(year, 3 * quarter + 1, 15)
        _add(session, received, category, ack_days=ack_days,
             close_days=None if outcome is None else 40, outcome=outcome or "resolved")
        if outcome != "spam":
            label = f"{year}-Q{quarter + 1}"
            row = truth.setdefault(label, {c: 0 for c in CATEGORIES})
            row[CATEGORIES[category - 1]] += 1
    session.flush()
    stats = mechanism_stats(session, k, TODAY)
    savepoint.rollback()
    for q in stats.quarters:
        counts = truth.get(q.quarter, {c: 0 for c in CATEGORIES})
        total = sum(counts.values())
        assert q.received == (total if total >= k else None)
        shown = {c: n for c, n in q.received_by_category.items() if n is not None}
        assert all(n >= k and n == counts[c] for c, n in shown.items())
        if q.received is not None:  # nothing to subtract from when the total is hidden
            hidden = total - sum(shown.values())
            assert hidden == 0 or hidden >= k
        else:
            assert shown == {}
        if total < k:
            assert q.median_days_to_acknowledge is None and q.closed_share is None
            assert q.acknowledged_within_7_days is None and q.feedback_within_3_months is None
        shown_outcomes = [n for n in q.outcomes.values() if n is not None]
        assert all(n >= k for n in shown_outcomes)
