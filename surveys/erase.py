"""Delete a round's raw rows in bounded memory, and have the deletion erased on disk.

Raw responses (rule 4 of DESIGN.md) and token hashes are deleted at publication
(:mod:`surveys.publish`) or when their retention ends. Every deletion asks
:func:`speakup.db.request_erasure` for the engine's erasure once the caller's
transaction commits ("deleting means erasing"), so no copy of the database files
taken afterwards still holds them.
"""

from __future__ import annotations

from sqlalchemy import delete, literal_column, select, tuple_
from sqlalchemy.orm import Session

from speakup.db import is_sqlite, request_erasure
from surveys.models import Response, TokenHash

__all__ = ["RAW_TABLES", "delete_raw_responses", "delete_round_rows"]

RawTable = type[Response | TokenHash]
# Answers, groups and comments are inside each sealed response (migration 0014).
RAW_TABLES: tuple[RawTable, ...] = (Response,)
_SQLITE_DELETE_BATCH = 50_000


def delete_raw_responses(session: Session, round_id: int) -> None:
    """Delete a round's sealed responses (its key file is destroyed by the caller's commit)."""
    for table in RAW_TABLES:
        delete_round_rows(session, table, round_id)


def delete_round_rows(session: Session, table: RawTable, round_id: int) -> None:
    """Delete every row of one round from one table, in bounded memory; erase after commit."""
    request_erasure(session, table.__tablename__)
    in_round = table.round_id == round_id
    if not is_sqlite(session.get_bind().engine) or not _more_than_a_batch(session, table, round_id):
        session.execute(delete(table).where(in_round).execution_options(synchronize_session=False))
        return
    # SQLite first collects in memory the keys a DELETE … WHERE removes, so a big round
    # is deleted in batches. The raw tables are WITHOUT ROWID (no arrival order), so the
    # batches are key ranges: walk the table in primary-key order, a batch of rows at a
    # time (pages in order, each written once), deleting the round's rows in each
    # range. The unary plus keeps SQLite on the key range instead of the round_id
    # index, which would look up every deleted row again through the index.
    columns = list(table.__table__.primary_key.columns)
    key = tuple_(*columns)
    unindexed_round = literal_column(f"+{table.__tablename__}.round_id")
    low: tuple[object, ...] | None = None
    while True:
        bound = select(*columns).order_by(*columns).offset(_SQLITE_DELETE_BATCH - 1).limit(1)
        batch = delete(table).where(unindexed_round == round_id)
        if low is not None:
            bound = bound.where(key > tuple_(*low))
            batch = batch.where(key > tuple_(*low))
        high = session.execute(bound).first()
        if high is not None:
            batch = batch.where(key <= tuple_(*high))
        session.execute(batch.execution_options(synchronize_session=False))
        if high is None:
            return
        low = tuple(high)


def _more_than_a_batch(session: Session, table: RawTable, round_id: int) -> bool:
    beyond = (
        select(literal_column("1"))
        .select_from(table)
        .where(table.round_id == round_id)
        .offset(_SQLITE_DELETE_BATCH)
        .limit(1)
    )
    return session.execute(beyond).first() is not None
