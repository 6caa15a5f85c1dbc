"""signed publications: signing keys, an append-only publication log, imported peer reports

Both tables refuse UPDATE and DELETE through triggers, so nothing published is ever
rewritten, whatever the code does (corrections are new entries).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = ("signing_keys", "publication_log")


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("sealed_private", sa.Text(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_signing_keys_fingerprint")),
    )
    op.create_table(
        "publication_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("header", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_publication_log")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_publication_log_entry_hash")),
    )
    op.create_index(op.f("ix_publication_log_kind"), "publication_log", ["kind"])
    op.create_table(
        "review_peer_organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("pinned_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("first_imported_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_peer_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_review_peer_organisations_name")),
    )
    op.create_table(
        "review_peer_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("imported_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["review_peer_organisations.id"],
                                name=op.f("fk_review_peer_reports_organisation_id_"
                                          "review_peer_organisations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_peer_reports")),
        sa.UniqueConstraint("organisation_id", "seq",
                            name=op.f("uq_review_peer_reports_organisation_id")),
    )
    op.create_index(op.f("ix_review_peer_reports_organisation_id"), "review_peer_reports",
                    ["organisation_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION speakup_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only: published entries are never changed', "
            "TG_TABLE_NAME; END; $$ LANGUAGE plpgsql"
        )
        for table in TABLES:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION speakup_append_only()")
    else:
        for table in TABLES:
            for verb in ("update", "delete"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: published entries "
                    "are never changed'); END"
                )


def downgrade() -> None:
    op.drop_index(op.f("ix_review_peer_reports_organisation_id"),
                  table_name="review_peer_reports")
    op.drop_table("review_peer_reports")
    op.drop_table("review_peer_organisations")
    # Dropping a table drops its triggers on both engines.
    op.drop_index(op.f("ix_publication_log_kind"), table_name="publication_log")
    op.drop_table("publication_log")
    op.drop_table("signing_keys")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION speakup_append_only()")
