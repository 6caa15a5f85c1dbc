"""The handler's side: inbox with its deadlines, reading (audited), replies, notes,
status changes, spam/duplicate, reopening, attachments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Date, Integer, case, cast, func, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from concerns import conflicts, digest, evidence, group_marks
from concerns.config import ConcernConfig
from concerns.conversation import reopen
from concerns.errors import (
    N_,
    ConcernClosedError,
    ConcernNotFoundError,
    ConversationMovedOnError,
    FieldError,
    NoAccessError,
    StatusChangeError,
)
from concerns.messages import (
    MAX_MESSAGE,
    ConcernSummary,
    Conversation,
    append_message,
    clean_text,
    decrypt_messages,
    get_concern,
    handler_ids_with_access,
    require_access,
    summarise,
)
from concerns.models import (
    EXCLUDED_OUTCOMES,
    OUTCOMES,
    STATUS_LABELS,
    STATUS_ORDER,
    Concern,
    ConcernCategory,
    ConcernKeyWrap,
    MessageKind,
    Reader,
    Status,
)
from concerns.sharing import share_candidates
from speakup import audit
from speakup.clock import Clock
from speakup.models import User


@dataclass(frozen=True)
class InboxRow:
    summary: ConcernSummary
    days_open: int
    acknowledgement_overdue: bool
    feedback_overdue: bool
    can_read: bool
    next_deadline: dt.date | None = None  # see concerns.digest.next_deadline
    due_soon: bool = False  # next deadline today or within DUE_SOON_DAYS


INBOX_FILTERS = {
    "open": "Open (not closed)",
    **{status.value: STATUS_LABELS[status] for status in STATUS_ORDER},
    "all": "All",
}
INBOX_SORTS = {
    "deadline": "Next deadline",
    "received": "Date received",
    "days_open": "Days open",
    "category": "Category",
    "status": "Status",
}


def days_between(session: Session, later: ColumnElement, earlier: ColumnElement) -> ColumnElement:
    """SQL for whole days from `earlier` to `later` (two DATE expressions)."""
    if session.get_bind().dialect.name == "postgresql":
        return later - earlier  # date - date is an integer number of days
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def inbox(
    session: Session, clock: Clock, config: ConcernConfig, user: User, *,
    status: str = "open", sort: str = "deadline", descending: bool = False,
) -> list[InboxRow]:
    """List concerns for a handler with the EU-directive clocks; reads no content.

    The default order is by next deadline (soonest, i.e. most overdue, first); concerns
    with no deadline left (both met, or closed) come last whichever way it is ordered.
    """
    today = config.today(clock)
    deadline = digest.next_deadline()
    end = func.coalesce(Concern.closed_on, literal(today, Date))
    days_open = days_between(session, end, Concern.received_on)
    status_rank = case({s.value: i for i, s in enumerate(STATUS_ORDER)}, value=Concern.status)
    order_column = {
        "deadline": deadline,
        "received": Concern.received_on,
        "days_open": days_open,
        "category": ConcernCategory.label,
        "status": status_rank,
    }.get(sort, Concern.received_on)
    query = select(Concern, days_open).join(
        ConcernCategory, ConcernCategory.id == Concern.category_id
    )
    if status == "open":
        query = query.where(Concern.status != Status.CLOSED.value)
    elif status in {s.value for s in STATUS_ORDER}:
        query = query.where(Concern.status == status)
    if sort == "deadline":
        query = query.order_by(case((deadline.is_(None), 1), else_=0))
    query = query.order_by(order_column.desc() if descending else order_column.asc(),
                           Concern.received_on, Concern.id)
    readable = set(
        session.scalars(
            select(ConcernKeyWrap.concern_id).where(
                ConcernKeyWrap.seq == 1,
                ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
                ConcernKeyWrap.reader_id == user.id,
            )
        )
    )
    kept_out = conflicts.concerns_excluding(session, config, user.id)
    rows = []
    for concern, days in session.execute(query):
        if concern.id in kept_out:
            continue  # excluded by its reporter, or recused: not even listed
        open_ = concern.status != Status.CLOSED
        rows.append(
            InboxRow(
                summary=summarise(session, concern),
                days_open=int(days),
                acknowledgement_overdue=open_ and concern.acknowledged_on is None
                and today > concern.acknowledge_by,
                feedback_overdue=open_ and concern.first_replied_on is None
                and today > concern.feedback_by,
                can_read=concern.id in readable,
                next_deadline=(next_due := digest.next_deadline_of(concern)),
                due_soon=next_due is not None
                and today <= next_due <= today + dt.timedelta(days=digest.DUE_SOON_DAYS),
            )
        )
    return rows


@dataclass(frozen=True)
class HandlerView:
    conversation: Conversation
    can_read: bool
    share_candidates: list[tuple[int, str]]  # (user id, e-mail) of handlers without access
    # The reporter's professional group, read from the decrypted report (None: not
    # answered, or not readable by this handler).
    professional_group: str | None = None


def read_concern(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str,
    private_key: X25519PrivateKey | None,
) -> HandlerView:
    """Decrypt a concern for a handler; every decryption goes into the audit log."""
    concern = get_concern(session, concern_id)
    if conflicts.is_excluded(session, config, concern.id, user.id):
        # The same answer as for a reference that does not exist.
        raise ConcernNotFoundError(N_("There is no concern with that reference."))
    can_read = user.id in handler_ids_with_access(session, concern.id)
    key = private_key if can_read else None
    messages = decrypt_messages(session, concern.id, key, Reader.HANDLER, user.id,
                                 include_notes=True, with_authors=True)
    if key is not None:
        opened = sum(1 for m in messages if m.body is not None)
        audit.record(session, clock, actor=user.email, action="concern.read", subject=concern.id,
                     detail={"messages": opened})
    report = next((m.body for m in messages if m.kind == MessageKind.REPORT), None)
    return HandlerView(Conversation(summarise(session, concern), messages), can_read,
                       share_candidates(session, config, concern.id) if can_read else [],
                       group_marks.group_label(session, report))


def handler_message(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str, *,
    text: object, seen_seq: object, note: bool,
    files: list[evidence.PreparedFile] | None = None,
) -> int:
    """Send a reply to the reporter (with any cleaned files), or add an internal note."""
    concern = get_concern(session, concern_id)
    require_access(session, concern, user)
    if concern.status == Status.CLOSED and not note:
        raise ConcernClosedError(N_("This concern is closed: add an internal note instead."))
    body = clean_text(text, field_name="text", label="Note" if note else "Reply",
                      required=True, max_chars=MAX_MESSAGE)
    kind = MessageKind.NOTE if note else MessageKind.HANDLER_REPLY
    message = {"text": body}
    if files:
        message["attachments"] = evidence.body_entry(files)
    seq = append_message(session, config, clock, concern, kind, message,
                         author_id=user.id, seen_seq=seen_seq)
    if files:
        evidence.store(session, concern.id, seq, files)
    if not note:
        today = config.today(clock)
        if concern.first_replied_on is None:
            concern.first_replied_on = today
        # Writing to the reporter acknowledges their concern (EU directive art. 9(1)(b)).
        if concern.status == Status.NEW:
            concern.status = Status.ACKNOWLEDGED.value
        if concern.acknowledged_on is None:
            concern.acknowledged_on = today
    audit.record(session, clock, actor=user.email,
                 action="concern.note" if note else "concern.reply", subject=concern.id,
                 detail={"seq": seq, "files": len(files or ())})
    return seq


def change_status(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str, *,
    new_status: str, outcome: str | None, expected_status: str, closing_message: object = "",
) -> None:
    """Move a concern forward; closing needs an outcome (spam/duplicate: mark_excluded)
    and may carry a message to the reporter, sent just before it closes."""
    concern = get_concern(session, concern_id)
    require_access(session, concern, user)
    try:
        target = Status(new_status)
    except ValueError as exc:
        raise StatusChangeError(N_("Choose one of the listed statuses.")) from exc
    if target == Status.CLOSED and outcome not in OUTCOMES:
        raise StatusChangeError(N_("To close a concern, choose its outcome."))
    if target != Status.CLOSED and outcome:
        raise StatusChangeError(N_("An outcome is only chosen when closing."))
    message = clean_text(closing_message, field_name="closing_message",
                         label="Closing message", required=False, max_chars=MAX_MESSAGE)
    if message and target != Status.CLOSED:
        raise FieldError("closing_message", N_("A closing message is only sent when closing."))
    if message and expected_status == concern.status:
        handler_message(session, clock, config, user, concern.id, text=message,
                        seen_seq=concern.last_seq, note=False)
        session.flush()  # the acknowledgement it may have made, before the conditional move
        # The message acknowledged a new concern: close from where it now is.
        expected_status = concern.status
    _move(session, clock, config, user, concern, target, outcome, expected_status)


def mark_excluded(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str, *,
    reason: str, expected_status: str, private_key: X25519PrivateKey | None = None,
) -> bool:
    """Close a concern as spam or a duplicate: it then counts in no statistic.

    Its professional-group answer, an unlinked row only the encrypted report names, is
    uncounted too when this handler's key opens the report; returns whether it could.
    """
    if reason not in EXCLUDED_OUTCOMES:
        raise StatusChangeError(N_("Choose spam or duplicate."))
    concern = get_concern(session, concern_id)
    require_access(session, concern, user)
    _move(session, clock, config, user, concern, Status.CLOSED, reason, expected_status)
    return group_marks.set_counted(session, concern, private_key, user.id, counted=False)


def _move(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern: Concern,
    target: Status, outcome: str | None, expected_status: str,
) -> None:
    current = Status(concern.status)
    if expected_status != current.value:
        raise ConversationMovedOnError(
            N_("Someone changed this concern's status while you were looking at it. "
            "Check the page again before changing it.")
        )
    if STATUS_ORDER.index(target) <= STATUS_ORDER.index(current):
        raise StatusChangeError(N_("A concern moves forward only: it is %(status)s already."),
                                status=STATUS_LABELS[current].lower())
    today = config.today(clock)
    values: dict[str, object] = {"status": target.value}
    if concern.acknowledged_on is None:
        values["acknowledged_on"] = today  # moving past "new" acknowledges it
    if target == Status.CLOSED:
        values["closed_on"] = today
        values["outcome"] = outcome
    # Conditional on the status this handler saw: of two simultaneous changes, one wins.
    moved = session.execute(
        update(Concern)
        .where(Concern.id == concern.id, Concern.status == current.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ConversationMovedOnError(
            N_("Someone changed this concern's status at the same moment. Check the page again.")
        )
    session.refresh(concern)
    audit.record(session, clock, actor=user.email, action="concern.status", subject=concern.id,
                 detail={"from": current.value, "to": target.value, "outcome": outcome})


def next_statuses(status: str) -> list[tuple[str, str]]:
    """The statuses a concern may move to from `status`, as (value, label)."""
    later = STATUS_ORDER[STATUS_ORDER.index(Status(status)) + 1 :]
    return [(s.value, STATUS_LABELS[s]) for s in later]


def reopen_concern(session: Session, clock: Clock, config: ConcernConfig, user: User,
                   concern_id: str, *, expected_status: str,
                   private_key: X25519PrivateKey | None = None) -> None:
    """A handler reopens a closed concern (any time before its content is purged); a
    concern that was spam or a duplicate counts again, its group answer too where this
    handler's key opens the report."""
    concern = get_concern(session, concern_id)
    require_access(session, concern, user)
    if expected_status != concern.status:
        raise ConversationMovedOnError(
            N_("Someone changed this concern's status while you were looking at it. "
            "Check the page again.")
        )
    if concern.status != Status.CLOSED or concern.purged_on is not None:
        raise StatusChangeError(N_("Only a closed concern whose content is kept can be reopened."))
    was_excluded = concern.outcome in EXCLUDED_OUTCOMES
    reopen(session, clock, config, concern, actor=user.email)
    if was_excluded:
        group_marks.set_counted(session, concern, private_key, user.id, counted=True)


def open_attachment(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str,
    seq: int, number: int, private_key: X25519PrivateKey | None,
) -> tuple[evidence.AttachmentInfo, Iterator[bytes]]:
    """Give a handler one attached file to download (decrypted chunk by chunk); audited."""
    concern = get_concern(session, concern_id)
    if conflicts.is_excluded(session, config, concern.id, user.id):
        raise ConcernNotFoundError(N_("There is no concern with that reference."))
    require_access(session, concern, user)
    if private_key is None:
        raise NoAccessError(N_("Unlock your key on the concern's page first."))
    message = next((m for m in decrypt_messages(session, concern.id, private_key,
                                                  Reader.HANDLER, user.id, include_notes=False,
                                                  with_authors=False) if m.seq == seq), None)
    body = message.body if message is not None else None
    info = next((a for a in evidence.listed(body) if a.number == number), None)
    key = evidence.key_of(body, number) if body is not None else None
    if info is None or key is None:
        raise ConcernNotFoundError(N_("There is no such attachment."))
    audit.record(session, clock, actor=user.email, action="concern.download",
                 subject=concern.id, detail={"seq": seq, "file": number})
    return info, evidence.stream(session, concern.id, seq, number, key)
