"""professional groups: the reporter's optional choice, for the guardian's quarterly return

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# The National Guardian's Office's professional groups; admins edit the list afterwards.
DEFAULT_GROUPS = (
    "Registered nurses and midwives",
    "Medical and dental",
    "Allied health professionals",
    "Additional clinical services (for example healthcare assistants)",
    "Administrative and clerical",
    "Estates and ancillary",
    "Healthcare scientists",
    "Additional professional scientific and technical",
    "Students",
    "Not known / prefer not to say",
)
FK_NAME = "fk_concerns_professional_group_id_concern_professional_groups"


def upgrade() -> None:
    groups = op.create_table(
        "concern_professional_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concern_professional_groups")),
        sa.UniqueConstraint("label", name=op.f("uq_concern_professional_groups_label")),
    )
    op.bulk_insert(groups, [
        # No explicit ids: PostgreSQL's sequence must hand out the next ones.
        {"label": label, "position": i, "active": True}
        for i, label in enumerate(DEFAULT_GROUPS, start=1)
    ])  # fmt: skip
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column-level REFERENCES in place; a batch copy would lose the
        # table's WITHOUT ROWID layout, and Alembic cannot ALTER a constraint there.
        op.execute(f"ALTER TABLE concerns ADD COLUMN professional_group_id INTEGER "
                   f"CONSTRAINT {FK_NAME} REFERENCES concern_professional_groups (id)")
    else:
        op.add_column("concerns", sa.Column("professional_group_id", sa.Integer(),
                                            nullable=True))
        op.create_foreign_key(FK_NAME, "concerns", "concern_professional_groups",
                              ["professional_group_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FK_NAME, "concerns", type_="foreignkey")
    # Not batch mode: SQLite (3.35+) drops a column in place (its REFERENCES with it).
    op.drop_column("concerns", "professional_group_id")
    op.drop_table("concern_professional_groups")
