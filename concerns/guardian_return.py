"""The Freedom to Speak Up guardian's quarterly return, and the handlers' own analytics.

Each quarter the National Guardian's Office collects the number of cases raised, how
many were raised anonymously, how many touch each theme, and the professional groups
of the people who raised them. Handlers, who read every case anyway, get the exact
figures (a printable page and a CSV, each view and download audited); the advisory
group sees figures about concerns only through the quarterly publication
(`concerns.publication`), above the minimum group size, never from here.

Every figure counts concerns by the date they were received, and leaves out concerns
closed as spam or duplicates, as the publication does. Aggregation is in SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from concerns.config import add_months
from concerns.group_marks import counted_by_group
from concerns.handling import days_between
from concerns.models import EXCLUDED_OUTCOMES, Concern
from concerns.professional_groups import NOT_ANSWERED, list_groups
from concerns.stats import median_of_histogram, parse_quarter, quarter_bounds
from concerns.themes import theme_counts
from speakup import audit
from speakup.clock import Clock
from speakup.spreadsheet import formula_safe

EXPORT_ACTION = "guardian_return.export"

# Sections of the return, in the order the page and the CSV give them.
CASES, THEMES, GROUPS, HANDLING = ("Cases", "Themes", "Professional group",
                                   "Handling (for handlers; not part of the return)")

RAISED = "Cases raised in the quarter: concerns received on a day of the quarter, " \
         "leaving out any closed as spam or as a duplicate."
ANONYMOUS = ("Cases raised anonymously: Speak Up never asks for a name and stores nothing "
             "that identifies the reporter, so every case is anonymous and this figure "
             "always equals the cases raised.")
THEME_DEFINITION = ("Cases raised in the quarter that a case handler tagged with this theme; "
                    "one case can carry several themes, so these do not add up to the "
                    "cases raised.")
GROUP_DEFINITION = ("Cases raised in the quarter whose reporter chose this professional "
                    "group on the form; each case counts once, so these add up to the "
                    "cases raised.")
NOT_ANSWERED_DEFINITION = ("Cases raised in the quarter whose reporter left the optional "
                           "professional-group question unanswered (or sent it before the "
                           "question was asked): the cases raised minus the answers above.")
ACK_MEDIAN = ("Median days to acknowledge: the middle value of the days from receipt to "
              "acknowledgement, over the quarter's cases acknowledged so far; cases not yet "
              "acknowledged are left out and counted in the next two figures.")
NOT_ACK_OVERDUE = ("Not yet acknowledged, overdue: the quarter's cases with no "
                   "acknowledgement whose 7-day deadline has passed (as of the date shown).")
NOT_ACK_DUE = ("Not yet acknowledged, not yet due: the quarter's cases with no "
               "acknowledgement whose 7-day deadline has not passed yet.")
FEEDBACK_MEDIAN = ("Median days to first feedback: the middle value of the days from receipt "
                   "to the first reply the reporter could read, over the quarter's cases "
                   "answered so far; cases not yet answered are counted in the next two "
                   "figures.")
NO_FEEDBACK_OVERDUE = ("No feedback yet, overdue: the quarter's cases with no reply to the "
                       "reporter whose 3-month deadline has passed.")
NO_FEEDBACK_DUE = ("No feedback yet, not yet due: the quarter's cases with no reply to the "
                   "reporter whose 3-month deadline has not passed yet.")
# (label, months at least, months under) of a case's age on the quarter's last day.
AGE_BANDS = (("Open, under 1 month old", 0, 1), ("Open, 1 to 3 months old", 1, 3),
             ("Open, 3 to 6 months old", 3, 6), ("Open, over 6 months old", 6, None))
AGE_DEFINITION = ("Cases open on the quarter's last day (or today, for the current quarter) "
                  "whatever quarter they were raised in, by age since receipt: received by "
                  "then and not closed by then; a case closed and later reopened counts as "
                  "open from its receipt, as its earlier closing date is not kept.")


@dataclass(frozen=True)
class Figure:
    section: str
    label: str
    value: int | float | None  # None: no case to take a median over
    definition: str


@dataclass(frozen=True)
class GuardianReturn:
    quarter: str
    first_day: dt.date
    last_day: dt.date
    as_of: dt.date  # the date the deadlines and open cases are judged on
    figures: tuple[Figure, ...]

    def section(self, name: str) -> list[Figure]:
        return [f for f in self.figures if f.section == name]

    def value(self, label: str) -> int | float | None:
        return next(f.value for f in self.figures if f.label == label)


def _counted() -> Any:
    return or_(Concern.outcome.is_(None), Concern.outcome.not_in(list(EXCLUDED_OUTCOMES)))


def parse(quarter: object) -> str:
    """The canonical quarter label, or ValueError (never echo what was sent)."""
    year, q = parse_quarter(quarter)  # type: ignore[arg-type]
    if not 1 <= q <= 4 or not 2000 <= year <= 2999:
        raise ValueError("not a quarter")
    return f"{year}-Q{q}"


def guardian_return(session: Session, quarter: str, today: dt.date) -> GuardianReturn:
    """Every figure of one quarter's return and handling, exact, as of `today`."""
    label = parse(quarter)
    first, last = quarter_bounds(*parse_quarter(label))
    received_in = and_(Concern.received_on >= first, Concern.received_on <= last, _counted())
    as_of = min(today, last)
    raised = int(session.scalar(select(func.count()).select_from(Concern)
                                .where(received_in)) or 0)  # fmt: skip
    figures = [Figure(CASES, "Cases raised", raised, RAISED),
               Figure(CASES, "Raised anonymously", raised, ANONYMOUS)]
    figures += [Figure(THEMES, theme, n, THEME_DEFINITION)
                for _, theme, _, n in theme_counts(session, received_in)]
    figures += _groups(session, label, raised)
    figures += _handling(session, received_in, today)
    figures += _open_by_age(session, as_of)
    return GuardianReturn(label, first, last, as_of, tuple(figures))


def _groups(session: Session, quarter: str, raised: int) -> list[Figure]:
    # From the unlinked marks (concerns/group_marks.py): no concern row holds its group.
    found = counted_by_group(session, quarter)
    # Every group ever offered (a retired one may still hold this quarter's cases).
    rows = [Figure(GROUPS, g.label, found.get(g.id, 0), GROUP_DEFINITION)
            for g in list_groups(session, active_only=False)]
    # Never below zero: see group_marks on a spam concern its handler could not read.
    not_answered = max(0, raised - sum(found.values()))
    return [*rows, Figure(GROUPS, NOT_ANSWERED, not_answered, NOT_ANSWERED_DEFINITION)]


def _median_days(session: Session, received_in: Any, done: Any) -> float | None:
    days = days_between(session, done, Concern.received_on)
    histogram = session.execute(
        select(days, func.count()).where(received_in, done.is_not(None)).group_by(days)
    ).all()  # fmt: skip
    return median_of_histogram(histogram)


def _waiting(session: Session, received_in: Any, done: Any, due: Any,
             today: dt.date) -> tuple[int, int]:
    """(overdue, not yet due) among the quarter's cases where `done` has not happened."""
    overdue, not_due = session.execute(
        select(func.coalesce(func.sum(case((due < today, 1), else_=0)), 0),
               func.coalesce(func.sum(case((due >= today, 1), else_=0)), 0))
        .where(received_in, done.is_(None))
    ).one()  # fmt: skip
    return int(overdue), int(not_due)


def _handling(session: Session, received_in: Any, today: dt.date) -> list[Figure]:
    ack_overdue, ack_due = _waiting(session, received_in, Concern.acknowledged_on,
                                    Concern.acknowledge_by, today)
    fb_overdue, fb_due = _waiting(session, received_in, Concern.first_replied_on,
                                  Concern.feedback_by, today)
    return [
        Figure(HANDLING, "Median days to acknowledge",
               _median_days(session, received_in, Concern.acknowledged_on), ACK_MEDIAN),
        Figure(HANDLING, "Not yet acknowledged, overdue", ack_overdue, NOT_ACK_OVERDUE),
        Figure(HANDLING, "Not yet acknowledged, not yet due", ack_due, NOT_ACK_DUE),
        Figure(HANDLING, "Median days to first feedback",
               _median_days(session, received_in, Concern.first_replied_on), FEEDBACK_MEDIAN),
        Figure(HANDLING, "No feedback yet, overdue", fb_overdue, NO_FEEDBACK_OVERDUE),
        Figure(HANDLING, "No feedback yet, not yet due", fb_due, NO_FEEDBACK_DUE),
    ]


def _open_by_age(session: Session, as_of: dt.date) -> list[Figure]:
    open_then = and_(Concern.received_on <= as_of, _counted(),
                     or_(Concern.closed_on.is_(None), Concern.closed_on > as_of))
    # A band holds cases received after the day `under` months before as_of, and on or
    # before the day `at_least` months before it (calendar months, as the deadlines).
    band = case(*[
        (and_(Concern.received_on <= add_months(as_of, -low),
              Concern.received_on > add_months(as_of, -high) if high else literal(True)),
         index)
        for index, (_, low, high) in enumerate(AGE_BANDS)
    ], else_=-1)  # fmt: skip
    # Grouped over a subquery: PostgreSQL sees a CASE with bound dates in SELECT and in
    # GROUP BY as two different expressions.
    bands = select(band.label("band")).where(open_then).subquery()
    found = dict(session.execute(
        select(bands.c.band, func.count()).group_by(bands.c.band)).all())
    return [Figure(HANDLING, name, int(found.get(index, 0)), AGE_DEFINITION)
            for index, (name, _, _) in enumerate(AGE_BANDS)]


def record_export(session: Session, clock: Clock, result: GuardianReturn, *, actor: str,
                  kind: str) -> None:
    """Audit one view or download of the exact figures (who looked at which quarter)."""
    audit.record(session, clock, actor=actor, action=EXPORT_ACTION, subject=result.quarter,
                 detail={"format": kind, "rows": len(result.figures)})


def to_csv(result: GuardianReturn) -> str:
    """The return as the guardian submits it: one row a figure, its section and definition."""
    out = io.StringIO()
    out.write("\ufeff")  # lets spreadsheet programs read accented names correctly
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["quarter", "section", "figure", "value", "definition"])
    for f in result.figures:
        value = "" if f.value is None else (f"{f.value:g}" if isinstance(f.value, float)
                                            else f.value)
        writer.writerow([result.quarter, f.section, formula_safe(f.label), value,
                         f.definition])
    return out.getvalue()
