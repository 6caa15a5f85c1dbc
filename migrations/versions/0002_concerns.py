"""concerns: categories, concerns, messages, key wraps, handler keys, recovery key, rate limits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The categories a new installation starts with; admins edit the list afterwards.
DEFAULT_CATEGORIES = (
    "Racism or discrimination",
    "Bullying or harassment",
    "Patient or service-user safety",
    "Other",
)


def upgrade() -> None:
    categories = op.create_table(
        "concern_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_categories")),
        sa.UniqueConstraint("label", name=op.f("uq_concern_categories_label")),
    )
    op.bulk_insert(
        categories,
        [
            # No explicit ids: PostgreSQL's sequence must hand out the next ones.
            {"label": label, "position": i, "active": True}
            for i, label in enumerate(DEFAULT_CATEGORIES, start=1)
        ],
    )
    op.create_table(
        "concern_recovery_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_recovery_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_concern_recovery_keys_public_key")),
    )
    op.create_table(
        "rate_limit_windows",
        sa.Column("bucket", sa.String(length=80), nullable=False),
        sa.Column("window", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window", name=op.f("pk_rate_limit_windows")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "concerns",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("receipt_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("reporter_public_key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("acknowledge_by", sa.Date(), nullable=False),
        sa.Column("feedback_by", sa.Date(), nullable=False),
        sa.Column("acknowledged_on", sa.Date(), nullable=True),
        sa.Column("first_replied_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("purged_on", sa.Date(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(status = 'closed') = (outcome IS NOT NULL)",
            name=op.f("ck_concerns_closed_has_outcome"),
        ),
        sa.CheckConstraint(
            "status IN ('new', 'acknowledged', 'in_progress', 'closed')",
            name=op.f("ck_concerns_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["category_id"], ["concern_categories.id"],
            name=op.f("fk_concerns_category_id_concern_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concerns")),
        sa.UniqueConstraint("receipt_hash", name=op.f("uq_concerns_receipt_hash")),
        # SQLite keeps rows in random-id order: the layout says nothing of arrival order.
        sqlite_with_rowid=False,
    )
    op.create_table(
        "handler_key_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_handler_key_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handler_key_sessions")),
    )
    op.create_index(
        op.f("ix_handler_key_sessions_expires_at"), "handler_key_sessions", ["expires_at"]
    )
    op.create_index(op.f("ix_handler_key_sessions_user_id"), "handler_key_sessions", ["user_id"])
    op.create_table(
        "handler_keys",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("locked_private_key", sa.LargeBinary(length=128), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_handler_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_handler_keys")),
    )
    op.create_table(
        "concern_messages",
        sa.Column("concern_id", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('report', 'reporter_reply', 'handler_reply', 'note')",
            name=op.f("ck_concern_messages_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_concern_messages_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["concern_id"], ["concerns.id"], name=op.f("fk_concern_messages_concern_id_concerns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("concern_id", "seq", name=op.f("pk_concern_messages")),
    )
    op.create_table(
        "concern_key_wraps",
        sa.Column("concern_id", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("reader_kind", sa.String(length=8), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("wrap", sa.LargeBinary(length=128), nullable=False),
        sa.CheckConstraint(
            "reader_kind IN ('reporter', 'handler', 'recovery')",
            name=op.f("ck_concern_key_wraps_reader_known"),
        ),
        sa.ForeignKeyConstraint(
            ["concern_id", "seq"], ["concern_messages.concern_id", "concern_messages.seq"],
            name="fk_concern_key_wraps_message", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "concern_id", "seq", "reader_kind", "reader_id", name=op.f("pk_concern_key_wraps")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_concern_key_wraps_reader", "concern_key_wraps", ["reader_kind", "reader_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_concern_key_wraps_reader", table_name="concern_key_wraps")
    op.drop_table("concern_key_wraps")
    op.drop_table("concern_messages")
    op.drop_table("handler_keys")
    op.drop_index(op.f("ix_handler_key_sessions_user_id"), table_name="handler_key_sessions")
    op.drop_index(op.f("ix_handler_key_sessions_expires_at"), table_name="handler_key_sessions")
    op.drop_table("handler_key_sessions")
    op.drop_table("concerns")
    op.drop_table("rate_limit_windows")
    op.drop_table("concern_recovery_keys")
    op.drop_table("concern_categories")
