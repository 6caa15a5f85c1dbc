"""A concern's messages: typed text, sealing, readers, decrypting and appending.

The building blocks the submission, conversation, handling and sharing modules share.
Every message is sealed with a fresh data key (`crypto.seal`) wrapped to its readers,
and bound to its row and kind (`message_aad`): the text never reaches the database in
the clear.

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
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from concerns import crypto, keys
from concerns.config import ConcernConfig
from concerns.errors import (
    N_,
    ConcernClosedError,
    ConcernNotFoundError,
    ConversationMovedOnError,
    FieldError,
    NoAccessError,
    NotReadyError,
)
from concerns.models import (
    ALL_OUTCOMES,
    STATUS_LABELS,
    Concern,
    ConcernCategory,
    ConcernKeyWrap,
    ConcernMessage,
    HandlerKey,
    MessageKind,
    Reader,
    RecoveryKey,
    Status,
)
from speakup.clock import Clock
from speakup.digits import coerce_ascii_int
from speakup.models import Role, User

MAX_WHAT_HAPPENED = 20_000
MAX_WHAT_WANTED = 5_000
MAX_MESSAGE = 20_000
MAX_SEQ = 2**31 - 1  # the largest value Concern.last_seq (an INTEGER) can hold


# Text people type may hold line breaks and tabs; no other control characters (Unicode
# category Cc is exactly U+0000–U+001F and U+007F–U+009F).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


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
            N_("Some characters could not be read. Please check the text (for example, "
               "retype any symbols pasted from another program) and send it again."),
        )
    if _CONTROL.search(text):
        raise FieldError(field_name, N_("Remove the invisible control characters."))
    text = text.strip()
    if required and not text:
        raise FieldError(field_name, N_("This cannot be empty."))
    if len(text) > max_chars:
        raise FieldError(field_name, N_("Use at most %(most)s characters (you used %(used)s)."),
                         most=f"{max_chars:,}", used=f"{len(text):,}")
    return text


def encode_body(body: Mapping[str, str]) -> bytes:
    """Serialise a message body (field -> text) for sealing."""
    return json.dumps(dict(body), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_body(plaintext: bytes) -> dict[str, str]:
    """Read a decrypted message body back into field -> text."""
    data = json.loads(plaintext.decode("utf-8"))
    if not isinstance(data, dict):
        raise crypto.DecryptionError("Could not decrypt.")
    return {str(k): str(v) for k, v in data.items()}


def message_aad(concern_id: str, seq: int, kind: str) -> bytes:
    """The associated data that binds a message's ciphertext and wraps to its row."""
    # Binds ciphertext and wraps to their row and kind: a note moved into a reply's
    # row, or a message moved to another concern, no longer opens.
    return f"speakup concern message v1|{concern_id}|{seq}|{kind}".encode("ascii")


NOT_READY = N_(
    "Speak Up cannot receive concerns yet: its recovery key has not been set up. "
    "Nothing you typed has been stored. Please try again later."
)


# Before any active handler has a key pair (issue 19): a concern sent now could be read
# by nobody but the holder of the offline recovery key.
NO_READER = N_(
    "Speak Up cannot receive concerns yet: no case handler has signed in for the first "
    "time, so nobody could read a concern sent now. Nothing you typed has been stored. "
    "Please try again later."
)


def require_recovery_key(session: Session) -> RecoveryKey:
    """The active recovery key, or NotReadyError: nothing is received without one."""
    key = keys.active_recovery_key(session)
    if key is None:
        raise NotReadyError(NOT_READY)
    return key


def make_reader_id(kind: Reader, reader: int) -> str:
    """The key a wrap is filed under in `crypto.Sealed.wraps`: "handler:7", "recovery:1"."""
    return f"{kind.value}:{reader}"


def split_reader_id(reader: str) -> tuple[str, int]:
    """The (kind, id) of a reader id made by `make_reader_id`."""
    kind, _, number = reader.partition(":")
    return kind, int(number)


def handler_ids_with_access(session: Session, concern_id: str) -> list[int]:
    """The handlers who can read the concern (hold a wrap of its first message)."""
    return list(
        session.scalars(
            select(ConcernKeyWrap.reader_id).where(
                ConcernKeyWrap.concern_id == concern_id,
                ConcernKeyWrap.seq == 1,
                ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
            )
        )
    )


def follow_up_readers(
    session: Session, concern: Concern, *, to_reporter: bool
) -> dict[str, X25519PublicKey]:
    """Who a later message of this concern is sealed to (see the module's docstring)."""
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
        make_reader_id(Reader.HANDLER, user_id): crypto.public_key_from_raw(public)
        for user_id, public in rows
    }
    recovery = require_recovery_key(session)
    readers[make_reader_id(Reader.RECOVERY, recovery.id)] = crypto.public_key_from_raw(
        recovery.public_key
    )
    if to_reporter and concern.reporter_public_key is not None:
        readers[make_reader_id(Reader.REPORTER, 0)] = crypto.public_key_from_raw(
            concern.reporter_public_key
        )
    return readers


def wrap_rows(concern_id: str, seq: int, wraps: Mapping[str, bytes]) -> list[ConcernKeyWrap]:
    """The key-wrap rows of one sealed message."""
    rows = []
    for reader, wrap in wraps.items():
        kind, number = split_reader_id(reader)
        rows.append(ConcernKeyWrap(concern_id=concern_id, seq=seq, reader_kind=kind,
                                   reader_id=number, wrap=wrap))
    return rows


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


def summarise(session: Session, concern: Concern) -> ConcernSummary:
    """What anyone who may see the concern sees: category, status, dates; no content."""
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


def decrypt_messages(
    session: Session, concern_id: str, private_key: X25519PrivateKey | None,
    reader_kind: Reader, reader_id: int, *, include_notes: bool, with_authors: bool,
) -> list[MessageView]:
    """The concern's messages, opened where this reader holds a wrap (body None elsewhere)."""
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
                message_aad(message.concern_id, message.seq, message.kind),
            )
            body = decode_body(plaintext)
        views.append(MessageView(message.seq, message.kind, message.sent_on,
                                 email if with_authors else None, body))
    return views


def get_concern(session: Session, concern_id: str) -> Concern:
    """The concern with that id, or ConcernNotFoundError."""
    concern = session.get(Concern, concern_id) if concern_id else None
    if concern is None:
        raise ConcernNotFoundError(N_("There is no concern with that reference."))
    return concern


def require_access(session: Session, concern: Concern, user: User) -> None:
    """Raise NoAccessError unless this handler can read the concern."""
    if user.id not in handler_ids_with_access(session, concern.id):
        raise NoAccessError(
            N_("This concern has not been shared with you. A handler who can read it can share "
            "it with you, or an administrator can grant access with the recovery key.")
        )


def claim_seq(session: Session, concern_id: str, seen_seq: object, *, open_only: bool) -> int:
    """Take the next sequence number, but only if nobody wrote since `seen_seq`.

    With `open_only`, also only while the concern is not closed: a reply racing a
    closing status change loses cleanly instead of landing on a closed concern.
    """
    try:  # ASCII digits only: int() would also read "٣" or " 3" from a forged form
        seen = coerce_ascii_int(seen_seq)
    except ValueError:
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
            raise ConcernClosedError(N_("This concern has just been closed: nothing was sent."))
        raise ConversationMovedOnError(N_(
            "A new message arrived while you were writing, so yours has not been sent yet. "
            "Read the conversation again; your text is kept below."
        ))
    return int(claimed)


def append_message(
    session: Session, config: ConcernConfig, clock: Clock, concern: Concern, kind: MessageKind,
    body: Mapping[str, str], *, author_id: int | None, seen_seq: object,
) -> int:
    """Seal and store the next message of a concern to its readers; return its seq."""
    seq = claim_seq(session, concern.id, seen_seq, open_only=kind != MessageKind.NOTE)
    session.refresh(concern)
    readers = follow_up_readers(session, concern, to_reporter=kind != MessageKind.NOTE)
    sealed = crypto.seal(encode_body(body), readers, message_aad(concern.id, seq, kind))
    session.add(ConcernMessage(concern_id=concern.id, seq=seq, kind=kind.value,
                               sent_on=config.today(clock), author_id=author_id,
                               ciphertext=sealed.ciphertext))
    session.flush()
    session.add_all(wrap_rows(concern.id, seq, sealed.wraps))
    session.flush()
    return seq
