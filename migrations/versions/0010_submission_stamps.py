"""waiting stamps: marks of spent stamps, so one is used once (issue 13, finding 3)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "used_submission_stamps",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("window", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("nonce_hash", name=op.f("pk_used_submission_stamps")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("used_submission_stamps")
