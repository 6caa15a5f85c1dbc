"""concern handling v2: handlers' preferences (daily summary, display name), exclusions, reopening,
attachments

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('concerns', sa.Column('reopened_on', sa.Date(), nullable=True))
    op.create_table('handler_profiles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=80), nullable=True),
    sa.Column('digest_enabled', sa.Boolean(), nullable=False),
    sa.Column('last_digest_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_handler_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_handler_profiles'))
    )
    op.create_table('concern_exclusions',
    sa.Column('concern_id', sa.String(length=16), nullable=False),
    sa.Column('marker', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['concern_id'], ['concerns.id'],
                            name=op.f('fk_concern_exclusions_concern_id_concerns'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('concern_id', 'marker', name=op.f('pk_concern_exclusions')),
    sqlite_with_rowid=False
    )
    op.create_table('concern_attachment_chunks',
    sa.Column('concern_id', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('chunk', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['concern_id', 'seq'],
                            ['concern_messages.concern_id', 'concern_messages.seq'],
                            name='fk_concern_attachment_chunks_message', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('concern_id', 'seq', 'number', 'chunk',
                            name=op.f('pk_concern_attachment_chunks')),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    op.drop_table('concern_attachment_chunks')
    op.drop_table('concern_exclusions')
    op.drop_table('handler_profiles')
    # Not batch mode: SQLite (3.35+) drops a column in place, and a batch copy would
    # lose the table's WITHOUT ROWID layout.
    op.drop_column('concerns', 'reopened_on')
