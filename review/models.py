"""The advisory group's own records: goals linked to published measures, and actions taken.

Nothing here is about a person who raised a concern or answered a survey: a goal
names a published measure (a survey row or a concern-statistics figure) and a
target; an action is what the organisation did, on a date. Both are kept, never
deleted: a goal that is no longer pursued is archived.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from speakup.db import Base

# Which published figure a goal follows.
FAVOURABLE = "favourable"  # a scale's or question's favourable % (or "yes" % for yes/no)
GAP = "gap"  # the size of the gap between two groups of a breakdown, in points
ACKNOWLEDGED = "acknowledged_within_7_days"  # concern statistics, per quarter
FEEDBACK = "feedback_within_3_months"
SPEAK_UP_AGAIN = "would_speak_up_again"
SURVEY_METRICS = (FAVOURABLE, GAP)
QUARTER_METRICS = (ACKNOWLEDGED, FEEDBACK, SPEAK_UP_AGAIN)
METRICS = SURVEY_METRICS + QUARTER_METRICS

AT_LEAST, AT_MOST = "at_least", "at_most"
DIRECTIONS = (AT_LEAST, AT_MOST)

action_goals = Table(
    "review_action_goals",
    Base.metadata,
    Column("action_id", ForeignKey("review_actions.id", ondelete="CASCADE"), primary_key=True),
    Column("goal_id", ForeignKey("review_goals.id", ondelete="CASCADE"), primary_key=True),
)


class Goal(Base):
    """A target for one published measure, due by a date (a round or a quarter)."""

    __tablename__ = "review_goals"
    __table_args__ = (
        CheckConstraint(f"metric IN {METRICS!r}", name="metric"),
        CheckConstraint(f"direction IN {DIRECTIONS!r}", name="direction"),
        CheckConstraint("target >= 0 AND target <= 100", name="target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(32))
    # Survey measures only. No foreign key: the review reads published rounds, never the
    # survey tables, and a goal must outlive any change there.
    survey_id: Mapped[int | None] = mapped_column(Integer)
    row_id: Mapped[str | None] = mapped_column(String(64))  # a scale or question id
    dimension_id: Mapped[str | None] = mapped_column(String(64))  # gap goals only
    first_group: Mapped[str | None] = mapped_column(String(64))
    second_group: Mapped[str | None] = mapped_column(String(64))
    # Whole percent (or whole percentage points for a gap), as the pages show figures.
    target: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    # The latest round opened (or quarter ending) by this date is the one that counts.
    due_on: Mapped[dt.date] = mapped_column(Date)
    owner: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(String(2000), default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_on: Mapped[dt.date] = mapped_column(Date)
    updated_on: Mapped[dt.date] = mapped_column(Date)

    actions: Mapped[list[Action]] = relationship(
        secondary=action_goals, back_populates="goals", order_by="Action.taken_on"
    )


class Action(Base):
    """Something the organisation did ("you said, we did"), dated, linked to goals."""

    __tablename__ = "review_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taken_on: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(4000), default="")
    created_on: Mapped[dt.date] = mapped_column(Date)
    updated_on: Mapped[dt.date] = mapped_column(Date)

    goals: Mapped[list[Goal]] = relationship(
        secondary=action_goals, back_populates="actions", order_by="Goal.id"
    )


class PeerOrganisation(Base):
    """Another organisation whose signed progress reports an admin imported.

    The key that signed its first imported report is pinned: every later report must
    carry that key in its chain of keys (a rotation is fine; a stranger's key is not).
    """

    __tablename__ = "review_peer_organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    pinned_fingerprint: Mapped[str] = mapped_column(String(64))
    first_imported_on: Mapped[dt.date] = mapped_column(Date)


class PeerReport(Base):
    """One imported signed progress report, kept as the file was, so it can be checked again."""

    __tablename__ = "review_peer_reports"
    __table_args__ = (UniqueConstraint("organisation_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("review_peer_organisations.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # its entry in the peer's publication log
    published_on: Mapped[dt.date] = mapped_column(Date)
    document: Mapped[str] = mapped_column(Text)
    imported_on: Mapped[dt.date] = mapped_column(Date)
