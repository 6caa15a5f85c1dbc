"""audience language: each audience member's and mail job's e-mail language (en, cy, …)

NULL means the organisation's first language (SPEAKUP_LANGUAGES), decided when the
e-mail is sent. Responses get no language: they stay as unlinkable as before.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("audience_members", "mail_jobs"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    for table in ("mail_jobs", "audience_members"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("language")
