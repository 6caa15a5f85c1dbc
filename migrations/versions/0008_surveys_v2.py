"""surveys v2: a survey's sector (items tagged for a sector are offered only there)

Surveys made before sector tags asked every item, including the healthcare-only
"unsafe clinical practice" one: those that ask it are marked healthcare, so
nothing they ask changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('surveys') as batch:
        batch.add_column(sa.Column('sector', sa.String(length=32), server_default='general',
                                   nullable=False))
    op.execute(sa.text(
        "UPDATE surveys SET sector = 'healthcare' "
        "WHERE CAST(item_ids AS TEXT) LIKE '%\"speak\\_1\"%' ESCAPE '\\'"
    ))


def downgrade() -> None:
    with op.batch_alter_table('surveys') as batch:
        batch.drop_column('sector')
