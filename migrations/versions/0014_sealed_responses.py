"""sealed responses: one blob per response under a per-round key kept outside the database

Replaces the plaintext raw tables (``response_answers``, ``response_groups`` and
``responses.comment``) with ``responses.sealed`` and adds ``rounds.public_key``
(README "Raw answers are crypto-shredded").

Upgrade: every round that is open, closed, or published with its raw rows kept
(``raw_retention_days``) gets a key pair now — its private key written to the round
key folder of the environment running the upgrade (``SPEAKUP_ROUND_KEYS_PATH``, or
``<SPEAKUP_INSTANCE_PATH>/round-keys``): run it on the publishing host — and its
responses are sealed to it. The plaintext rows are read into memory, the old tables
dropped and the new one created (PostgreSQL would not let two tables share the
``pk_responses`` name, and SQLite keeps the table ``WITHOUT ROWID``).

Downgrade: opens each round's sealed responses with its key file and writes them back
as plaintext; a round whose key is not in the folder stops the downgrade with an
error naming the file (its answers cannot be recovered, by design).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from speakup.settings import Settings
from surveys.round_keys import RoundKeyFolder
from surveys.sealed_answers import Sealer, open_blob

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_NEEDS_KEY = sa.text(
    "SELECT id FROM rounds WHERE status IN ('open', 'closed') "
    "OR (status = 'published' AND raw_deleted = :no "
    "AND EXISTS (SELECT 1 FROM responses WHERE responses.round_id = rounds.id)) ORDER BY id"
)


def _keys() -> RoundKeyFolder:
    return RoundKeyFolder.of(Settings.from_env())


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _create_sealed_table() -> None:
    op.create_table(
        "responses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"],
                                name=op.f("fk_responses_round_id_rounds"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
        sqlite_with_rowid=False,
    )


def _create_plaintext_tables() -> None:
    op.create_table(
        "responses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"],
                                name=op.f("fk_responses_round_id_rounds"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "response_answers",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"],
                                name=op.f("fk_response_answers_round_id_rounds"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("response_id", "item_id", name=op.f("pk_response_answers")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_response_answers_round_item", "response_answers",
                    ["round_id", "item_id"], unique=False)
    op.create_table(
        "response_groups",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("option", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"],
                                name=op.f("fk_response_groups_round_id_rounds"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("response_id", "dimension", name=op.f("pk_response_groups")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_response_groups_round_dimension", "response_groups",
                    ["round_id", "dimension"], unique=False)


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("rounds", sa.Column("public_key", sa.LargeBinary(length=32), nullable=True))
    keys = _keys()
    sealed_rows: list[dict[str, object]] = []
    for (round_id,) in conn.execute(_NEEDS_KEY, {"no": False}).all():
        new_key = keys.create(round_id)
        conn.execute(sa.text("UPDATE rounds SET public_key = :k WHERE id = :r"),
                     {"k": new_key.public_key, "r": round_id})
        sealer = Sealer(round_id, new_key.public_key)
        answers: dict[str, dict[str, int]] = defaultdict(dict)
        groups: dict[str, dict[str, str]] = defaultdict(dict)
        for rid, item_id, value in conn.execute(sa.text(
                "SELECT response_id, item_id, value FROM response_answers WHERE round_id = :r"),
                {"r": round_id}):
            answers[rid][item_id] = int(value)
        for rid, dimension, option in conn.execute(sa.text(
                "SELECT response_id, dimension, option FROM response_groups WHERE round_id = :r"),
                {"r": round_id}):
            groups[rid][dimension] = option
        for rid, comment in conn.execute(sa.text(
                "SELECT id, comment FROM responses WHERE round_id = :r"), {"r": round_id}):
            sealed_rows.append({"id": rid, "round_id": round_id, "sealed": sealer.seal(
                answers.pop(rid, {}), groups.pop(rid, {}), comment)})
    op.drop_index("ix_response_answers_round_item", table_name="response_answers")
    op.drop_table("response_answers")
    op.drop_index("ix_response_groups_round_dimension", table_name="response_groups")
    op.drop_table("response_groups")
    op.drop_table("responses")
    _create_sealed_table()
    if sealed_rows:
        conn.execute(sa.text(
            "INSERT INTO responses (id, round_id, sealed) VALUES (:id, :round_id, :sealed)"),
            sealed_rows)


def downgrade() -> None:
    conn = op.get_bind()
    keys = _keys()
    plain: list[tuple[str, int, dict[str, int], dict[str, str], str | None]] = []
    by_round: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
    for rid, round_id, sealed in conn.execute(
            sa.text("SELECT id, round_id, sealed FROM responses")):
        by_round[round_id].append((rid, bytes(sealed)))
    for round_id, blobs in by_round.items():
        public_key = conn.execute(sa.text("SELECT public_key FROM rounds WHERE id = :r"),
                                  {"r": round_id}).scalar()
        private = keys.load(round_id, bytes(public_key) if public_key is not None else None)
        for rid, blob in blobs:
            opened = open_blob(round_id, private, blob)
            plain.append((rid, round_id, opened.answers, opened.groups, opened.comment))
    op.drop_table("responses")
    _create_plaintext_tables()
    if plain:
        conn.execute(sa.text("INSERT INTO responses (id, round_id, comment) "
                             "VALUES (:id, :round_id, :comment)"),
                     [{"id": r, "round_id": n, "comment": c} for r, n, _a, _g, c in plain])
        answers = [{"r": r, "i": i, "n": n, "v": v}
                   for r, n, a, _g, _c in plain for i, v in a.items()]
        groups = [{"r": r, "d": d, "n": n, "o": o}
                  for r, n, _a, g, _c in plain for d, o in g.items()]
        if answers:
            conn.execute(sa.text("INSERT INTO response_answers (response_id, item_id, round_id, "
                                 "value) VALUES (:r, :i, :n, :v)"), answers)
        if groups:
            conn.execute(sa.text("INSERT INTO response_groups (response_id, dimension, round_id, "
                                 "option) VALUES (:r, :d, :n, :o)"), groups)
    # Plain ALTER TABLE on both engines (SQLite >= 3.35): batch mode would rebuild
    # `rounds`, and dropping it would cascade to every table that refers to it.
    op.execute("ALTER TABLE rounds DROP COLUMN public_key")
