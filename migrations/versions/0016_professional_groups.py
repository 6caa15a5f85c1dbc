"""professional groups: the reporter's optional choice, kept as unlinked marks, for the return

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# The National Guardian's Office's professional groups; admins edit the list afterwards.
DEFAULT_GROUPS = (
    "Registered nurses and midwives",
    "Medical and dental",
    "Allied health professionals",
    "Additional clinical services (for example healthcare assistants)",
    "Administrative and clerical",
    "Estates and ancillary",
    "Healthcare scientists",
    "Additional professional scientific and technical",
    "Students",
    "Not known / prefer not to say",
)


def upgrade() -> None:
    groups = op.create_table(
        "concern_professional_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_professional_groups")),
        sa.UniqueConstraint("label", name=op.f("uq_concern_professional_groups_label")),
    )
    op.bulk_insert(groups, [
        # No explicit ids: PostgreSQL's sequence must hand out the next ones.
        {"label": label, "position": i, "active": True}
        for i, label in enumerate(DEFAULT_GROUPS, start=1)
    ])  # fmt: skip
    # The answers: one unlinked row each (no concern id, no date); only the concern's
    # encrypted first message names its row (concerns/group_marks.py).
    op.create_table(
        "concern_group_marks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["concern_professional_groups.id"],
                                name=op.f("fk_concern_group_marks_group_id_"
                                          "concern_professional_groups")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_group_marks")),
        # SQLite: stored in the order of the random id, never in the order of arrival.
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_concern_group_marks_quarter"), "concern_group_marks",
                    ["quarter"])


def downgrade() -> None:
    op.drop_index(op.f("ix_concern_group_marks_quarter"), table_name="concern_group_marks")
    op.drop_table("concern_group_marks")
    op.drop_table("concern_professional_groups")
