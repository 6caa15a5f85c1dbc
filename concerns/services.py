"""Concern services: plain functions over a SQLAlchemy session; they never commit.

Reporter side: submit a concern (→ receipt), open the conversation with the receipt,
reply. Handler side: inbox, read (audited), reply, internal note, status changes,
spam/duplicate, share with another handler. Operators: recovery, retention purge,
categories. Anonymity rules 1–3 of DESIGN.md are kept here:

* a reporter's rows carry dates only (`Concern.*_on`, `ConcernMessage.sent_on`);
  no address, user agent or time is ever passed in;
* every message is sealed with a fresh data key (`crypto.seal`) wrapped to its
  readers; the text never reaches the database in the clear;
* the receipt is never stored: only `crypto.receipt_lookup_key` of it.

Who reads a message: the first report is wrapped to every active handler who has a
key pair, to the reporter and to the recovery key. Every later message of that
concern is wrapped to the active handlers who can already read the concern (hold a
wrap of its first message), the recovery key and (unless it is an internal note) the
reporter. A handler who joins later gains a concern only when someone who can read
it shares it, or through the recovery key — never silently.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from sqlalchemy import (
    Date,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from concerns import conflicts, crypto, digest, evidence, keys, ratelimit
from concerns.config import ACKNOWLEDGE_DAYS, FEEDBACK_MONTHS, ConcernConfig, add_months
from concerns.models import (
    ALL_OUTCOMES,
    EXCLUDED_OUTCOMES,
    OUTCOMES,
    STATUS_LABELS,
    STATUS_ORDER,
    Concern,
    ConcernAttachmentChunk,
    ConcernCategory,
    ConcernExclusion,
    ConcernKeyWrap,
    ConcernMessage,
    HandlerKey,
    MessageKind,
    Reader,
    RecoveryKey,
    Status,
)
from speakup import audit
from speakup.clock import Clock
from speakup.db import request_erasure
from speakup.models import Role, User

MAX_WHAT_HAPPENED = 20_000
MAX_WHAT_WANTED = 5_000
MAX_MESSAGE = 20_000
MAX_CATEGORY_LABEL = 120
MAX_SEQ = 2**31 - 1  # the largest value Concern.last_seq (an INTEGER) can hold
SUBMIT_BUCKET = "concern-submit"
STAMPED_BUCKET = "concern-submit-stamped"  # submissions that waited (ratelimit.py)
CHOOSE_CATEGORY = "Choose one of the listed categories."
CHECK_BUCKET = "receipt-check"
# Concern ids: 10 Crockford base32 symbols (50 random bits), shown as XXXXX-XXXXX.
_ID_SYMBOLS = 10
# Text people type may hold line breaks and tabs; no other control characters (Unicode
# category Cc is exactly U+0000–U+001F and U+007F–U+009F).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# --------------------------------------------------------------------------- errors


class ConcernError(Exception):
    """A concern operation was refused; the message is safe to show to the person."""


class FieldError(ConcernError):
    """One form field is wrong; `field` names it so the form can show the error there."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class NotReadyError(ConcernError):
    """Concerns cannot be received yet: no recovery key has been set up."""


class RateLimitedError(ConcernError):
    """Too many submissions or receipt checks in the last minute."""


class StampUsedError(RateLimitedError):
    """A waiting stamp sent a second time."""


class FieldErrors(FieldError):
    """One or more fields need fixing; `errors` maps each field's name to what to fix."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(first, " ".join(errors.values()))
        self.errors = dict(errors)


class MalformedReceiptError(FieldError):
    """What was typed is not shaped like a receipt (says nothing about any concern)."""


class ReceiptNotFoundError(ConcernError):
    """No concern has that receipt — the same answer for every wrong receipt."""


class ConcernNotFoundError(ConcernError):
    """No concern has that id."""


class NoAccessError(ConcernError):
    """This handler cannot read the concern (it was never shared with them)."""


class ConcernClosedError(ConcernError):
    """The concern is closed: no more replies."""


class ConversationMovedOnError(ConcernError):
    """Someone else wrote or changed the concern since this page was loaded."""


class StatusChangeError(ConcernError):
    """The status change is not a step forward, or closing lacks an outcome."""


class RecusalError(ConcernError):
    """Recusing now would leave nobody able to read the concern."""


class ShareError(ConcernError):
    """The concern cannot be shared with that person."""


# --------------------------------------------------------------------------- text


def clean_text(value: object, *, field_name: str, label: str, required: bool,
               max_chars: int) -> str:
    """Return typed text ready to seal, or raise FieldError saying what to fix.

    Messages do not repeat the field's label: the page shows it beside them.

    Line endings become "\\n"; text that could not be read as UTF-8 (the form parser
    turns such bytes into U+FFFD) and control characters are refused rather than
    silently changed, so what is stored is exactly what the person meant.
    """
    if not isinstance(value, str):
        value = ""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if "\ufffd" in text:
        raise FieldError(
            field_name,
            "Some characters could not be read. Please check the text "
            "(for example, retype any symbols pasted from another program) and send it again.",
        )
    if _CONTROL.search(text):
        raise FieldError(field_name, "Remove the invisible control characters.")
    text = text.strip()
    if required and not text:
        raise FieldError(field_name, "This cannot be empty.")
    if len(text) > max_chars:
        raise FieldError(
            field_name, f"Use at most {max_chars:,} characters (you used {len(text):,})."
        )
    return text


def _encode(body: Mapping[str, str]) -> bytes:
    return json.dumps(dict(body), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _decode(plaintext: bytes) -> dict[str, str]:
    data = json.loads(plaintext.decode("utf-8"))
    if not isinstance(data, dict):
        raise crypto.DecryptionError("Could not decrypt.")
    return {str(k): str(v) for k, v in data.items()}


def _aad(concern_id: str, seq: int, kind: str) -> bytes:
    # Binds ciphertext and wraps to their row and kind: a note moved into a reply's
    # row, or a message moved to another concern, no longer opens.
    return f"speakup concern message v1|{concern_id}|{seq}|{kind}".encode("ascii")


def new_concern_id() -> str:
    symbols = "".join(secrets.choice(crypto.RECEIPT_ALPHABET) for _ in range(_ID_SYMBOLS))
    return f"{symbols[:5]}-{symbols[5:]}"


# --------------------------------------------------------------------------- categories


def list_categories(session: Session, *, active_only: bool = True) -> list[ConcernCategory]:
    query = select(ConcernCategory).order_by(ConcernCategory.position, ConcernCategory.id)
    if active_only:
        query = query.where(ConcernCategory.active.is_(True))
    return list(session.scalars(query))


def add_category(session: Session, clock: Clock, *, label: str, actor: str) -> ConcernCategory:
    label = _category_label(session, label)
    position = (session.scalar(select(func.max(ConcernCategory.position))) or 0) + 1
    category = ConcernCategory(label=label, position=position, active=True)
    session.add(category)
    session.flush()
    audit.record(session, clock, actor=actor, action="category.create", subject=label)
    return category


def update_category(
    session: Session, clock: Clock, category_id: int, *, label: str, active: bool, actor: str
) -> ConcernCategory:
    category = session.get(ConcernCategory, category_id)
    if category is None:
        raise ConcernNotFoundError("There is no such category.")
    label = _category_label(session, label, exclude_id=category.id)
    changes: dict[str, list[object]] = {}
    if label != category.label:
        changes["label"] = [category.label, label]
        category.label = label
    if active != category.active:
        if not active and sum(1 for c in list_categories(session) if c.id != category.id) == 0:
            raise FieldError("active", "At least one category must stay open to reporters.")
        changes["active"] = [category.active, active]
        category.active = active
    if changes:
        audit.record(session, clock, actor=actor, action="category.update",
                     subject=category.label, detail=changes)
    return category


def _category_label(session: Session, label: str, exclude_id: int | None = None) -> str:
    cleaned = clean_text(label, field_name="label", label="Name", required=True,
                         max_chars=MAX_CATEGORY_LABEL)
    if "\n" in cleaned or "\t" in cleaned:
        raise FieldError("label", "Name: use a single line.")
    # Compared in Python: SQLite's lower() folds ASCII only, so "Énergie" typed twice
    # slipped past it into the unique index. The list is short (an admin's categories).
    folded = cleaned.casefold()
    clash = next((id_ for id_, other in session.execute(
        select(ConcernCategory.id, ConcernCategory.label)) if other.casefold() == folded), None)
    if clash is not None and clash != exclude_id:
        raise FieldError("label", "Name: a category with that name already exists.")
    return cleaned


# --------------------------------------------------------------------------- readers


NOT_READY = (
    "Speak Up cannot receive concerns yet: its recovery key has not been set up. "
    "Nothing you typed has been stored. Please try again later."
)


def _recovery_key(session: Session) -> RecoveryKey:
    key = keys.active_recovery_key(session)
    if key is None:
        raise NotReadyError(NOT_READY)
    return key


def _reader_id(kind: Reader, reader: int) -> str:
    return f"{kind.value}:{reader}"


def _split_reader_id(reader: str) -> tuple[str, int]:
    kind, _, number = reader.partition(":")
    return kind, int(number)


# Built once: this is every submission's hot path, and a prebuilt statement skips
# SQLAlchemy's per-call construction and cache-key work.
_NEW_CONCERN_READERS = union_all(
    select(literal_column("'handler'"), HandlerKey.user_id, HandlerKey.public_key)
    .join(User, User.id == HandlerKey.user_id)
    .where(User.role == Role.HANDLER.value, User.disabled.is_(False)),
    select(literal_column("'recovery'"), RecoveryKey.id, RecoveryKey.public_key).where(
        RecoveryKey.active.is_(True)
    ),
    select(literal_column("'category'"), ConcernCategory.id, null()).where(
        ConcernCategory.id == bindparam("category_id"), ConcernCategory.active.is_(True)
    ),
)
_INSERT_CONCERN = insert(Concern.__table__)
_INSERT_MESSAGE = insert(ConcernMessage.__table__)
_INSERT_WRAP = insert(ConcernKeyWrap.__table__)
_INSERT_EXCLUSION = insert(ConcernExclusion.__table__)


def _handler_ids_with_access(session: Session, concern_id: str) -> list[int]:
    return list(
        session.scalars(
            select(ConcernKeyWrap.reader_id).where(
                ConcernKeyWrap.concern_id == concern_id,
                ConcernKeyWrap.seq == 1,
                ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
            )
        )
    )


def _follow_up_readers(
    session: Session, concern: Concern, *, to_reporter: bool
) -> dict[str, X25519PublicKey]:
    with_access = select(ConcernKeyWrap.reader_id).where(
        ConcernKeyWrap.concern_id == concern.id,
        ConcernKeyWrap.seq == 1,
        ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
    )
    rows = session.execute(
        select(HandlerKey.user_id, HandlerKey.public_key)
        .join(User, User.id == HandlerKey.user_id)
        .where(
            User.role == Role.HANDLER.value,
            User.disabled.is_(False),
            HandlerKey.user_id.in_(with_access),
        )
    )
    readers = {
        _reader_id(Reader.HANDLER, user_id): crypto.public_key_from_raw(public)
        for user_id, public in rows
    }
    recovery = _recovery_key(session)
    readers[_reader_id(Reader.RECOVERY, recovery.id)] = crypto.public_key_from_raw(
        recovery.public_key
    )
    if to_reporter and concern.reporter_public_key is not None:
        readers[_reader_id(Reader.REPORTER, 0)] = crypto.public_key_from_raw(
            concern.reporter_public_key
        )
    return readers


def _wrap_rows(concern_id: str, seq: int, wraps: Mapping[str, bytes]) -> list[ConcernKeyWrap]:
    rows = []
    for reader, wrap in wraps.items():
        kind, number = _split_reader_id(reader)
        rows.append(ConcernKeyWrap(concern_id=concern_id, seq=seq, reader_kind=kind,
                                   reader_id=number, wrap=wrap))
    return rows


# --------------------------------------------------------------------------- submitting


@dataclass(frozen=True)
class Report:
    """A validated report, before any encryption: its category and padded-to-be text."""

    category_id: int
    plaintext: bytes = field(repr=False)
    # Handlers (user ids) the reporter keeps out: no key wrap is ever made for them.
    excluded: frozenset[int] = frozenset()
    # Cleaned attached files; their keys are in `plaintext`, sealed with the report.
    files: tuple[evidence.PreparedFile, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class SealedReport:
    """A report encrypted and ready to store; `receipt` is shown once, never stored."""

    concern_id: str
    receipt: str = field(repr=False)
    receipt_hash: bytes
    reporter_public_key: bytes
    readers: Mapping[str, bytes]  # reader id -> raw public key it was sealed to
    sealed: crypto.Sealed = field(repr=False)


class ReadersHint:
    """The readers this worker's last submission was sealed to.

    `submit_concern` encrypts to them *before* opening its transaction, then checks
    them against the database inside it and seals again only if they changed (a
    handler added, disabled or signing in for the first time). On SQLite the
    transaction holds the database's single write lock, so keeping the encryption
    out of it lets more reporters through; correctness never rests on the hint.
    """

    def __init__(self) -> None:
        self.readers: dict[str, bytes] | None = None


def _excluded_ids(values: object) -> frozenset[int]:
    if values is None or values == "":
        return frozenset()
    items = values if isinstance(values, list | tuple | set | frozenset) else [values]
    ids = set()
    for item in items:
        if not (isinstance(item, str) and item.isascii() and item.isdigit() and len(item) < 10):
            raise FieldError("excluded", "Choose handlers from the list only.")
        ids.add(int(item))
    return frozenset(ids)


def validate_report(*, category_id: object, what_happened: object,
                    what_wanted: object, excluded: object = None,
                    files: list[evidence.PreparedFile] | None = None) -> Report:
    """Check a report's fields without the database (category and handlers come later)."""
    errors: dict[str, str] = {}
    number = -1  # no category has it
    if isinstance(category_id, int) and not isinstance(category_id, bool):
        number = category_id
    elif (isinstance(category_id, str) and category_id.isascii() and category_id.isdigit()
          and len(category_id) < 10):
        number = int(category_id)
    else:
        errors["category"] = CHOOSE_CATEGORY
    happened = wanted = ""
    kept_out: frozenset[int] = frozenset()
    # Every field is checked, so the person sees everything to fix at once.
    try:
        happened = clean_text(what_happened, field_name="what_happened", label="What happened",
                              required=True, max_chars=MAX_WHAT_HAPPENED)
    except FieldError as exc:
        errors[exc.field] = str(exc)
    try:
        wanted = clean_text(what_wanted, field_name="what_wanted",
                            label="What you would like to happen", required=False,
                            max_chars=MAX_WHAT_WANTED)
    except FieldError as exc:
        errors[exc.field] = str(exc)
    try:
        kept_out = _excluded_ids(excluded)
    except FieldError as exc:
        errors[exc.field] = str(exc)
    if errors:
        raise FieldErrors(errors)
    body = {"what_happened": happened, "what_wanted": wanted}
    if files:
        body["attachments"] = evidence.body_entry(files)
    return Report(number, _encode(body), kept_out, tuple(files or ()))


def new_concern_readers(session: Session, report: Report) -> dict[str, bytes]:
    """Return who may read a new concern (reader id -> raw public key); checks the category.

    The readers are every active handler with a key pair, and the recovery key. One
    round trip on the session's Core connection: on SQLite, the write lock is held
    from this first statement until the commit.
    """
    rows = session.connection().execute(_NEW_CONCERN_READERS,
                                        {"category_id": report.category_id}).all()
    if not any(kind == "category" for kind, _, _ in rows):
        raise FieldError("category", CHOOSE_CATEGORY)
    if not any(kind == "recovery" for kind, _, _ in rows):
        raise NotReadyError(NOT_READY)
    readers = {f"{kind}:{number}": public for kind, number, public in rows if kind != "category"}
    if report.excluded:
        offered = {user_id for user_id, _ in conflicts.offered_handlers(session)}
        if not report.excluded <= offered:
            raise FieldError("excluded", "Choose handlers from the list only: the list has "
                                         "changed since the page was shown.")
        for user_id in report.excluded:
            readers.pop(_reader_id(Reader.HANDLER, user_id), None)
        if not any(reader.startswith("handler:") for reader in readers):
            raise FieldError("excluded", "Leave at least one handler able to read your "
                                         "concern: untick one of the names.")
    return readers


def seal_report(report: Report, config: ConcernConfig,
                readers: Mapping[str, bytes]) -> SealedReport:
    """Make the receipt and the reporter's key, and encrypt the report (no database)."""
    receipt = crypto.new_receipt()
    concern_id = new_concern_id()
    reporter_public = crypto.reporter_private_key(receipt, config.reporter_key).public_key()
    recipients = {reader: crypto.public_key_from_raw(raw) for reader, raw in readers.items()}
    recipients[_reader_id(Reader.REPORTER, 0)] = reporter_public
    return SealedReport(
        concern_id=concern_id,
        receipt=receipt,
        receipt_hash=crypto.receipt_lookup_key(receipt, config.lookup_key),
        reporter_public_key=crypto.public_key_to_raw(reporter_public),
        readers=dict(readers),
        sealed=crypto.seal(report.plaintext, recipients, _aad(concern_id, 1, MessageKind.REPORT)),
    )


def store_report(
    session: Session, clock: Clock, config: ConcernConfig, report: Report, sealed: SealedReport,
    stamp: ratelimit.Stamp | None = None,
) -> str:
    """Insert the concern, its first message and wraps; count it against the limit.

    Raises RateLimitedError when the global limit is reached; the caller then rolls
    back and nothing is kept. Returns the receipt.
    """
    today = config.today(clock)
    # Core statements on the session's connection, not ORM objects: no unit-of-work
    # bookkeeping on the hot path.
    conn = session.connection()
    conn.execute(_INSERT_CONCERN, {
        "id": sealed.concern_id,
        "receipt_hash": sealed.receipt_hash,
        "reporter_public_key": sealed.reporter_public_key,
        "category_id": report.category_id,
        "status": Status.NEW.value,
        "outcome": None,
        "received_on": today,
        "acknowledge_by": today + dt.timedelta(days=ACKNOWLEDGE_DAYS),
        "feedback_by": add_months(today, FEEDBACK_MONTHS),
        "purged_on": None,
        "acknowledged_on": None,
        "first_replied_on": None,
        "closed_on": None,
        "reopened_on": None,
        "last_seq": 1,
    })
    conn.execute(_INSERT_MESSAGE, {
        "concern_id": sealed.concern_id, "seq": 1, "kind": MessageKind.REPORT.value,
        "sent_on": today, "author_id": None, "ciphertext": sealed.sealed.ciphertext,
    })
    conn.execute(_INSERT_WRAP, [
        {"concern_id": sealed.concern_id, "seq": 1, "reader_kind": kind, "reader_id": number,
         "wrap": wrap}
        for (kind, number), wrap in (
            (_split_reader_id(reader), wrap) for reader, wrap in sealed.sealed.wraps.items()
        )
    ])
    if report.files:
        evidence.store(session, sealed.concern_id, 1, list(report.files))
    if report.excluded:
        conn.execute(_INSERT_EXCLUSION,
                     conflicts.exclusion_rows(config, sealed.concern_id, report.excluded))
        # The count only: the log names no handler a reporter kept out.
        audit.record(session, clock, actor="reporter", action="concern.exclude_handlers",
                     subject=sealed.concern_id, detail={"handlers": len(report.excluded)})
    # Last, so the counter row (which every submission updates) is locked only briefly.
    # A matured stamp (checked by the caller) is counted apart: a reporter who waited is
    # not refused because one client filled the global bucket (issue 13, finding 3).
    if stamp is not None:
        if not ratelimit.spend_stamp(session, stamp, clock.now(), config.stamp_key,
                                     config.submit_stamp_seconds):
            raise StampUsedError("The waiting page you sent from had already been used.")
        if not ratelimit.hit(session, STAMPED_BUCKET, config.stamped_concerns_per_minute,
                             clock.now(), config.rate_limit_key):
            raise RateLimitedError("Very many concerns were sent in the last minute.")
    elif not ratelimit.hit(session, SUBMIT_BUCKET, config.concerns_per_minute, clock.now(),
                           config.rate_limit_key, forget_all=True):
        raise RateLimitedError(
            "Many concerns have been sent in the last minute, so yours was not accepted yet. "
            "Your text is still below: please wait a minute and send it again."
        )
    return sealed.receipt


@dataclass(frozen=True)
class PreparedReport:
    """A validated report, already encrypted to the hinted readers if there was a hint."""

    report: Report
    sealed: SealedReport | None


def prepare_report(config: ConcernConfig, *, category_id: object, what_happened: object,
                   what_wanted: object, hint: ReadersHint | None = None,
                   excluded: object = None,
                   files: list[evidence.PreparedFile] | None = None) -> PreparedReport:
    """Validate a report and, given a hint, encrypt it — all before touching the database."""
    report = validate_report(category_id=category_id, what_happened=what_happened,
                             what_wanted=what_wanted, excluded=excluded, files=files)
    if report.excluded and not config.exclusions_offered:
        raise FieldError("excluded", "Choosing handlers is switched off here.")
    guess = hint.readers if hint is not None and not report.excluded else None
    return PreparedReport(report, seal_report(report, config, guess) if guess else None)


def store_new_concern(
    session: Session, clock: Clock, config: ConcernConfig, prepared: PreparedReport,
    hint: ReadersHint | None = None, stamp: ratelimit.Stamp | None = None,
) -> tuple[str, str]:
    """Check the category and readers, re-encrypt if the hint was stale, store; return
    (receipt, concern id). The wraps stored are always to the readers the database
    names inside this transaction."""
    readers = new_concern_readers(session, prepared.report)
    sealed = prepared.sealed
    if sealed is None or sealed.readers != readers:
        sealed = seal_report(prepared.report, config, readers)
    if hint is not None and not prepared.report.excluded:
        hint.readers = readers
    return (store_report(session, clock, config, prepared.report, sealed, stamp),
            sealed.concern_id)


def submit_concern(
    session: Session, clock: Clock, config: ConcernConfig, *, category_id: object,
    what_happened: object, what_wanted: object = "", hint: ReadersHint | None = None,
    excluded: object = None,
) -> tuple[str, str]:
    """Validate, encrypt and store a new concern; return (receipt, concern id)."""
    prepared = prepare_report(config, category_id=category_id, what_happened=what_happened,
                              what_wanted=what_wanted, hint=hint, excluded=excluded)
    return store_new_concern(session, clock, config, prepared, hint)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class MessageView:
    seq: int
    kind: str
    sent_on: dt.date
    author: str | None  # handler e-mail, for handlers' eyes only
    body: dict[str, str] | None  # None: not readable by this reader

    @property
    def from_reporter(self) -> bool:
        return self.kind in (MessageKind.REPORT, MessageKind.REPORTER_REPLY)


@dataclass(frozen=True)
class ConcernSummary:
    id: str
    category: str
    status: str
    outcome: str | None
    received_on: dt.date
    acknowledged_on: dt.date | None
    first_replied_on: dt.date | None
    closed_on: dt.date | None
    reopened_on: dt.date | None
    acknowledge_by: dt.date
    feedback_by: dt.date
    last_seq: int
    purged: bool

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[Status(self.status)]

    @property
    def outcome_label(self) -> str | None:
        return ALL_OUTCOMES.get(self.outcome or "")

    @property
    def closed(self) -> bool:
        return self.status == Status.CLOSED


@dataclass(frozen=True)
class Conversation:
    concern: ConcernSummary
    messages: list[MessageView]


def _summary(session: Session, concern: Concern) -> ConcernSummary:
    category = session.get(ConcernCategory, concern.category_id)
    return ConcernSummary(
        id=concern.id, category=category.label if category else "", status=concern.status,
        outcome=concern.outcome, received_on=concern.received_on,
        acknowledged_on=concern.acknowledged_on, first_replied_on=concern.first_replied_on,
        closed_on=concern.closed_on, reopened_on=concern.reopened_on,
        acknowledge_by=concern.acknowledge_by,
        feedback_by=concern.feedback_by, last_seq=concern.last_seq,
        purged=concern.purged_on is not None,
    )


def _decrypt_messages(
    session: Session, concern_id: str, private_key: X25519PrivateKey | None,
    reader_kind: Reader, reader_id: int, *, include_notes: bool, with_authors: bool,
) -> list[MessageView]:
    wrap_join = and_(
        ConcernKeyWrap.concern_id == ConcernMessage.concern_id,
        ConcernKeyWrap.seq == ConcernMessage.seq,
        ConcernKeyWrap.reader_kind == reader_kind.value,
        ConcernKeyWrap.reader_id == reader_id,
    )
    query = (
        select(ConcernMessage, ConcernKeyWrap.wrap, User.email)
        .outerjoin(ConcernKeyWrap, wrap_join)
        .outerjoin(User, User.id == ConcernMessage.author_id)
        .where(ConcernMessage.concern_id == concern_id)
        .order_by(ConcernMessage.seq)
    )
    if not include_notes:
        query = query.where(ConcernMessage.kind != MessageKind.NOTE.value)
    views = []
    for message, wrap, email in session.execute(query):
        body = None
        if wrap is not None and private_key is not None:
            plaintext = crypto.open_sealed(
                message.ciphertext, wrap, private_key,
                _aad(message.concern_id, message.seq, message.kind),
            )
            body = _decode(plaintext)
        views.append(MessageView(message.seq, message.kind, message.sent_on,
                                 email if with_authors else None, body))
    return views


# --------------------------------------------------------------------------- reporter side


@dataclass(frozen=True)
class ReceiptKeys:
    """What a typed receipt turns into; computed the same way whether or not it exists."""

    receipt: str = field(repr=False)
    lookup: bytes
    private_key: X25519PrivateKey = field(repr=False)
    bucket: str


def receipt_keys(config: ConcernConfig, typed: object) -> ReceiptKeys:
    """Normalise a typed receipt and derive its lookup hash, key and rate-limit bucket."""
    canonical = crypto.normalise_receipt(typed) if isinstance(typed, str) else None
    if canonical is None:
        raise MalformedReceiptError(
            "receipt",
            "That is not a receipt. A receipt has 20 letters and numbers in five groups "
            "of four, like ABCD-EFGH-JKMN-PQRS-TVWX.",
        )
    bucket_hash = crypto.receipt_lookup_key(canonical, config.rate_limit_key).hex()
    return ReceiptKeys(
        receipt=canonical,
        lookup=crypto.receipt_lookup_key(canonical, config.lookup_key),
        private_key=crypto.reporter_private_key(canonical, config.reporter_key),
        bucket=f"receipt:{bucket_hash[:40]}",
    )


def count_receipt_use(
    session: Session, clock: Clock, config: ConcernConfig, keys_: ReceiptKeys
) -> None:
    """Count a check or reply against the global and the per-receipt limits.

    The caller commits this on its own, before looking the receipt up, so that wrong
    guesses are counted even though they change nothing else.
    """
    now = clock.now()
    key = config.rate_limit_key
    # The global limit counts only receipts that name no concern (guesses, typos): a
    # script flooding it with made-up receipts cannot lock a reporter holding a real
    # one out (issue 13, finding 3). A real receipt has its own per-receipt limit,
    # which only someone holding that receipt can use up.
    known = session.scalar(select(Concern.id).where(Concern.receipt_hash == keys_.lookup))
    ok = known is not None or ratelimit.hit(
        session, CHECK_BUCKET, config.receipt_checks_per_minute, now, key, forget_all=True)
    ok = ok and ratelimit.hit(session, keys_.bucket, config.checks_per_receipt_per_minute, now,
                              key)
    if not ok:
        raise RateLimitedError(
            "There have been too many receipt checks in the last minute. "
            "Please wait a minute and try again; nothing you typed has been lost."
        )


def _concern_for_receipt(session: Session, keys_: ReceiptKeys) -> Concern:
    concern = session.scalar(select(Concern).where(Concern.receipt_hash == keys_.lookup))
    if concern is None:
        raise ReceiptNotFoundError(
            "We could not find a concern with that receipt. Check it and try again."
        )
    return concern


def open_conversation(session: Session, keys_: ReceiptKeys) -> Conversation:
    """Return the reporter's view of their concern: replies, dates, status; no notes."""
    concern = _concern_for_receipt(session, keys_)
    messages = _decrypt_messages(session, concern.id, keys_.private_key, Reader.REPORTER, 0,
                                 include_notes=False, with_authors=False)
    return Conversation(_summary(session, concern), messages)


def reporter_reply(
    session: Session, clock: Clock, config: ConcernConfig, keys_: ReceiptKeys, *,
    text: object, seen_seq: object, files: list[evidence.PreparedFile] | None = None,
) -> Conversation:
    """Add the reporter's reply (and any cleaned files) to their conversation; return it."""
    concern = _concern_for_receipt(session, keys_)
    until = reopen_until(_summary(session, concern), config)
    if concern.status == Status.CLOSED and (until is None or config.today(clock) > until):
        raise ConcernClosedError(
            "This concern has been closed, so it cannot take more replies. "
            "If something new has happened, you can raise a new concern."
        )
    body = clean_text(text, field_name="text", label="Your reply", required=True,
                      max_chars=MAX_MESSAGE)
    if concern.status == Status.CLOSED:
        # Within the reopening period: the reply reopens it (checked text first, so a
        # reply that is refused reopens nothing).
        _reopen(session, clock, config, concern, actor="reporter")
    message = {"text": body}
    if files:
        message["attachments"] = evidence.body_entry(files)
    seq = _append_message(session, config, clock, concern, MessageKind.REPORTER_REPLY, message,
                          author_id=None, seen_seq=seen_seq)
    if files:
        evidence.store(session, concern.id, seq, files)
    return open_conversation(session, keys_)


def reopen_until(summary: ConcernSummary, config: ConcernConfig) -> dt.date | None:
    """The last day a reporter's reply reopens this closed concern (None: it cannot).

    Spam and duplicates are not reopened by a reply; a handler can still reopen them.
    """
    if summary.status != Status.CLOSED or summary.closed_on is None or summary.purged:
        return None
    if summary.outcome in EXCLUDED_OUTCOMES:
        return None
    return summary.closed_on + dt.timedelta(days=config.reopen_days)


def _reopen(session: Session, clock: Clock, config: ConcernConfig, concern: Concern, *,
            actor: str) -> None:
    """Move a closed concern back to "in progress"; conditional, so it happens once."""
    moved = session.execute(
        update(Concern)
        .where(Concern.id == concern.id, Concern.status == Status.CLOSED.value)
        .values(status=Status.IN_PROGRESS.value, closed_on=None, outcome=None,
                reopened_on=config.today(clock))
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ConversationMovedOnError(
            "Someone changed this concern's status at the same moment. Check the page again."
        )
    session.refresh(concern)
    audit.record(session, clock, actor=actor, action="concern.reopen", subject=concern.id,
                 detail={"by": "reporter" if actor == "reporter" else "handler"})


def reopen_concern(session: Session, clock: Clock, config: ConcernConfig, user: User,
                   concern_id: str, *, expected_status: str) -> None:
    """A handler reopens a closed concern (any time before its content is purged)."""
    concern = _concern(session, concern_id)
    _require_access(session, concern, user)
    if expected_status != concern.status:
        raise ConversationMovedOnError(
            "Someone changed this concern's status while you were looking at it. "
            "Check the page again."
        )
    if concern.status != Status.CLOSED or concern.purged_on is not None:
        raise StatusChangeError("Only a closed concern whose content is kept can be reopened.")
    _reopen(session, clock, config, concern, actor=user.email)


def _claim_seq(session: Session, concern_id: str, seen_seq: object, *, open_only: bool) -> int:
    """Take the next sequence number, but only if nobody wrote since `seen_seq`.

    With `open_only`, also only while the concern is not closed: a reply racing a
    closing status change loses cleanly instead of landing on a closed concern.
    """
    try:
        seen = int(seen_seq)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        seen = -1
    if not 0 <= seen <= MAX_SEQ:  # a forged number the database cannot even compare
        seen = -1
    condition = and_(Concern.id == concern_id, Concern.last_seq == seen)
    if open_only:
        condition = and_(condition, Concern.status != Status.CLOSED.value)
    claimed = session.execute(
        update(Concern)
        .where(condition)
        .values(last_seq=Concern.last_seq + 1)
        .returning(Concern.last_seq)
        .execution_options(synchronize_session=False)
    ).scalar()
    if claimed is None:
        if open_only and session.scalar(
            select(Concern.status).where(Concern.id == concern_id)
        ) == Status.CLOSED:
            raise ConcernClosedError("This concern has just been closed: nothing was sent.")
        raise ConversationMovedOnError(
            "A new message arrived while you were writing, so yours has not been sent yet. "
            "Read the conversation again; your text is kept below."
        )
    return int(claimed)


def _append_message(
    session: Session, config: ConcernConfig, clock: Clock, concern: Concern, kind: MessageKind,
    body: Mapping[str, str], *, author_id: int | None, seen_seq: object,
) -> int:
    seq = _claim_seq(session, concern.id, seen_seq, open_only=kind != MessageKind.NOTE)
    session.refresh(concern)
    readers = _follow_up_readers(session, concern, to_reporter=kind != MessageKind.NOTE)
    sealed = crypto.seal(_encode(body), readers, _aad(concern.id, seq, kind))
    session.add(ConcernMessage(concern_id=concern.id, seq=seq, kind=kind.value,
                               sent_on=config.today(clock), author_id=author_id,
                               ciphertext=sealed.ciphertext))
    session.flush()
    session.add_all(_wrap_rows(concern.id, seq, sealed.wraps))
    session.flush()
    return seq


# --------------------------------------------------------------------------- handler side


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
                summary=_summary(session, concern),
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


def _concern(session: Session, concern_id: str) -> Concern:
    concern = session.get(Concern, concern_id) if concern_id else None
    if concern is None:
        raise ConcernNotFoundError("There is no concern with that reference.")
    return concern


def _require_access(session: Session, concern: Concern, user: User) -> None:
    if user.id not in _handler_ids_with_access(session, concern.id):
        raise NoAccessError(
            "This concern has not been shared with you. A handler who can read it can share "
            "it with you, or an administrator can grant access with the recovery key."
        )


@dataclass(frozen=True)
class HandlerView:
    conversation: Conversation
    can_read: bool
    share_candidates: list[tuple[int, str]]  # (user id, e-mail) of handlers without access


def read_concern(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str,
    private_key: X25519PrivateKey | None,
) -> HandlerView:
    """Decrypt a concern for a handler; every decryption goes into the audit log."""
    concern = _concern(session, concern_id)
    if conflicts.is_excluded(session, config, concern.id, user.id):
        # The same answer as for a reference that does not exist.
        raise ConcernNotFoundError("There is no concern with that reference.")
    can_read = user.id in _handler_ids_with_access(session, concern.id)
    key = private_key if can_read else None
    messages = _decrypt_messages(session, concern.id, key, Reader.HANDLER, user.id,
                                 include_notes=True, with_authors=True)
    if key is not None:
        opened = sum(1 for m in messages if m.body is not None)
        audit.record(session, clock, actor=user.email, action="concern.read", subject=concern.id,
                     detail={"messages": opened})
    return HandlerView(Conversation(_summary(session, concern), messages), can_read,
                       share_candidates(session, config, concern.id) if can_read else [])


def handler_message(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str, *,
    text: object, seen_seq: object, note: bool,
    files: list[evidence.PreparedFile] | None = None,
) -> int:
    """Send a reply to the reporter (with any cleaned files), or add an internal note."""
    concern = _concern(session, concern_id)
    _require_access(session, concern, user)
    if concern.status == Status.CLOSED and not note:
        raise ConcernClosedError("This concern is closed: add an internal note instead.")
    body = clean_text(text, field_name="text", label="Note" if note else "Reply",
                      required=True, max_chars=MAX_MESSAGE)
    kind = MessageKind.NOTE if note else MessageKind.HANDLER_REPLY
    message = {"text": body}
    if files:
        message["attachments"] = evidence.body_entry(files)
    seq = _append_message(session, config, clock, concern, kind, message,
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
    concern = _concern(session, concern_id)
    _require_access(session, concern, user)
    try:
        target = Status(new_status)
    except ValueError as exc:
        raise StatusChangeError("Choose one of the listed statuses.") from exc
    if target == Status.CLOSED and outcome not in OUTCOMES:
        raise StatusChangeError("To close a concern, choose its outcome.")
    if target != Status.CLOSED and outcome:
        raise StatusChangeError("An outcome is only chosen when closing.")
    message = clean_text(closing_message, field_name="closing_message",
                         label="Closing message", required=False, max_chars=MAX_MESSAGE)
    if message and target != Status.CLOSED:
        raise FieldError("closing_message", "A closing message is only sent when closing.")
    if message and expected_status == concern.status:
        handler_message(session, clock, config, user, concern.id, text=message,
                        seen_seq=concern.last_seq, note=False)
        session.flush()  # the acknowledgement it may have made, before the conditional move
        # The message acknowledged a new concern: close from where it now is.
        expected_status = concern.status
    _move(session, clock, config, user, concern, target, outcome, expected_status)


def mark_excluded(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str, *,
    reason: str, expected_status: str,
) -> None:
    """Close a concern as spam or a duplicate: it then counts in no statistic."""
    if reason not in EXCLUDED_OUTCOMES:
        raise StatusChangeError("Choose spam or duplicate.")
    concern = _concern(session, concern_id)
    _require_access(session, concern, user)
    _move(session, clock, config, user, concern, Status.CLOSED, reason, expected_status)


def _move(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern: Concern,
    target: Status, outcome: str | None, expected_status: str,
) -> None:
    current = Status(concern.status)
    if expected_status != current.value:
        raise ConversationMovedOnError(
            "Someone changed this concern's status while you were looking at it. "
            "Check the page again before changing it."
        )
    if STATUS_ORDER.index(target) <= STATUS_ORDER.index(current):
        raise StatusChangeError(
            f"A concern moves forward only: it is {STATUS_LABELS[current].lower()} already."
        )
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
            "Someone changed this concern's status at the same moment. Check the page again."
        )
    session.refresh(concern)
    audit.record(session, clock, actor=user.email, action="concern.status", subject=concern.id,
                 detail={"from": current.value, "to": target.value, "outcome": outcome})


def next_statuses(status: str) -> list[tuple[str, str]]:
    """The statuses a concern may move to from `status`, as (value, label)."""
    later = STATUS_ORDER[STATUS_ORDER.index(Status(status)) + 1 :]
    return [(s.value, STATUS_LABELS[s]) for s in later]


def share_candidates(session: Session, config: ConcernConfig,
                     concern_id: str) -> list[tuple[int, str]]:
    """Active handlers with a key pair who cannot read this concern yet and are not kept
    out of it (by its reporter, or by recusing themselves)."""
    with_access = _handler_ids_with_access(session, concern_id)
    rows = [
        (user_id, email)
        for user_id, email in session.execute(
            select(User.id, User.email)
            .join(HandlerKey, HandlerKey.user_id == User.id)
            .where(User.role == Role.HANDLER.value, User.disabled.is_(False),
                   User.id.not_in(with_access))
            .order_by(User.email)
        )
    ]
    kept_out = conflicts.excluded_handlers(session, config, concern_id, [u for u, _ in rows])
    return [(user_id, email) for user_id, email in rows if user_id not in kept_out]


def share_concern(
    session: Session, clock: Clock, config: ConcernConfig, user: User,
    private_key: X25519PrivateKey, concern_id: str, target_id: object,
) -> int:
    """Give another handler every message this handler can read; return how many."""
    concern = _concern(session, concern_id)
    _require_access(session, concern, user)
    candidates = dict(share_candidates(session, config, concern.id))
    target = (int(target_id) if isinstance(target_id, str) and target_id.isascii()
              and target_id.isdigit() and len(target_id) < 10 else None)
    if target not in candidates:
        raise ShareError("Choose a case handler from the list.")
    target_key = session.get(HandlerKey, target)
    assert target_key is not None  # share_candidates joined on it
    shared = _rewrap_all(session, concern.id, Reader.HANDLER, user.id, private_key, target,
                         crypto.public_key_from_raw(target_key.public_key))[concern.id]
    audit.record(session, clock, actor=user.email, action="concern.share", subject=concern.id,
                 detail={"with": candidates[target], "messages": shared})
    return shared


def _rewrap_all(
    session: Session, concern_id: str | None, from_kind: Reader, from_id: int,
    private_key: X25519PrivateKey, target_id: int, target_public: X25519PublicKey,
    skip: frozenset[str] | set[str] = frozenset(),
) -> dict[str, int]:
    """Add handler `target_id` wraps for every message `from` can open; per-concern counts."""
    query = (
        select(ConcernKeyWrap, ConcernMessage.kind)
        .join(ConcernMessage, and_(ConcernMessage.concern_id == ConcernKeyWrap.concern_id,
                                   ConcernMessage.seq == ConcernKeyWrap.seq))
        .where(ConcernKeyWrap.reader_kind == from_kind.value, ConcernKeyWrap.reader_id == from_id)
    )
    if concern_id is not None:
        query = query.where(ConcernKeyWrap.concern_id == concern_id)
    existing = set(
        session.execute(
            select(ConcernKeyWrap.concern_id, ConcernKeyWrap.seq).where(
                ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
                ConcernKeyWrap.reader_id == target_id,
            )
        )
    )
    counts: dict[str, int] = {}
    for wrap, kind in session.execute(query):
        if (wrap.concern_id, wrap.seq) in existing or wrap.concern_id in skip:
            continue
        new = crypto.rewrap(wrap.wrap, private_key, target_public,
                            _aad(wrap.concern_id, wrap.seq, kind))
        session.add(ConcernKeyWrap(concern_id=wrap.concern_id, seq=wrap.seq,
                                   reader_kind=Reader.HANDLER.value, reader_id=target_id,
                                   wrap=new))
        counts[wrap.concern_id] = counts.get(wrap.concern_id, 0) + 1
    session.flush()
    return counts if concern_id is None else {concern_id: counts.get(concern_id, 0)}


def recover_access(
    session: Session, clock: Clock, config: ConcernConfig, recovery_private: X25519PrivateKey,
    handler_email: str, *, actor: str,
) -> dict[str, int]:
    """Grant a handler every concern through the recovery key; return messages per concern."""
    recovery = keys.matching_recovery_key(session, recovery_private)
    user = session.scalar(select(User).where(User.email == handler_email.strip().lower()))
    if user is None or user.role != Role.HANDLER.value or user.disabled:
        raise ShareError(f"{handler_email} is not an active case handler account.")
    target_key = keys.handler_key(session, user.id)
    if target_key is None:
        raise keys.NoHandlerKeyError(
            f"{user.email} has not signed in yet, so has no key pair to receive concerns. "
            "Ask them to sign in once, then run this again."
        )
    counts = _rewrap_all(session, None, Reader.RECOVERY, recovery.id, recovery_private, user.id,
                         crypto.public_key_from_raw(target_key.public_key),
                         skip=conflicts.concerns_excluding(session, config, user.id))
    for concern_id, messages in sorted(counts.items()):
        audit.record(session, clock, actor=actor, action="concern.recover", subject=concern_id,
                     detail={"handler": user.email, "messages": messages})
    return counts


def open_attachment(
    session: Session, clock: Clock, config: ConcernConfig, user: User, concern_id: str,
    seq: int, number: int, private_key: X25519PrivateKey | None,
) -> tuple[evidence.AttachmentInfo, Iterator[bytes]]:
    """Give a handler one attached file to download (decrypted chunk by chunk); audited."""
    concern = _concern(session, concern_id)
    if conflicts.is_excluded(session, config, concern.id, user.id):
        raise ConcernNotFoundError("There is no concern with that reference.")
    _require_access(session, concern, user)
    if private_key is None:
        raise NoAccessError("Unlock your key on the concern's page first.")
    message = next((m for m in _decrypt_messages(session, concern.id, private_key,
                                                  Reader.HANDLER, user.id, include_notes=False,
                                                  with_authors=False) if m.seq == seq), None)
    body = message.body if message is not None else None
    info = next((a for a in evidence.listed(body) if a.number == number), None)
    key = evidence.key_of(body, number) if body is not None else None
    if info is None or key is None:
        raise ConcernNotFoundError("There is no such attachment.")
    audit.record(session, clock, actor=user.email, action="concern.download",
                 subject=concern.id, detail={"seq": seq, "file": number})
    return info, evidence.stream(session, concern.id, seq, number, key)


def open_reporter_attachment(
    session: Session, keys_: ReceiptKeys, seq: object, number: object,
) -> tuple[evidence.AttachmentInfo, Iterator[bytes]]:
    """Give the reporter one file of their conversation (theirs or a handler's reply)."""
    wanted = [int(v) if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 10
              else -1 for v in (seq, number)]
    conversation = open_conversation(session, keys_)
    body = next((m.body for m in conversation.messages if m.seq == wanted[0]), None)
    info = next((a for a in evidence.listed(body) if a.number == wanted[1]), None)
    key = evidence.key_of(body, wanted[1]) if body is not None else None
    if info is None or key is None:
        raise ConcernNotFoundError("There is no such attachment.")
    return info, evidence.stream(session, conversation.concern.id, wanted[0], wanted[1], key)


def recuse(session: Session, clock: Clock, config: ConcernConfig, user: User,
           concern_id: str) -> int:
    """Take a handler off a concern for good: delete their key wraps, keep them out of
    sharing and recovery, audit it. Refused while nobody else could read it. Returns the
    number of wraps deleted."""
    concern = _concern(session, concern_id)
    _require_access(session, concern, user)
    others = set(_follow_up_readers(session, concern, to_reporter=False)) - {
        _reader_id(Reader.HANDLER, user.id)}
    if not any(reader.startswith("handler:") for reader in others):
        raise RecusalError(
            "You are the only handler who can read this concern. Share it with a colleague "
            "first, then recuse yourself, so that someone can still answer the reporter."
        )
    deleted = session.execute(
        delete(ConcernKeyWrap).where(
            ConcernKeyWrap.concern_id == concern.id,
            ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
            ConcernKeyWrap.reader_id == user.id,
        )
    ).rowcount
    session.execute(insert(ConcernExclusion).values(
        conflicts.exclusion_rows(config, concern.id, [user.id])))
    audit.record(session, clock, actor=user.email, action="concern.recuse", subject=concern.id,
                 detail={"wraps_deleted": deleted})
    request_erasure(session, ConcernKeyWrap.__tablename__)
    return deleted


# --------------------------------------------------------------------------- retention


def purge_expired(session: Session, clock: Clock, config: ConcernConfig, *, actor: str) -> int:
    """Delete content and keys of concerns closed longer than the retention period.

    What remains is the dated metadata the statistics need: category, status,
    outcome and the dates of each step. Also forgets expired key sessions and past
    rate-limit windows. Idempotent: run it as often as you like.
    """
    today = config.today(clock)
    cutoff = today - dt.timedelta(days=config.retention_days)
    due = list(
        session.scalars(
            select(Concern.id).where(Concern.closed_on <= cutoff, Concern.purged_on.is_(None))
        )
    )
    if due:
        # The ciphertexts, key wraps and receipt hash must not outlive their rows on disk.
        request_erasure(session, ConcernKeyWrap.__tablename__, ConcernMessage.__tablename__,
                        Concern.__tablename__, ConcernExclusion.__tablename__,
                        ConcernAttachmentChunk.__tablename__)
        session.execute(delete(ConcernKeyWrap).where(ConcernKeyWrap.concern_id.in_(due)))
        # Nothing is left to keep anyone from: the markers go with the content.
        session.execute(delete(ConcernExclusion).where(ConcernExclusion.concern_id.in_(due)))
        session.execute(delete(ConcernAttachmentChunk).where(
            ConcernAttachmentChunk.concern_id.in_(due)))
        session.execute(delete(ConcernMessage).where(ConcernMessage.concern_id.in_(due)))
        session.execute(
            update(Concern)
            .where(Concern.id.in_(due))
            .values(receipt_hash=None, reporter_public_key=None, purged_on=today)
            .execution_options(synchronize_session=False)
        )
        audit.record(session, clock, actor=actor, action="concerns.purge",
                     subject=f"closed on or before {cutoff.isoformat()}",
                     detail={"concerns": len(due)})
    keys.purge_key_sessions(session, clock)
    ratelimit.forget_other_windows(session, ratelimit.window_tag(clock.now(),
                                                                  config.rate_limit_key))
    return len(due)
