"""review: goals linked to published measures, and the actions log (issue 10)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

METRICS = ("favourable", "gap", "acknowledged_within_7_days", "feedback_within_3_months",
           "would_speak_up_again")


def upgrade() -> None:
    op.create_table(
        "review_goals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("row_id", sa.String(length=64), nullable=True),
        sa.Column("dimension_id", sa.String(length=64), nullable=True),
        sa.Column("first_group", sa.String(length=64), nullable=True),
        sa.Column("second_group", sa.String(length=64), nullable=True),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("updated_on", sa.Date(), nullable=False),
        sa.CheckConstraint(f"metric IN {METRICS!r}", name=op.f("ck_review_goals_metric")),
        sa.CheckConstraint("direction IN ('at_least', 'at_most')",
                           name=op.f("ck_review_goals_direction")),
        sa.CheckConstraint("target >= 0 AND target <= 100", name=op.f("ck_review_goals_target")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_goals")),
    )
    op.create_table(
        "review_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("updated_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_actions")),
    )
    op.create_table(
        "review_action_goals",
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["action_id"], ["review_actions.id"], ondelete="CASCADE",
                                name=op.f("fk_review_action_goals_action_id_review_actions")),
        sa.ForeignKeyConstraint(["goal_id"], ["review_goals.id"], ondelete="CASCADE",
                                name=op.f("fk_review_action_goals_goal_id_review_goals")),
        sa.PrimaryKeyConstraint("action_id", "goal_id", name=op.f("pk_review_action_goals")),
    )


def downgrade() -> None:
    op.drop_table("review_action_goals")
    op.drop_table("review_actions")
    op.drop_table("review_goals")
