"""Concern tables (DESIGN.md rules 1–3).

What a copy of these tables shows: that concerns exist, their category, status,
closing outcome and the *dates* of each step. Everything a person wrote is in
`ConcernMessage.ciphertext`, sealed with a fresh data key per message; the data key
is only present wrapped to its readers (`ConcernKeyWrap`). Nothing here holds an
address, a user agent, a time of day or a receipt.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from concerns.errors import N_
from speakup.db import Base

# The shared rate-limit counters live in speakup (surveys count wrong slip codes too).
from speakup.models import RateLimitWindow as RateLimitWindow


class Status(enum.StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


# The order a concern moves through; it never moves back.
STATUS_ORDER = (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.CLOSED)
STATUS_LABELS = {
    Status.NEW: N_("New"),
    Status.ACKNOWLEDGED: N_("Acknowledged"),
    Status.IN_PROGRESS: N_("In progress"),
    Status.CLOSED: N_("Closed"),
}

# Closing outcomes a handler picks from; spam and duplicates are left out of statistics.
OUTCOMES = {
    "resolved": N_("Resolved"),
    "partly_resolved": N_("Partly resolved"),
    "not_upheld": N_("Looked into, not upheld"),
    "referred": N_("Referred to another process"),
    "no_response": N_("Closed: no further response from the reporter"),
}
EXCLUDED_OUTCOMES = {"spam": N_("Spam"), "duplicate": N_("Duplicate")}
ALL_OUTCOMES = {**OUTCOMES, **EXCLUDED_OUTCOMES}


class MessageKind(enum.StrEnum):
    REPORT = "report"  # the first message, from the reporter
    REPORTER_REPLY = "reporter_reply"
    HANDLER_REPLY = "handler_reply"  # shown to the reporter
    NOTE = "note"  # internal: never wrapped to the reporter


class Reader(enum.StrEnum):
    """Who a key wrap is for; `ConcernKeyWrap.reader_id` says which one."""

    REPORTER = "reporter"  # reader_id 0: the key derived from the receipt
    HANDLER = "handler"  # reader_id: users.id
    RECOVERY = "recovery"  # reader_id: concern_recovery_keys.id


class ConcernCategory(Base):
    """A category reporters choose from; admins maintain the list (never deleted)."""

    __tablename__ = "concern_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ProfessionalGroup(Base):
    """A professional group reporters may choose (optional); admins keep the list, never delete.

    The guardian's quarterly return counts concerns by professional group; like the
    category it is a chosen label, never free text (concerns/professional_groups.py), but
    unlike the category it is never stored beside the concern: see `ConcernGroupMark`.
    """

    __tablename__ = "concern_professional_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Concern(Base):
    """One concern: plain-text metadata for the statistics, content only in messages."""

    __tablename__ = "concerns"
    __table_args__ = (
        CheckConstraint(
            "status IN ('new', 'acknowledged', 'in_progress', 'closed')", name="status_known"
        ),
        CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)", name="closed_has_outcome"),
        # SQLite: store rows in primary-key order, i.e. by the random id, so the file's
        # layout says nothing about the order concerns arrived in (and one B-tree less
        # to write per submission). PostgreSQL ignores it.
        {"sqlite_with_rowid": False},
    )

    # Random, not sequential: an id seen by a handler says nothing about volume or order.
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    # HMAC of the receipt under a server key; NULL once the content is purged.
    receipt_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    # The reporter's X25519 public key (derived from the receipt), so replies can be
    # wrapped to them; it reveals nothing about the receipt.
    reporter_public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    category_id: Mapped[int] = mapped_column(ForeignKey("concern_categories.id"))
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW.value)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    received_on: Mapped[dt.date] = mapped_column(Date)
    # Due dates fixed at receipt (EU Whistleblowing Directive: 7 days, 3 months), so
    # statistics and the inbox share one definition of "on time".
    acknowledge_by: Mapped[dt.date] = mapped_column(Date)
    feedback_by: Mapped[dt.date] = mapped_column(Date)
    acknowledged_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    first_replied_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # The last day it was reopened (by a reporter's reply or a handler); reopening clears
    # closed_on and outcome, so statistics count it as open until it is closed again.
    reopened_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    purged_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # The last message's sequence number; replies claim the next one with a
    # conditional UPDATE, so two writers can never both think they are next.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # The ids of this concern's verdict rows (concerns/verdict.py), sealed to the
    # reporter's key alone: the only link between a verdict and its concern, readable
    # only while the reporter is signed in with the receipt. NULL until the first answer.
    sealed_verdicts: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class ConcernMessage(Base):
    """One message of a conversation: a date, never a time; ordered by `seq`."""

    __tablename__ = "concern_messages"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('report', 'reporter_reply', 'handler_reply', 'note')", name="kind_known"
        ),
    )

    concern_id: Mapped[str] = mapped_column(
        ForeignKey("concerns.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    sent_on: Mapped[dt.date] = mapped_column(Date)
    # The handler who wrote a reply or note (shown to handlers only); NULL for reporters.
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # nonce || ChaCha20-Poly1305(padded JSON), see concerns.crypto.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class ConcernKeyWrap(Base):
    """A message's data key wrapped to one reader (reporter, handler or recovery key)."""

    __tablename__ = "concern_key_wraps"
    __table_args__ = (
        ForeignKeyConstraint(
            ["concern_id", "seq"],
            ["concern_messages.concern_id", "concern_messages.seq"],
            ondelete="CASCADE",
            name="fk_concern_key_wraps_message",
        ),
        CheckConstraint("reader_kind IN ('reporter', 'handler', 'recovery')", name="reader_known"),
        Index("ix_concern_key_wraps_reader", "reader_kind", "reader_id"),
        {"sqlite_with_rowid": False},  # small rows, always found by their key
    )

    concern_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    reader_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wrap: Mapped[bytes] = mapped_column(LargeBinary(128))


class HandlerKey(Base):
    """A handler's X25519 key pair; the private half only locked under their password."""

    __tablename__ = "handler_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    # crypto.lock_private_key: Argon2id(password) → ChaCha20-Poly1305(private key).
    locked_private_key: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_on: Mapped[dt.date] = mapped_column(Date)


class HandlerKeySession(Base):
    """A signed-in handler's unlocked private key, sealed under a per-session key.

    The per-session key's only copy is in the handler's (signed, HttpOnly) session
    cookie; this row alone, or the cookie alone, reveals nothing. Deleted at sign-out;
    expired rows are purged.
    """

    __tablename__ = "handler_key_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary(128))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class RecoveryKey(Base):
    """The public half of the organisation's offline recovery key (one active at a time)."""

    __tablename__ = "concern_recovery_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_on: Mapped[dt.date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class UsedStamp(Base):
    """A waiting stamp already spent (concerns/ratelimit.py), kept until it has expired.

    `nonce_hash` is a keyed hash of the stamp's random nonce; `window` the keyed hash
    of the minute it was issued, so expired marks can be erased without storing a time.
    """

    __tablename__ = "used_submission_stamps"
    __table_args__ = ({"sqlite_with_rowid": False},)

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[str] = mapped_column(String(16))


class ConcernStatsPublication(Base):
    """One quarter's concern statistics, computed once after the quarter ended; never updated.

    ``payload["published"]`` is what the review shows (already through disclosure control
    and the attacker's audit). ``payload["withheld"]`` keeps the true counts the
    publication was audited with, so a later publication (the year table in Q4) can be
    audited together with this one and sums exactly the figures frozen here; nothing
    outside `concerns.publication` reads it, and it says no more than the dated rows of
    `concerns` already do.
    """

    __tablename__ = "concern_stats_publications"

    quarter: Mapped[str] = mapped_column(String(7), primary_key=True)  # e.g. "2026-Q3"
    published_on: Mapped[dt.date] = mapped_column(Date)
    min_group_size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class HandlerProfile(Base):
    """A handler's concern-handling preferences; made on first need, gone with the account.

    Holds nothing about any concern: whether the daily summary is wanted, and the last
    day one was sent (the conditional update on it is what makes the digest job send at
    most one a day, however often it runs).
    """

    __tablename__ = "handler_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The name reporters see when they choose handlers who must not receive their
    # concern (set by an admin); a handler without one is not offered in that list.
    display_name: Mapped[str | None] = mapped_column(String(80), default=None)
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_digest_on: Mapped[dt.date | None] = mapped_column(Date, default=None)


class ConcernExclusion(Base):
    """A handler who must never read a concern: excluded by its reporter, or recused.

    Only a keyed hash of (concern, handler) is stored (see concerns/conflicts.py): a copy
    of the database shows how many handlers a concern keeps out, never which ones.
    Share and recovery refuse a handler whose marker is here; the inbox hides the
    concern from them.
    """

    __tablename__ = "concern_exclusions"
    __table_args__ = ({"sqlite_with_rowid": False},)

    concern_id: Mapped[str] = mapped_column(
        ForeignKey("concerns.id", ondelete="CASCADE"), primary_key=True
    )
    marker: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)


class ConcernAttachmentChunk(Base):
    """One sealed chunk of a file attached to a message (see concerns/evidence.py).

    The file's key is inside the message's encrypted body, so whoever can read the
    message can read its files and nobody else; sharing, recovery and recusal need no
    extra step. Deleted with the message.
    """

    __tablename__ = "concern_attachment_chunks"
    __table_args__ = (
        ForeignKeyConstraint(
            ["concern_id", "seq"],
            ["concern_messages.concern_id", "concern_messages.seq"],
            ondelete="CASCADE",
            name="fk_concern_attachment_chunks_message",
        ),
        {"sqlite_with_rowid": False},
    )

    concern_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1.. within the message
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


# The reporters' verdict (concerns/verdict.py): three optional questions per stage.
VERDICT_STAGES = {"after_reply": N_("after a reply"), "at_closing": N_("at closing")}
SPEAK_AGAIN_ANSWERS = {"yes": N_("Yes"), "maybe": N_("Maybe"), "no": N_("No"),
                       "prefer_not": N_("Prefer not to say")}
AGREEMENT_ANSWERS = {"1": N_("Strongly disagree"), "2": N_("Disagree"),
                     "3": N_("Neither agree nor disagree"), "4": N_("Agree"),
                     "5": N_("Strongly agree")}
FAVOURABLE_ANSWERS = ("4", "5")  # agree or strongly agree
# question key -> (wording, answer key -> label)
VERDICT_QUESTIONS = {
    "speak_again": (N_("Given your experience, would you speak up again?"), SPEAK_AGAIN_ANSWERS),
    "felt_safe": (N_("Did you feel safe raising this concern here?"), AGREEMENT_ANSWERS),
    "kept_informed": (N_("Were you kept informed?"), AGREEMENT_ANSWERS),
}


class ConcernVerdict(Base):
    """One reporter's answers to the verdict questions at one stage (concerns/verdict.py).

    Deliberately unlinked: no concern id, no receipt hash, no date — the quarter of the
    answer only, and a random id. Only the reporter's sealed list on their concern
    (`Concern.sealed_verdicts`) says which rows are theirs. `counted` is False for an
    "after a reply" answer whose concern also answered at closing in the same quarter,
    so each concern counts once per quarter in the published figures.
    """

    __tablename__ = "concern_verdicts"
    __table_args__ = (
        CheckConstraint("stage IN ('after_reply', 'at_closing')", name="stage_known"),
        # SQLite: stored in the order of the random id, never in the order of arrival.
        {"sqlite_with_rowid": False},
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    quarter: Mapped[str] = mapped_column(String(7), index=True)  # e.g. "2026-Q4"
    stage: Mapped[str] = mapped_column(String(16))
    speak_again: Mapped[str | None] = mapped_column(String(16), default=None)
    felt_safe: Mapped[int | None] = mapped_column(Integer, default=None)  # 1..5
    kept_informed: Mapped[int | None] = mapped_column(Integer, default=None)  # 1..5
    counted: Mapped[bool] = mapped_column(Boolean, default=True)


class ConcernGroupMark(Base):
    """One reporter's answer to the professional-group question (concerns/group_marks.py).

    Deliberately unlinked, like `ConcernVerdict`: no concern id, no receipt hash, no date
    — the quarter the concern was received in, the group and a random id. Only the
    concern's first message, encrypted to its readers, names its mark. `counted` is False
    once a handler who could read the concern closed it as spam or a duplicate.
    """

    __tablename__ = "concern_group_marks"
    # SQLite: stored in the order of the random id, never in the order of arrival.
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    quarter: Mapped[str] = mapped_column(String(7), index=True)  # e.g. "2026-Q4"
    group_id: Mapped[int] = mapped_column(ForeignKey("concern_professional_groups.id"))
    counted: Mapped[bool] = mapped_column(Boolean, default=True)


class ConcernTheme(Base):
    """A theme of the Freedom to Speak Up guardians' quarterly return (admins keep the list)."""

    __tablename__ = "concern_themes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ConcernThemeTag(Base):
    """A handler's tag: this concern touches this theme (a concern may carry several)."""

    __tablename__ = "concern_theme_tags"
    __table_args__ = ({"sqlite_with_rowid": False},)

    concern_id: Mapped[str] = mapped_column(
        ForeignKey("concerns.id", ondelete="CASCADE"), primary_key=True
    )
    theme_id: Mapped[int] = mapped_column(ForeignKey("concern_themes.id"), primary_key=True)
