"""security hardening: server-side staff sessions, a lock strangers cannot trigger

Staff sessions become rows checked on every request and deleted at sign-out (a
copied cookie dies with them); failures by someone who already proved a factor
are counted apart from password failures anyone can cause; audit entries say
whether their hash is an HMAC under the derived audit key; TOTP secrets move
to a sealed column (issue 13).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_staff_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_staff_sessions'))
    )
    op.create_index(op.f('ix_staff_sessions_user_id'), 'staff_sessions', ['user_id'],
                    unique=False)
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('factor_failures', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('factor_locked_until', sa.DateTime(timezone=True),
                                   nullable=True))
        # Plain secrets stay readable until `speakup db upgrade` seals them (it has the
        # key; a migration has not).
        batch.alter_column('totp_secret', new_column_name='totp_sealed',
                           existing_type=sa.String(length=64), type_=sa.String(length=255),
                           existing_nullable=True)
    # Existing entries stay plain SHA-256 (the migration has no key); new ones are HMACs.
    with op.batch_alter_table('audit_entries') as batch:
        batch.add_column(sa.Column('keyed', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('audit_entries') as batch:
        batch.drop_column('keyed')
    # Sealed secrets cannot be unsealed here (no key): they are dropped, and those
    # accounts need a new second factor after a downgrade.
    op.execute("UPDATE users SET totp_sealed = NULL WHERE totp_sealed LIKE 'v1:%'")
    with op.batch_alter_table('users') as batch:
        batch.alter_column('totp_sealed', new_column_name='totp_secret',
                           existing_type=sa.String(length=255), type_=sa.String(length=64),
                           existing_nullable=True)
        batch.drop_column('factor_locked_until')
        batch.drop_column('factor_failures')
    op.drop_index(op.f('ix_staff_sessions_user_id'), table_name='staff_sessions')
    op.drop_table('staff_sessions')
