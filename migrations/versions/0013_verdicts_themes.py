"""reporters' verdict (unlinked answers, the link sealed to the reporter) and FTSU themes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The themes of the National Guardian's Office quarterly data return; admins edit the
# list afterwards (every concern here is also "raised anonymously", which needs no tag).
DEFAULT_THEMES = (
    "Element of patient safety or quality",
    "Worker safety or wellbeing",
    "Bullying or harassment",
    "Inappropriate attitudes or behaviours",
    "Detriment indicated",
)


def upgrade() -> None:
    op.add_column("concerns", sa.Column("sealed_verdicts", sa.LargeBinary(), nullable=True))
    op.create_table(
        "concern_verdicts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("speak_again", sa.String(length=16), nullable=True),
        sa.Column("felt_safe", sa.Integer(), nullable=True),
        sa.Column("kept_informed", sa.Integer(), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.CheckConstraint("stage IN ('after_reply', 'at_closing')",
                           name=op.f("ck_concern_verdicts_stage_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_verdicts")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_concern_verdicts_quarter"), "concern_verdicts", ["quarter"])
    themes = op.create_table(
        "concern_themes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_themes")),
        sa.UniqueConstraint("label", name=op.f("uq_concern_themes_label")),
    )
    op.bulk_insert(themes, [
        # No explicit ids: PostgreSQL's sequence must hand out the next ones.
        {"label": label, "position": i, "active": True}
        for i, label in enumerate(DEFAULT_THEMES, start=1)
    ])  # fmt: skip
    op.create_table(
        "concern_theme_tags",
        sa.Column("concern_id", sa.String(length=16), nullable=False),
        sa.Column("theme_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["concern_id"], ["concerns.id"],
                                name=op.f("fk_concern_theme_tags_concern_id_concerns"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["theme_id"], ["concern_themes.id"],
                                name=op.f("fk_concern_theme_tags_theme_id_concern_themes")),
        sa.PrimaryKeyConstraint("concern_id", "theme_id", name=op.f("pk_concern_theme_tags")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("concern_theme_tags")
    op.drop_table("concern_themes")
    op.drop_index(op.f("ix_concern_verdicts_quarter"), table_name="concern_verdicts")
    op.drop_table("concern_verdicts")
    # Not batch mode: SQLite (3.35+) drops a column in place, and a batch copy would
    # lose the table's WITHOUT ROWID layout.
    op.drop_column("concerns", "sealed_verdicts")
