"""Concern statistics as the advisory group sees them: frozen quarterly publications.

Nothing here computes a figure from the concerns table. `concerns.publication`
computes each quarter once, after it has ended plus a grace period, puts it
through disclosure control and the attacker's audit and stores it; this module
reads those stored publications back for the review. Comparing two downloads
therefore reveals nothing about one case: between publications nothing changes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from concerns.models import VERDICT_QUESTIONS, ConcernStatsPublication
from concerns.professional_groups import NOT_ANSWERED

# re.ASCII: \d alone would also match Arabic-Indic and other Unicode digits.
_QUARTER_LABEL = re.compile(r"(?P<year>[1-9][0-9]{3})-Q(?P<quarter>[1-4])", re.ASCII)
QUARTERS_SHOWN = 8  # two years: a fixed window, so the list itself reveals nothing

# One sentence per figure, shown on the mechanisms page and written into every export.
DEFINITIONS = (
    ("received", "Concerns received",
     "Concerns received in the quarter, leaving out those closed as spam or as duplicates."),
    ("received_by_category", "Received by category",
     "The same concerns split by the category the reporter chose; every category ever "
     "offered is listed, including those no longer offered."),
    ("acknowledged_within_7_days", "Acknowledged within 7 days",
     "Among concerns whose acknowledge-by date (7 days after receipt) falls in the quarter, "
     "the share acknowledged on or before that date."),
    ("feedback_within_3_months", "Feedback within 3 months",
     "Among concerns whose feedback-by date (3 months after receipt) falls in the quarter, "
     "the share that had a first reply on or before that date, so nothing not yet due is "
     "ever counted."),
    ("closed", "Closed",
     "The share of the quarter's received concerns that were closed by the quarter's "
     "snapshot date."),
    ("median_days_to_acknowledge", "Median days to acknowledge",
     "The middle number of days from receipt to acknowledgement, among the quarter's "
     "received concerns acknowledged by the snapshot date."),
    ("outcomes", "Outcomes",
     "How the quarter's received concerns that were closed by the snapshot date were closed."),
    ("year_by_category", "Year by category",
     "Published with the fourth quarter: the four quarters' concerns received added up by "
     "category, for years whose single quarters are too small to split."),
    ("would_speak_up_again", "Would speak up again",
     "Among reporters' answers given in the quarter to “Given your experience, would you "
     "speak up again?”, leaving out “prefer not to say”, the share answering yes."),
    ("felt_safe_favourable", "Felt safe raising it",
     "Among reporters' answers given in the quarter to “Did you feel safe raising this "
     "concern here?”, the share agreeing or strongly agreeing."),
    ("kept_informed_favourable", "Kept informed",
     "Among reporters' answers given in the quarter to “Were you kept informed?”, the "
     "share agreeing or strongly agreeing."),
    ("verdict_answers", "Reporters' answers",
     "How many answers each verdict question received in the quarter, and how many chose "
     "each answer; a concern answered after a reply and again at closing in the same "
     "quarter counts once, with its closing answer."),
    ("themes", "Themes",
     "The quarter's received concerns that a case handler tagged with each theme of the "
     "Freedom to Speak Up quarterly return; one concern can carry several themes, so the "
     "themes do not add up to the concerns received."),
    ("received_by_group", "Received by professional group",
     "The quarter's received concerns split by the professional group the reporter chose "
     "(the question is optional: “Not answered” counts those who skipped it); every group "
     "ever offered is listed."),
    ("snapshot", "Snapshot date",
     "Each quarter is computed once, on its snapshot date (a grace period after the "
     "quarter ends), and never recomputed; each figure is shown only when the concerns it "
     "is computed over number at least the minimum group size."),
)  # fmt: skip


@dataclass(frozen=True)
class YearStats:
    """The year's concerns by category, published with its fourth quarter."""

    year: int
    received: int | None
    received_by_category: dict[str, int | None] | None  # None: no table published
    # The minimum group size the year table was decided with (the largest of its
    # quarters'); None for publications stored before it was recorded.
    k: int | None = None


@dataclass(frozen=True)
class QuarterStats:
    quarter: str  # e.g. "2026-Q1", by date received
    published: bool  # False: not yet published (not yet due, or the job has not run)
    snapshot_date: str | None  # ISO date the figures were computed as of
    k: int | None  # the minimum group size the publication used
    received: int | None
    # category label -> count; None when only the quarter's total is published.
    received_by_category: dict[str, int | None] | None
    median_days_to_acknowledge: float | None
    acknowledged_within_7_days: float | None  # share 0..1, see DEFINITIONS
    feedback_within_3_months: float | None  # share 0..1, see DEFINITIONS
    closed_share: float | None  # share 0..1 of those received
    outcomes: dict[str, int | None]  # closing outcome label -> count
    year: YearStats | None = None
    # Reporters' verdict: share 0..1 answering "yes" to "would you speak up again?"
    would_speak_up_again: float | None = None
    felt_safe_favourable: float | None = None  # share 0..1 agreeing, see DEFINITIONS
    kept_informed_favourable: float | None = None  # share 0..1 agreeing, see DEFINITIONS
    # question key -> answers counted in the quarter (None: hidden); see VERDICT_QUESTIONS.
    verdict_totals: dict[str, int | None] = field(default_factory=dict)
    # question key -> answer key -> count (None: hidden); a question without a table is absent.
    verdict_answers: dict[str, dict[str, int | None]] = field(default_factory=dict)
    # theme label -> concerns tagged (None: hidden); None when no theme table is published.
    themes: dict[str, int | None] | None = None
    # professional group label -> count (None: hidden); None when no table is published.
    professional_groups: dict[str, int | None] | None = None


@dataclass(frozen=True)
class MechanismStats:
    k: int
    categories: list[str]  # every category any shown publication lists, in its order
    retired_categories: list[str]  # of those, the ones no longer offered to reporters
    outcomes: list[str]
    quarters: list[QuarterStats]  # oldest first
    definitions: tuple[tuple[str, str, str], ...] = DEFINITIONS
    themes: list[str] = field(default_factory=list)  # every theme a shown publication lists
    # every professional group a shown publication lists ("Not answered" last)
    professional_groups: list[str] = field(default_factory=list)
    # question key -> (wording, answer key -> label): how to read the verdict figures.
    verdict_questions: dict[str, tuple[str, dict[str, str]]] = field(
        default_factory=lambda: dict(VERDICT_QUESTIONS))


# --- quarters --------------------------------------------------------------------------


def quarter_label(year: int, quarter: int) -> str:
    return f"{year}-Q{quarter}"


def quarter_of(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def parse_quarter(label: str) -> tuple[int, int]:
    """(year, quarter) of a label written exactly as `quarter_label` writes it.

    ValueError otherwise: `int()` would also take spaces, CR/LF, signs, underscores and
    Arabic-Indic or fullwidth digits, and a caller that echoes the label (a download's
    file name) would then send them on (issue 18).
    """
    match = _QUARTER_LABEL.fullmatch(label) if isinstance(label, str) else None
    if match is None:
        raise ValueError(f"not a quarter like 2026-Q3: {label!r}")
    return int(match["year"]), int(match["quarter"])


def quarter_bounds(year: int, quarter: int) -> tuple[dt.date, dt.date]:
    """First and last day of a quarter."""
    first = dt.date(year, 3 * quarter - 2, 1)
    following = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return first, following - dt.timedelta(days=1)


def snapshot_date(year: int, quarter: int, grace_days: int) -> dt.date:
    """The date a quarter's figures are computed as of, and the first day it may be published."""
    return quarter_bounds(year, quarter)[1] + dt.timedelta(days=grace_days)


def quarters_between(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    start, end = first[0] * 4 + first[1] - 1, last[0] * 4 + last[1] - 1
    return [(i // 4, i % 4 + 1) for i in range(start, end + 1)]


def last_quarters(today: dt.date, count: int = QUARTERS_SHOWN) -> list[tuple[int, int]]:
    year, quarter = quarter_of(today)
    index = year * 4 + quarter - 1
    return [(i // 4, i % 4 + 1) for i in range(index - count + 1, index + 1)]


def median_of_histogram(histogram: Sequence[Sequence[int]]) -> float | None:
    """Median of values given as (value, how many), as SQL's GROUP BY returned them."""
    ordered = sorted((int(v), int(n)) for v, n in histogram)
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


# --- reading publications --------------------------------------------------------------


def published_stats(session: Session, k: int, today: dt.date) -> MechanismStats:
    """Return the last eight quarters up to `today`'s, as published (never computed here).

    A quarter without a stored publication is listed as not yet published, with no
    figures. `k` is the current setting, used only to describe the page; each quarter
    carries the minimum group size it was published with.
    """
    window = last_quarters(today)
    labels = [quarter_label(*q) for q in window]
    stored = {
        row.quarter: row.payload
        for row in session.scalars(
            select(ConcernStatsPublication).where(ConcernStatsPublication.quarter.in_(labels))
        )
    }
    categories: dict[str, bool] = {}
    outcomes: dict[str, None] = {}
    themes: dict[str, None] = {}
    groups: dict[str, None] = {}
    quarters = []
    for label in labels:
        payload = stored.get(label)
        if payload is None:
            quarters.append(not_yet_published(label))
            continue
        public = payload["published"]
        for category in public["categories"]:
            # The latest publication knows best whether a category is still offered.
            categories[category["label"]] = bool(category["active"])
        outcomes.update(dict.fromkeys(public["outcome_labels"]))
        themes.update(dict.fromkeys(t["label"] for t in public.get("themes", [])))
        groups.update(dict.fromkeys(g["label"] for g in public.get("groups", [])))
        quarters.append(quarter_from_payload(public))
    return MechanismStats(
        k=k,
        categories=list(categories),
        retired_categories=[c for c, active in categories.items() if not active],
        outcomes=list(outcomes),
        quarters=quarters,
        themes=list(themes),
        # "Not answered" last, however the lists of several quarters interleave.
        professional_groups=sorted(groups, key=lambda g: g == NOT_ANSWERED),
    )


def not_yet_published(label: str) -> QuarterStats:
    return QuarterStats(label, False, None, None, None, None, None, None, None, None, {})


def quarter_from_payload(public: dict[str, Any]) -> QuarterStats:
    """Build a quarter from the published part of a stored payload."""
    figures = public["figures"]
    year = public.get("year")
    # Publications stored before the verdict and themes existed lack them: not published.
    verdicts = figures.get("verdicts") or {}
    return QuarterStats(
        quarter=public["quarter"],
        published=True,
        snapshot_date=public["snapshot_date"],
        k=public["k"],
        received=figures["received"],
        received_by_category=figures["received_by_category"],
        median_days_to_acknowledge=figures["median_days_to_acknowledge"],
        acknowledged_within_7_days=figures["acknowledged_within_7_days"],
        feedback_within_3_months=figures["feedback_within_3_months"],
        closed_share=figures["closed_share"],
        outcomes=dict(figures["outcomes"]),
        year=None if year is None else YearStats(
            year["year"], year["received"], year["received_by_category"], year.get("k")
        ),
        would_speak_up_again=(verdicts.get("speak_again") or {}).get("share"),
        felt_safe_favourable=(verdicts.get("felt_safe") or {}).get("share"),
        kept_informed_favourable=(verdicts.get("kept_informed") or {}).get("share"),
        verdict_totals={q: v["total"] for q, v in verdicts.items()},
        verdict_answers={q: dict(v["answers"]) for q, v in verdicts.items()
                         if v["answers"] is not None},
        themes=None if figures.get("themes") is None else dict(figures["themes"]),
        professional_groups=(None if figures.get("received_by_group") is None
                             else dict(figures["received_by_group"])),
    )
