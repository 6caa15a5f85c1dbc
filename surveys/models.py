"""Survey tables. Responses carry no token, address, time or ordered id (rule 4).

The raw tables (sealed responses, token hashes) are ``WITHOUT
ROWID`` on SQLite: stored in the order of their random keys, with no hidden rowid
counting arrivals (migration 0005). PostgreSQL's heap order is a stated limit (README).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from speakup.db import Base


class RoundStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    PUBLISHED = "published"


class Survey(Base):
    """A recurring pulse survey: its items, groups, schedule and minimum group size."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    intro: Mapped[str] = mapped_column(Text, default="")
    # Item ids from the item bank, in the order they are asked.
    item_ids: Mapped[list[str]] = mapped_column(JSON)
    # [{"id": "ethnicity", "label": "...", "options": [{"id": "...", "label": "..."}]}];
    # "prefer not to say" is implicit for every question.
    demographics: Mapped[list[dict]] = mapped_column(JSON)
    comment_question: Mapped[str | None] = mapped_column(String(500), default=None)
    schedule: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    open_days: Mapped[int] = mapped_column(Integer, default=14)
    reminder_offsets_days: Mapped[list[int]] = mapped_column(JSON, default=list)
    min_group_size: Mapped[int] = mapped_column(Integer, default=5)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_on: Mapped[dt.date] = mapped_column(Date)
    # "general" or "healthcare": items tagged for a sector are offered only there.
    # Server-side default only, so rows written without it (older code) still insert.
    sector: Mapped[str] = mapped_column(String(32), server_default="general")
    # How publication protects small groups beyond k (surveys/protection.py); each
    # round freezes it when it opens. Server-side default, as for `sector`.
    protection: Mapped[str] = mapped_column(String(16), server_default="suppress")
    # The title, intro and comment question in each language but the first, as typed by
    # an admin: {"cy": {"title": "…", "intro": "…"}} (surveys/texts.py). None or a
    # missing text: the first language's is shown.
    texts_by_language: Mapped[dict[str, dict[str, str]] | None] = mapped_column(
        JSON, default=None)

    __table_args__ = (CheckConstraint("min_group_size >= 3", name="k_at_least_3"),)
    # Read `sector` back when it is used, not with every INSERT's RETURNING.
    __mapper_args__ = {"eager_defaults": False}


class Team(Base):
    """A team or directorate on the admin-maintained list new surveys offer as groups."""

    __tablename__ = "survey_teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AudienceMember(Base):
    """An address that is invited to every round of a survey (uploaded by an admin)."""

    __tablename__ = "audience_members"
    __table_args__ = (UniqueConstraint("survey_id", "email", name="uq_audience_survey_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    # The language of this person's e-mails (None: the organisation's first language).
    language: Mapped[str | None] = mapped_column(String(8), default=None)


class Round(Base):
    """One occurrence of a survey; its times are the scheduler's source of truth."""

    __tablename__ = "rounds"
    __table_args__ = (
        UniqueConstraint("survey_id", "opens_at", name="uq_rounds_survey_opens_at"),
        CheckConstraint(
            "status IN ('scheduled', 'open', 'closed', 'published')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=RoundStatus.SCHEDULED.value)
    opens_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # UTC instants at which reminders are due, and how many have gone out.
    reminder_times: Mapped[list[str]] = mapped_column(JSON, default=list)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    # Frozen when the round opens (rule 5): it can never be lowered once answers exist.
    min_group_size: Mapped[int | None] = mapped_column(Integer, default=None)
    # The survey's protection, frozen when the round opens like k (None: opened before
    # protections existed, published with suppression).
    protection: Mapped[str | None] = mapped_column(String(16), default=None)
    # Everyone invited: e-mail invitations plus printed slips (surveys/slips.py).
    invited_count: Mapped[int] = mapped_column(Integer, default=0)
    # How many of those were printed slips: a count for the round, nothing per slip.
    slips_printed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the round actually opened and closed (late after downtime, or early by hand);
    # opens_at/closes_at stay the planned times the schedule is anchored on.
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    published_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    raw_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # X25519 public key every response of this round is sealed to (set when it opens);
    # its private key is only ever in the round key folder, never in the database.
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender; handed to the mail server or about to be
    SENT = "sent"
    CANCELLED = "cancelled"  # the round closed before it went out


class MailJob(Base):
    """One e-mail to send (invitation or reminder); holds an address but never a token."""

    __tablename__ = "mail_jobs"
    __table_args__ = (
        UniqueConstraint("round_id", "kind", "email", name="uq_mail_jobs_round_kind_email"),
        Index("ix_mail_jobs_status_round", "status", "round_id"),
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'cancelled')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # "invitation" or "reminder-<n>"
    email: Mapped[str] = mapped_column(String(254))
    # Copied from the audience: the e-mail's language, deleted with the address.
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    status: Mapped[str] = mapped_column(String(16), default=MailStatus.PENDING.value)
    # When a sender claimed it: a claim left behind by a crashed sender is retried later.
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class TokenHash(Base):
    """A keyed hash of one invitation token; nothing says which address got it."""

    __tablename__ = "token_hashes"
    __table_args__ = (
        Index("ix_token_hashes_round_id", "round_id"),
        {"sqlite_with_rowid": False},
    )

    # The hash itself is the key: random, so row order says nothing about issue order.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class Response(Base):
    """One anonymous response, sealed: no token, no address, no time, no plaintext; a random id.

    ``sealed`` holds the answers, groups and comment as one blob only the round's
    private key opens (:mod:`surveys.sealed_answers`; migration 0014 replaced the
    plaintext answer and group tables and the comment column).
    """

    __tablename__ = "responses"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # secrets.token_hex(16)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class PublishedResult(Base):
    """A round's published aggregates (already through disclosure control), as JSON."""

    __tablename__ = "published_results"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    published_on: Mapped[dt.date] = mapped_column(Date)
    min_group_size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)


class PublicationStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PUBLISHED = "published"
    FAILED = "failed"


class PublicationJob(Base):
    """An admin's request to publish a round, run by the scheduler (surveys.publication_jobs).

    Staff actions only: it names the admin who asked and when, like the audit log;
    nothing here is about respondents.
    """

    __tablename__ = "publication_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"),
                                          index=True)
    # The round's id while the job is queued or running, NULL once it has ended: the
    # unique constraint lets only one publication of a round be under way at a time
    # (NULLs never collide), whichever process or double-click asks.
    active_round_id: Mapped[int | None] = mapped_column(Integer, unique=True, default=None)
    status: Mapped[str] = mapped_column(String(16))
    # What it is doing now (surveys.publication_jobs.describe_step reads it out).
    step: Mapped[str] = mapped_column(String(64), default="")
    requested_by: Mapped[str] = mapped_column(String(254))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # Renewed while the job runs; a running job whose heartbeat stopped has died.
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                             default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                            default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
