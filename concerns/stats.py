"""How well the concern mechanism works, per quarter, for the advisory group.

Every cell has been through `speakup.disclosure` (None = hidden or nothing to show).
The concerns issue implements `mechanism_stats`; review pages only read these types.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session


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


def mechanism_stats(session: Session, k: int, today: dt.date) -> MechanismStats:
    """Per-quarter statistics of concerns received up to `today` (spam/duplicates excluded)."""
    raise NotImplementedError("implemented by the concerns issue")
