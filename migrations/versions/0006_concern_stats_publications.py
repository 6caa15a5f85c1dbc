"""concern statistics: frozen quarterly publications

Concern statistics stop being live queries: each quarter is computed once, after
it ends plus a grace period, audited and stored here, and the review reads only
these rows (DESIGN.md, "Concern lifecycle").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('concern_stats_publications',
    sa.Column('quarter', sa.String(length=7), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.Column('min_group_size', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('quarter', name=op.f('pk_concern_stats_publications'))
    )


def downgrade() -> None:
    op.drop_table('concern_stats_publications')
