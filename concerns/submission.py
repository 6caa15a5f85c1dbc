"""Submitting a concern: validate, encrypt to its readers, store; the receipt is shown once.

A reporter's rows carry dates only (`Concern.*_on`, `ConcernMessage.sent_on`): no
address, user agent or time is ever passed in. The receipt is never stored: only
`crypto.receipt_lookup_key` of it (DESIGN.md, rules 1–3).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from concerns import conflicts, crypto, evidence, group_marks, professional_groups, ratelimit
from concerns.config import ACKNOWLEDGE_DAYS, FEEDBACK_MONTHS, ConcernConfig, add_months
from concerns.errors import (
    N_,
    FieldError,
    FieldErrors,
    NotReadyError,
    RateLimitedError,
    StampUsedError,
)
from concerns.messages import (
    MAX_WHAT_HAPPENED,
    MAX_WHAT_WANTED,
    NO_READER,
    NOT_READY,
    clean_text,
    encode_body,
    make_reader_id,
    message_aad,
    split_reader_id,
)
from concerns.models import (
    Concern,
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
from concerns.stats import quarter_label, quarter_of
from speakup import audit
from speakup.clock import Clock
from speakup.models import Role, User

SUBMIT_BUCKET = "concern-submit"
STAMPED_BUCKET = "concern-submit-stamped"  # submissions that waited (ratelimit.py)
CHOOSE_CATEGORY = N_("Choose one of the listed categories.")


# Concern ids: 10 Crockford base32 symbols (50 random bits), shown as XXXXX-XXXXX.
_ID_SYMBOLS = 10


def new_concern_id() -> str:
    symbols = "".join(secrets.choice(crypto.RECEIPT_ALPHABET) for _ in range(_ID_SYMBOLS))
    return f"{symbols[:5]}-{symbols[5:]}"


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


@dataclass(frozen=True)
class Report:
    """A validated report, before any encryption: its category and padded-to-be text."""

    category_id: int
    plaintext: bytes = field(repr=False)
    # Handlers (user ids) the reporter keeps out: no key wrap is ever made for them.
    excluded: frozenset[int] = frozenset()
    # Cleaned attached files; their keys are in `plaintext`, sealed with the report.
    files: tuple[evidence.PreparedFile, ...] = field(default=(), repr=False, compare=False)
    # The optional professional group chosen (a list id), None when not answered, and
    # the random id of its unlinked mark row; both are sealed inside `plaintext` too.
    professional_group_id: int | None = None
    group_mark: str | None = field(default=None, repr=False)


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
            raise FieldError("excluded", N_("Choose handlers from the list only."))
        ids.add(int(item))
    return frozenset(ids)


def validate_report(*, category_id: object, what_happened: object,
                    what_wanted: object, excluded: object = None,
                    files: list[evidence.PreparedFile] | None = None,
                    professional_group: object = None) -> Report:
    """Check a report's fields without the database (category and handlers come later)."""
    errors: dict[str, str | FieldError] = {}
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
        errors[exc.field] = exc
    try:
        wanted = clean_text(what_wanted, field_name="what_wanted",
                            label="What you would like to happen", required=False,
                            max_chars=MAX_WHAT_WANTED)
    except FieldError as exc:
        errors[exc.field] = exc
    try:
        kept_out = _excluded_ids(excluded)
    except FieldError as exc:
        errors[exc.field] = exc
    group_id = None
    try:
        group_id = professional_groups.parse_choice(professional_group)
    except FieldError as exc:
        errors[exc.field] = exc
    if errors:
        raise FieldErrors(errors)
    body = {"what_happened": happened, "what_wanted": wanted}
    if files:
        body["attachments"] = evidence.body_entry(files)
    # The group and its mark's id travel only inside the encrypted report (group_marks.py).
    mark = group_marks.new_mark_id() if group_id is not None else None
    body.update(group_marks.body_entries(group_id, mark))
    return Report(number, encode_body(body), kept_out, tuple(files or ()), group_id, mark)


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
    if not any(kind == "handler" for kind, _, _ in rows):
        # Nobody could read it (issue 19): refused here too, inside the transaction,
        # for a form shown while a handler still had keys.
        raise NotReadyError(NO_READER)
    professional_groups.check_choice(session, report.professional_group_id)
    readers = {f"{kind}:{number}": public for kind, number, public in rows if kind != "category"}
    if report.excluded:
        offered = {user_id for user_id, _ in conflicts.offered_handlers(session)}
        if not report.excluded <= offered:
            raise FieldError("excluded", N_("Choose handlers from the list only: the list has "
                                            "changed since the page was shown."))
        for user_id in report.excluded:
            readers.pop(make_reader_id(Reader.HANDLER, user_id), None)
        if not any(reader.startswith("handler:") for reader in readers):
            raise FieldError("excluded", N_("Leave at least one handler able to read your "
                                            "concern: untick one of the names."))
    return readers


def seal_report(report: Report, config: ConcernConfig,
                readers: Mapping[str, bytes]) -> SealedReport:
    """Make the receipt and the reporter's key, and encrypt the report (no database)."""
    receipt = crypto.new_receipt()
    concern_id = new_concern_id()
    reporter_public = crypto.reporter_private_key(receipt, config.reporter_key).public_key()
    recipients = {reader: crypto.public_key_from_raw(raw) for reader, raw in readers.items()}
    recipients[make_reader_id(Reader.REPORTER, 0)] = reporter_public
    return SealedReport(
        concern_id=concern_id,
        receipt=receipt,
        receipt_hash=crypto.receipt_lookup_key(receipt, config.lookup_key),
        reporter_public_key=crypto.public_key_to_raw(reporter_public),
        readers=dict(readers),
        sealed=crypto.seal(report.plaintext, recipients,
                           message_aad(concern_id, 1, MessageKind.REPORT)),
    )


def issue_wait_stamp(session: Session, clock: Clock, config: ConcernConfig) -> tuple[str, int]:
    """A stamp for the wait page and its wait in seconds; reserves its place (issue 18).

    The wait is the base wait, or longer when the minutes after it are already fully
    reserved: it grows with the stamps outstanding. When every minute the stamp could
    live to see is reserved, the stamp is plain (counted against the waited ceiling
    when spent, as before). Never commits: the caller commits the reservation.
    """
    now = clock.now()
    horizon = max(config.submit_wait_seconds,
                  config.submit_stamp_seconds - ratelimit.RESERVED_SPEND_SECONDS)
    slot = ratelimit.reserve_slot(session, now, config.rate_limit_key,
                                  wait=config.submit_wait_seconds,
                                  per_minute=config.stamped_concerns_per_minute,
                                  horizon=horizon)
    if slot is None:
        wait = config.submit_wait_seconds
        return ratelimit.issue_stamp(config.stamp_key, now, wait), wait
    wait = slot - int(now.timestamp())
    return ratelimit.issue_stamp(config.stamp_key, now, wait, reserved=True), wait


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
            (split_reader_id(reader), wrap) for reader, wrap in sealed.sealed.wraps.items()
        )
    ])
    if report.files:
        evidence.store(session, sealed.concern_id, 1, list(report.files))
    if report.professional_group_id is not None and report.group_mark is not None:
        # Unlinked: the quarter received and the group, under the id the report names.
        group_marks.store_mark(session, report.group_mark, quarter_label(*quarter_of(today)),
                               report.professional_group_id)
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
            raise StampUsedError(N_("The waiting page you sent from had already been used."))
        if stamp.reserved:  # its place under the waited ceiling was given when issued
            if ratelimit.reserved_stamp_stale(stamp, clock.now()):
                raise StampUsedError(N_("The waiting page you sent from was too old."))
        elif not ratelimit.hit(session, STAMPED_BUCKET, config.stamped_concerns_per_minute,
                               clock.now(), config.rate_limit_key):
            raise RateLimitedError(N_("Very many concerns were sent in the last minute."))
    elif not ratelimit.hit(session, SUBMIT_BUCKET, config.concerns_per_minute, clock.now(),
                           config.rate_limit_key, forget_all=True):
        raise RateLimitedError(N_(
            "Many concerns have been sent in the last minute, so yours was not accepted yet. "
            "Your text is still below: please wait a minute and send it again."
        ))
    return sealed.receipt


@dataclass(frozen=True)
class PreparedReport:
    """A validated report, already encrypted to the hinted readers if there was a hint."""

    report: Report
    sealed: SealedReport | None


def prepare_report(config: ConcernConfig, *, category_id: object, what_happened: object,
                   what_wanted: object, hint: ReadersHint | None = None,
                   excluded: object = None,
                   files: list[evidence.PreparedFile] | None = None,
                   professional_group: object = None) -> PreparedReport:
    """Validate a report and, given a hint, encrypt it — all before touching the database."""
    report = validate_report(category_id=category_id, what_happened=what_happened,
                             what_wanted=what_wanted, excluded=excluded, files=files,
                             professional_group=professional_group)
    if report.excluded and not config.exclusions_offered:
        raise FieldError("excluded", N_("Choosing handlers is switched off here."))
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
    excluded: object = None, professional_group: object = None,
) -> tuple[str, str]:
    """Validate, encrypt and store a new concern; return (receipt, concern id)."""
    prepared = prepare_report(config, category_id=category_id, what_happened=what_happened,
                              what_wanted=what_wanted, hint=hint, excluded=excluded,
                              professional_group=professional_group)
    return store_new_concern(session, clock, config, prepared, hint)
