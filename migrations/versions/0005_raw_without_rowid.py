"""raw response tables WITHOUT ROWID on SQLite: no arrival order

SQLite numbers a table's rows in the order they arrive (the hidden rowid) and stores
them in that order, so a copy of the database taken while a round is open lists its
responses, answers, groups and used token hashes in answering order. As ``WITHOUT
ROWID`` tables they are stored in the order of their random keys instead. SQLite
cannot change this in place: each table is rebuilt (rows copied in, old table
dropped; ``secure_delete`` zeroes the old pages). PostgreSQL has no rowid: nothing
to do there (its heap order is a stated limit, see the README).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

RAW_TABLES = ('responses', 'token_hashes', 'response_answers', 'response_groups')


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in RAW_TABLES:
        # recreate='always': batch mode copies the table into a new one created with
        # these keyword arguments, then drops the old one and renames the new.
        with op.batch_alter_table(
            table, recreate='always', table_kwargs={'sqlite_with_rowid': with_rowid}
        ):
            pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
