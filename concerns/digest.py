"""Deadlines and the handlers' daily summary: counts only, sent every day at a fixed hour.

The summary goes to every active handler who has not switched it off, **every day**,
whether or not anything changed: a mail that came only when a concern arrived would
tell anyone who sees a handler's inbox (or the mail server's log) when someone spoke
up. It carries counts and a link, never a category, a date or a word of a concern;
the first four cover only the concerns that handler can read, so a concern that
excluded a handler never shows in their figures; the last, "waiting for a reader", is
the whole service's count of concerns no active handler can read (concerns.readers).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Date, and_, case, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from concerns import readers
from concerns.config import ConcernConfig
from concerns.models import (
    Concern,
    ConcernKeyWrap,
    ConcernMessage,
    HandlerProfile,
    MessageKind,
    Reader,
    Status,
)
from speakup import audit
from speakup.clock import Clock
from speakup.mail import Mailer, MailError, build_message
from speakup.models import Role, User
from speakup.settings import Settings

log = logging.getLogger("concerns.digest")

# "Due soon": the next deadline falls today or within this many days.
DUE_SOON_DAYS = 2
DIGEST_SUBJECT = "Speak Up: your daily concerns summary"


def next_deadline() -> ColumnElement:
    """SQL for a concern's next deadline: acknowledge-by until acknowledged, then
    feedback-by until first replied to; NULL once both are met or the concern is closed."""
    return case(
        (Concern.status == Status.CLOSED.value, None),
        (Concern.acknowledged_on.is_(None), Concern.acknowledge_by),
        (Concern.first_replied_on.is_(None), Concern.feedback_by),
        else_=None,
    )


def next_deadline_of(concern: Concern) -> dt.date | None:
    """The same rule as `next_deadline`, for a loaded row."""
    if concern.status == Status.CLOSED:
        return None
    if concern.acknowledged_on is None:
        return concern.acknowledge_by
    if concern.first_replied_on is None:
        return concern.feedback_by
    return None


def readable_by(user_id: int) -> ColumnElement:
    """SQL: the handler holds a key wrap of the concern's first message (can read it)."""
    return exists().where(
        ConcernKeyWrap.concern_id == Concern.id,
        ConcernKeyWrap.seq == 1,
        ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
        ConcernKeyWrap.reader_id == user_id,
    )


@dataclass(frozen=True)
class HandlerCounts:
    """The four figures of a handler's summary (each defined in DEFINITIONS)."""

    awaiting_acknowledgement: int
    due_soon: int
    overdue: int
    replies_waiting: int


DEFINITIONS = {
    "awaiting_acknowledgement": "Open concerns you can read that nobody has acknowledged yet.",
    "due_soon": (f"Open concerns you can read whose next deadline (acknowledge by, then "
                 f"feedback by) is today or within the next {DUE_SOON_DAYS} days."),
    "overdue": "Open concerns you can read whose next deadline has passed.",
    "replies_waiting": ("Open concerns you can read whose latest message is from the "
                        "reporter."),
    "waiting_for_a_reader": ("Concerns that no active case handler can read, so none of the "
                             "figures above counts them. An administrator gives a handler "
                             "access with the recovery key (speakup keys recover)."),
}


def handler_counts(session: Session, today: dt.date, user_id: int) -> HandlerCounts:
    """Count, in one SQL query, what waits for a handler; reads no content."""
    deadline = next_deadline()
    today_ = literal(today, Date)
    soon = literal(today + dt.timedelta(days=DUE_SOON_DAYS), Date)
    reporter_last = exists().where(
        ConcernMessage.concern_id == Concern.id,
        ConcernMessage.seq == Concern.last_seq,
        ConcernMessage.kind == MessageKind.REPORTER_REPLY.value,
    )
    is_open = Concern.status != Status.CLOSED.value

    def count(condition: ColumnElement) -> ColumnElement:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            count(and_(is_open, Concern.acknowledged_on.is_(None))),
            count(and_(deadline >= today_, deadline <= soon)),
            count(deadline < today_),
            count(and_(is_open, reporter_last)),
        ).where(readable_by(user_id), Concern.purged_on.is_(None))
    ).one()
    return HandlerCounts(*(int(value) for value in row))


def profile(session: Session, user_id: int) -> HandlerProfile:
    """A handler's profile row, made (with the defaults) on first need."""
    row = session.get(HandlerProfile, user_id)
    if row is None:
        row = HandlerProfile(user_id=user_id, digest_enabled=True, last_digest_on=None)
        session.add(row)
        session.flush()
    return row


def set_digest(session: Session, clock: Clock, user: User, *, enabled: bool) -> None:
    """Switch a handler's daily summary on or off (audited)."""
    row = profile(session, user.id)
    if row.digest_enabled != enabled:
        row.digest_enabled = enabled
        audit.record(session, clock, actor=user.email, action="handler.digest",
                     subject=user.email, detail={"enabled": enabled})


def digest_body(settings: Settings, counts: HandlerCounts, waiting_for_a_reader: int = 0) -> str:
    inbox = f"{settings.base_url}/handle/"
    return (
        "Your daily Speak Up summary (sent every day, whether or not anything changed).\n\n"
        f"Awaiting acknowledgement: {counts.awaiting_acknowledgement}\n"
        f"Due within {DUE_SOON_DAYS} days: {counts.due_soon}\n"
        f"Overdue: {counts.overdue}\n"
        f"Reporter replies waiting: {counts.replies_waiting}\n"
        # Counted for the whole service (issue 19): nobody's own figures can hold them.
        f"Waiting for a reader (no active handler can read them): {waiting_for_a_reader}\n\n"
        f"Open the inbox: {inbox}\n\n"
        "These figures cover the concerns you can read. To stop this e-mail, switch it off "
        f"at {settings.base_url}/handle/settings\n"
    )


def _due_handlers(session: Session, today: dt.date) -> list[tuple[int, str]]:
    return [
        (user_id, email) for user_id, email in session.execute(
            select(User.id, User.email)
            .outerjoin(HandlerProfile, HandlerProfile.user_id == User.id)
            .where(
                User.role == Role.HANDLER.value,
                User.disabled.is_(False),
                or_(HandlerProfile.user_id.is_(None),
                    and_(HandlerProfile.digest_enabled.is_(True),
                         or_(HandlerProfile.last_digest_on.is_(None),
                             HandlerProfile.last_digest_on < today))),
            )
            .order_by(User.id)
        )
    ]


def send_due_digests(session: Session, clock: Clock, config: ConcernConfig,
                     settings: Settings, mailer: Mailer) -> int:
    """Send today's summary to every handler still owed one; return how many went.

    Nothing goes before `config.digest_at` local time. Each handler is claimed with a
    conditional update of `last_digest_on` and committed on its own after the mail is
    handed over, so a second run (or a second scheduler) sends nothing twice and a
    failed send is retried at the next tick. A run after downtime sends today's summary
    once; days missed while nothing ran are not sent late.
    """
    now = config.local_now(clock)
    if now.time() < config.digest_at:
        return 0
    today = now.date()
    sent = 0
    for user_id, email in _due_handlers(session, today):
        try:
            profile(session, user_id)
            claimed = session.execute(
                update(HandlerProfile)
                .where(HandlerProfile.user_id == user_id,
                       HandlerProfile.digest_enabled.is_(True),
                       or_(HandlerProfile.last_digest_on.is_(None),
                           HandlerProfile.last_digest_on < today))
                .values(last_digest_on=today)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                session.rollback()
                continue
            counts = handler_counts(session, today, user_id)
            waiting = readers.waiting_shown_to_handler(session, config, user_id)
            mailer.send(build_message(settings, email, DIGEST_SUBJECT,
                                      digest_body(settings, counts, waiting)))
            session.commit()
            sent += 1
        except MailError:
            session.rollback()
            log.exception("A handler's daily summary could not be sent; it is retried "
                          "at the next run.")
    return sent
