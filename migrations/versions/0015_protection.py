"""per-survey disclosure protection, frozen on each round when it opens

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing surveys keep what they had: suppression only.
    op.add_column("surveys", sa.Column("protection", sa.String(length=16),
                                       server_default="suppress", nullable=False))
    # NULL on rounds opened before this revision: they were published with suppression.
    op.add_column("rounds", sa.Column("protection", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # Not batch mode: SQLite (3.35+) drops a column in place.
    op.drop_column("rounds", "protection")
    op.drop_column("surveys", "protection")
