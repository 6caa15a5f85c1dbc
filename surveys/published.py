"""The published form of a round: the only survey data the review pages may read.

Everything here has already been through `speakup.disclosure`; a hidden cell and a
group with no answers are both `None` and cannot be told apart.

Written once per round by `surveys.publish.publish_round`, which guarantees, for the
round's frozen `k`: every shown count and every shown cell's `n` is at least `k`; in
each dimension the respondents of the hidden groups (plus those who skipped the
question) number 0 or at least `k`, and so do the answers in each row's hidden cells;
a group hidden in `group_counts` is hidden in every row; `comments` is None unless
the round had at least max(k, 10) responses, and is in random order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from speakup.models import AuditEntry
from surveys.models import PublishedResult, Survey

PREFER_NOT = "prefer_not"
PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class Cell:
    """Aggregates of one item or scale for one group (or everyone)."""

    n: int
    mean: float | None  # of scored values (reversed items flipped); None for yes/no items
    favourable: float | None  # share 0..1 in the favourable direction
    # Stored answer value (as text) -> answers, every option present (zeros too), so it
    # sums to n; for a scale, respondents per scale point (scores rounded half up).
    distribution: dict[str, int]
    yes_share: float | None = None  # yes/no items only


@dataclass(frozen=True)
class Group:
    id: str
    label: str


@dataclass(frozen=True)
class Dimension:
    id: str
    label: str  # the whole question, as respondents read it
    groups: list[Group]
    # A short name for headings, tabs, charts and exports ("Team", "Ethnicity group");
    # empty in rounds published before surveys had one: use `name` to read it.
    short_label: str = ""

    @property
    def name(self) -> str:
        return self.short_label or self.label


@dataclass(frozen=True)
class Row:
    """An item or a scale: overall cell plus one cell per group of each dimension."""

    id: str
    label: str
    response_scale: str  # "agree7", "agree5" or "yes_no"
    overall: Cell | None
    by_group: dict[str, dict[str, Cell | None]] = field(default_factory=dict)
    instrument_id: str = ""
    reverse: bool = False
    lower_is_better: bool = False


@dataclass(frozen=True)
class PublishedRound:
    round_id: int
    survey_id: int
    survey_title: str
    label: str  # e.g. "March 2026"
    opens_on: str  # ISO date
    closes_on: str  # ISO date
    published_on: str  # ISO date
    k: int
    invited: int
    responses: int | None  # None when below k
    response_rate: float | None
    dimensions: list[Dimension]
    group_counts: dict[str, dict[str, int | None]]  # dimension -> group -> respondents
    scales: list[Row]
    items: list[Row]
    comments: list[str] | None  # None unless >= max(k, 10) responses
    # The round's frozen protection (surveys/protection.py); rounds published before
    # protections existed were suppressed only.
    protection: str = "suppress"

    def to_payload(self) -> dict[str, Any]:
        return {"version": PAYLOAD_VERSION, **asdict(self)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PublishedRound:
        data = {k: v for k, v in payload.items() if k != "version"}
        data["dimensions"] = [
            Dimension(d["id"], d["label"], [Group(**g) for g in d["groups"]],
                      d.get("short_label", ""))
            for d in data["dimensions"]
        ]
        data["scales"] = [_row(r) for r in data["scales"]]
        data["items"] = [_row(r) for r in data["items"]]
        return cls(**data)


def _cell(raw: dict[str, Any] | None) -> Cell | None:
    return None if raw is None else Cell(**raw)


def _row(raw: dict[str, Any]) -> Row:
    by_group = {
        dim: {grp: _cell(c) for grp, c in cells.items()} for dim, cells in raw["by_group"].items()
    }
    return Row(**{**raw, "overall": _cell(raw["overall"]), "by_group": by_group})


def published_round(session: Session, round_id: int) -> PublishedRound | None:
    """Return one published round, or None if it is not published."""
    result = session.get(PublishedResult, round_id)
    return None if result is None else PublishedRound.from_payload(result.payload)


def published_rounds(session: Session, survey_id: int | None = None) -> list[PublishedRound]:
    """All published rounds (of one survey, if given), oldest first."""
    query = select(PublishedResult).join(Survey, Survey.id == PublishedResult.survey_id)
    if survey_id is not None:
        query = query.where(PublishedResult.survey_id == survey_id)
    rows = session.scalars(query.order_by(PublishedResult.survey_id, PublishedResult.round_id))
    rounds = [PublishedRound.from_payload(r.payload) for r in rows]
    return sorted(rounds, key=lambda r: (r.survey_id, r.opens_on, r.round_id))


def surveys_with_results(session: Session) -> list[tuple[int, str]]:
    """(id, title) of surveys that have at least one published round."""
    rows = session.execute(
        select(Survey.id, Survey.title)
        .where(Survey.id.in_(select(PublishedResult.survey_id)))
        .order_by(Survey.id)
    )
    return [(i, t) for i, t in rows]


PUBLISH_ACTION = "survey.round.publish"


def _publish_sequence(session: Session) -> dict[int, int]:
    """Round id -> its publication's audit entry (the log's order is the true order).

    Dates alone cannot order two rounds published the same day; rounds published
    without an audited actor (the demo) have no entry and fall back to their round id.
    """
    rows = session.execute(
        select(AuditEntry.subject, func.max(AuditEntry.id))
        .where(AuditEntry.action == PUBLISH_ACTION).group_by(AuditEntry.subject)
    )
    out = {}
    for subject, entry_id in rows:
        number = subject.removeprefix("round ")
        if number.isascii() and number.isdigit():
            out[int(number)] = entry_id
    return out


def publication_order(session: Session) -> list[int]:
    """Ids of the surveys with published rounds, the one whose round was published last first."""
    sequence = _publish_sequence(session)
    last: dict[int, tuple[str, int, int]] = {}
    for published in published_rounds(session):
        when = (published.published_on, sequence.get(published.round_id, 0), published.round_id)
        last[published.survey_id] = max(last.get(published.survey_id, ("", 0, 0)), when)
    return sorted(last, key=last.__getitem__, reverse=True)
