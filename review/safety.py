"""Check published aggregates once more before any review page or export shows them.

The publishers (`surveys.publish`, `concerns.publication`) already pass every
breakdown through `speakup.disclosure`. The review pages re-apply the same rule
to what was published, as a second line of defence: should a publisher ever
let a small cell through, or leave a hidden remainder smaller than ``k``
(overall minus the shown groups), the review hides more cells here rather than
show something recoverable. On correctly published data this changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TypeVar

from concerns.stats import MechanismStats, QuarterStats
from speakup.disclosure import comments_may_be_shown, hidden_keys
from surveys.published import Cell, PublishedRound, Row

K = TypeVar("K")
_REST = ("review", "hidden remainder")  # a key no published group can have


def recheck(total: int | None, shown: Mapping[K, int | None], k: int) -> set[K]:
    """Return the groups to hide so every shown count is >= k and the remainder is safe.

    ``total`` is the published total of the breakdown (None when hidden, then
    everything is hidden); ``shown`` maps each group to its published count
    (None when hidden or empty). The hidden remainder, total minus the shown
    counts, is treated as one more cell, so complementary suppression applies to it.
    """
    if total is None or total < k:
        return set(shown)
    counts: dict[object, int] = {g: n for g, n in shown.items() if n}
    rest = total - sum(counts.values())
    counts[_REST] = max(rest, 0)
    hidden = hidden_keys(counts, k)
    return {g for g in shown if not shown[g] or g in hidden}


def _checked_cell(cell: Cell | None, k: int) -> Cell | None:
    return cell if cell is not None and cell.n >= k else None


def _hide_groups(row: Row, k: int, hidden: Mapping[str, set[str]]) -> Row:
    overall = _checked_cell(row.overall, k)
    by_group = {
        dimension: {
            g: (None if overall is None or g in hidden.get(dimension, set()) else c)
            for g, c in cells.items()
        }
        for dimension, cells in row.by_group.items()
    }
    return dataclasses.replace(row, overall=overall, by_group=by_group)


def checked_round(published: PublishedRound) -> PublishedRound:
    """Return the round with anything unsafe to show replaced by None.

    Rows share respondents with each other and with the respondent counts, so a
    group this check hides anywhere in a dimension is hidden in every row of that
    dimension (one pattern, as the publisher decided it): hiding it in one row only
    would let the other rows rebuild it.
    """
    k = published.k
    responses = published.responses if published.responses and published.responses >= k else None
    rows = published.scales + published.items
    hidden: dict[str, set[str]] = {}
    for dimension in published.dimensions:
        counts = dict(published.group_counts.get(dimension.id, {}))
        for group in dimension.groups:
            counts.setdefault(group.id, None)
        found = recheck(responses, counts, k)
        for row in rows:
            overall = _checked_cell(row.overall, k)
            if overall is None:
                continue
            cells = row.by_group.get(dimension.id, {})
            row_counts = {g.id: (c.n if (c := cells.get(g.id)) is not None else None)
                          for g in dimension.groups}  # fmt: skip
            found |= recheck(overall.n, row_counts, k)
        hidden[dimension.id] = found
    group_counts = {
        dimension.id: {
            g.id: (None if g.id in hidden[dimension.id] else
                   published.group_counts.get(dimension.id, {}).get(g.id))
            for g in dimension.groups
        }
        for dimension in published.dimensions
    }  # fmt: skip
    comments = published.comments
    if comments is not None and (responses is None or not comments_may_be_shown(responses, k)):
        comments = None
    return dataclasses.replace(
        published,
        responses=responses,
        response_rate=published.response_rate if responses is not None else None,
        group_counts=group_counts,
        scales=[_hide_groups(r, k, hidden) for r in published.scales],
        items=[_hide_groups(r, k, hidden) for r in published.items],
        comments=comments,
    )


def _checked_cells(total: int | None, cells: Mapping[str, int | None] | None,
                   labels: list[str], k: int) -> dict[str, int | None] | None:
    if cells is None:
        return None
    full = {label: cells.get(label) for label in labels}
    for label, n in cells.items():
        full.setdefault(label, n)
    hidden = recheck(total, full, k)
    checked = {c: (None if c in hidden else n) for c, n in full.items()}
    return None if all(v is None for v in checked.values()) else checked


def _year_k(quarter: QuarterStats, stats: MechanismStats) -> int:
    """The k a year table is checked with: the largest of its quarters' own.

    Stored with the table since k is frozen per publication; for older tables, the
    largest k of the year's quarters this review still lists (and the fourth's own).
    """
    assert quarter.year is not None and quarter.k is not None
    if quarter.year.k is not None:
        return quarter.year.k
    prefix = f"{quarter.year.year}-"
    return max([quarter.k, *(q.k for q in stats.quarters
                             if q.k is not None and q.quarter.startswith(prefix))])


def _checked_quarter(quarter: QuarterStats, stats: MechanismStats) -> QuarterStats:
    """Re-check one quarter with the k it was published with (never today's setting:
    a later change of k must neither narrow nor re-cut what was published under another)."""
    if not quarter.published:
        return quarter
    k = quarter.k if quarter.k is not None else stats.k
    received = quarter.received if quarter.received and quarter.received >= k else None
    by_category = _checked_cells(received, quarter.received_by_category, stats.categories, k)
    outcomes = dict(quarter.outcomes)
    for outcome in stats.outcomes:
        outcomes.setdefault(outcome, None)
    # The closed count is published only as a share of those received; where both
    # are shown it is a total the outcomes could be subtracted from.
    closed = None
    if received is not None and quarter.closed_share is not None:
        closed = round(quarter.closed_share * received)
    if closed is None:
        hidden_outcomes = {o for o, n in outcomes.items() if not n or n < k}
    else:
        hidden_outcomes = recheck(closed, outcomes, k)
    outcomes = {o: (None if o in hidden_outcomes else n) for o, n in outcomes.items()}
    year = quarter.year
    if year is not None:
        year_k = _year_k(quarter, stats) if quarter.k is not None else k
        year_total = year.received if year.received and year.received >= year_k else None
        year = dataclasses.replace(year, received=year_total, received_by_category=_checked_cells(
            year_total, year.received_by_category, stats.categories, year_k))
    # Reporters' verdict and themes: every count below k hidden again; a share goes with
    # its question's total (its denominator is never larger).
    totals = {q: (t if t is not None and t >= k else None)
              for q, t in quarter.verdict_totals.items()}
    answers = {q: {a: (n if n is not None and n >= k else None) for a, n in cells.items()}
               for q, cells in quarter.verdict_answers.items() if totals.get(q) is not None}
    themes = None
    if received is not None and quarter.themes is not None:
        themes = {t: (n if n is not None and n >= k else None) for t, n in quarter.themes.items()}
    # Professional groups partition the received concerns, as categories do.
    groups = _checked_cells(received, quarter.professional_groups, stats.professional_groups, k)
    return dataclasses.replace(
        quarter,
        professional_groups=groups,
        would_speak_up_again=_with_total(quarter.would_speak_up_again, totals, "speak_again"),
        felt_safe_favourable=_with_total(quarter.felt_safe_favourable, totals, "felt_safe"),
        kept_informed_favourable=_with_total(quarter.kept_informed_favourable, totals,
                                             "kept_informed"),
        verdict_totals=totals,
        verdict_answers=answers,
        themes=themes,
        received=received,
        received_by_category=by_category,
        median_days_to_acknowledge=(
            quarter.median_days_to_acknowledge if received is not None else None
        ),
        closed_share=quarter.closed_share if received is not None else None,
        outcomes=outcomes,
        year=year,
    )


def _with_total(share: float | None, totals: Mapping[str, int | None],
                question: str) -> float | None:
    return share if totals.get(question) is not None else None


def checked_mechanism_stats(stats: MechanismStats) -> MechanismStats:
    """Return the statistics with anything unsafe to show replaced by None."""
    return dataclasses.replace(
        stats, quarters=[_checked_quarter(q, stats) for q in stats.quarters]
    )
