"""How well the concern mechanism works, per quarter, for the advisory group.

Every cell has been through `speakup.disclosure` (None = hidden or nothing to show).
The concerns issue implements `mechanism_stats`; review pages only read these types.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Integer, and_, case, cast, extract, func, or_, select
from sqlalchemy.orm import Session

from concerns.models import EXCLUDED_OUTCOMES, OUTCOMES, Concern, ConcernCategory, Status
from concerns.services import days_between
from speakup import disclosure


@dataclass(frozen=True)
class QuarterStats:
    quarter: str  # e.g. "2026-Q1", by date received
    received: int | None
    received_by_category: dict[str, int | None]  # category label -> count
    median_days_to_acknowledge: float | None
    acknowledged_within_7_days: float | None  # share 0..1 of those received
    feedback_within_3_months: float | None  # share 0..1 of those received
    closed_share: float | None  # share 0..1 of those received
    outcomes: dict[str, int | None]  # closing outcome label -> count


@dataclass(frozen=True)
class MechanismStats:
    k: int
    categories: list[str]
    outcomes: list[str]
    quarters: list[QuarterStats]  # oldest first


QUARTERS_SHOWN = 8  # two years: a fixed window, so the list itself reveals nothing


def mechanism_stats(session: Session, k: int, today: dt.date) -> MechanismStats:
    """Per-quarter statistics of concerns received up to `today` (spam/duplicates excluded).

    The last eight quarters up to `today`'s are always listed, so a quarter with no
    concerns and a quarter whose figures are hidden look exactly alike. Counts are
    made in SQL (GROUP BY quarter); each quarter's category and outcome breakdowns go
    through `speakup.disclosure` (primary and complementary suppression); medians and
    shares are shown only where the quarter's count (and, for the median, the number
    acknowledged) reaches `k`. No total across quarters is published, so each quarter
    is a breakdown of its own.
    """
    k = disclosure.validate_min_group_size(k)
    quarters = _last_quarters(today, QUARTERS_SHOWN)
    first_day = _quarter_start(*quarters[0])
    year = cast(extract("year", Concern.received_on), Integer)
    month = cast(extract("month", Concern.received_on), Integer)
    quarter = case((month <= 3, 1), (month <= 6, 2), (month <= 9, 3), else_=4)
    counted = and_(
        Concern.received_on >= first_day,
        Concern.received_on <= today,
        or_(Concern.outcome.is_(None), Concern.outcome.not_in(list(EXCLUDED_OUTCOMES))),
    )

    by_category: dict[tuple[int, int], dict[int, int]] = {}
    for y, q, category_id, n in session.execute(
        select(year, quarter, Concern.category_id, func.count())
        .where(counted).group_by(year, quarter, Concern.category_id)
    ):
        by_category.setdefault((int(y), int(q)), {})[category_id] = int(n)

    on_time: dict[tuple[int, int], tuple[int, int, int]] = {}
    for y, q, acked, fed_back, closed in session.execute(
        select(
            year, quarter,
            func.sum(case((Concern.acknowledged_on <= Concern.acknowledge_by, 1), else_=0)),
            func.sum(case((Concern.first_replied_on <= Concern.feedback_by, 1), else_=0)),
            func.sum(case((Concern.status == Status.CLOSED.value, 1), else_=0)),
        ).where(counted).group_by(year, quarter)
    ):
        on_time[int(y), int(q)] = (int(acked or 0), int(fed_back or 0), int(closed or 0))

    days = days_between(session, Concern.acknowledged_on, Concern.received_on)
    ack_days: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for y, q, d, n in session.execute(
        select(year, quarter, days, func.count())
        .where(counted, Concern.acknowledged_on.is_not(None))
        .group_by(year, quarter, days)
    ):
        ack_days.setdefault((int(y), int(q)), []).append((int(d), int(n)))

    by_outcome: dict[tuple[int, int], dict[str, int]] = {}
    for y, q, outcome, n in session.execute(
        select(year, quarter, Concern.outcome, func.count())
        .where(counted, Concern.status == Status.CLOSED.value)
        .group_by(year, quarter, Concern.outcome)
    ):
        by_outcome.setdefault((int(y), int(q)), {})[outcome] = int(n)

    used = {cid for counts in by_category.values() for cid in counts}
    categories = [
        c for c in session.scalars(
            select(ConcernCategory).order_by(ConcernCategory.position, ConcernCategory.id)
        )
        if c.active or c.id in used
    ]
    rows = [
        _quarter_stats(
            key, k, categories, by_category.get(key, {}), on_time.get(key, (0, 0, 0)),
            ack_days.get(key, []), by_outcome.get(key, {}),
        )
        for key in quarters
    ]
    return MechanismStats(
        k=k,
        categories=[c.label for c in categories],
        outcomes=list(OUTCOMES.values()),
        quarters=rows,
    )


def _quarter_stats(
    key: tuple[int, int], k: int, categories: list[ConcernCategory], counts: dict[int, int],
    on_time: tuple[int, int, int], ack_days: list[tuple[int, int]], outcomes: dict[str, int],
) -> QuarterStats:
    total = sum(counts.values())
    label = f"{key[0]}-Q{key[1]}"
    category_counts = {c.label: counts.get(c.id, 0) for c in categories}
    received_by_category = disclosure.suppress_breakdown(category_counts, category_counts, k)
    outcome_counts = {OUTCOMES[o]: outcomes.get(o, 0) for o in OUTCOMES}
    shown_outcomes = disclosure.suppress_breakdown(outcome_counts, outcome_counts, k)
    acked, fed_back, closed = on_time
    shares = {
        name: disclosure.suppress_shares({label: numerator}, {label: total}, k)[label]
        for name, numerator in (("acked", acked), ("fed_back", fed_back), ("closed", closed))
    }
    acknowledged = sum(n for _, n in ack_days)
    median = None
    if disclosure.suppress_total(total, k) is not None and disclosure.suppress_total(
        acknowledged, k
    ) is not None:
        median = _median_of_histogram(ack_days)
    return QuarterStats(
        quarter=label,
        received=disclosure.suppress_total(total, k),
        received_by_category=received_by_category,
        median_days_to_acknowledge=median,
        acknowledged_within_7_days=shares["acked"],
        feedback_within_3_months=shares["fed_back"],
        closed_share=shares["closed"],
        outcomes=shown_outcomes,
    )


def _median_of_histogram(histogram: list[tuple[int, int]]) -> float | None:
    """Median of values given as (value, how many), as SQL's GROUP BY returned them."""
    ordered = sorted(histogram)
    n = sum(count for _, count in ordered)
    if n == 0:
        return None
    wanted = [(n - 1) // 2, n // 2]  # the middle one, or the middle two
    found: list[int] = []
    seen = 0
    for value, count in ordered:
        while wanted and wanted[0] < seen + count:
            found.append(value)
            wanted.pop(0)
        seen += count
    return (found[0] + found[1]) / 2


def _last_quarters(today: dt.date, count: int) -> list[tuple[int, int]]:
    index = today.year * 4 + (today.month - 1) // 3
    return [((i // 4), i % 4 + 1) for i in range(index - count + 1, index + 1)]


def _quarter_start(year: int, quarter: int) -> dt.date:
    return dt.date(year, 3 * quarter - 2, 1)
