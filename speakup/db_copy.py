"""Copy an installation's database to an empty PostgreSQL database (`speakup db copy`).

The tables are whatever the schema at the Alembic head holds: both sides are reflected,
never listed here, so a table added by a later migration is copied too. The target is
given its schema by the migrations themselves, inside the one transaction that also
copies every row, resets the sequences and checks the result; a failure anywhere rolls
all of it back, schema included, and the target is left as empty as it was.

Nothing is written anywhere but the target: rows stream from the source in batches
through memory (no temporary file, no log line carrying a value), and nothing is added
to the copy (no audit entry: the chain must verify exactly as it did on the source).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Column,
    MetaData,
    Table,
    Text,
    cast,
    delete,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import DateTime

from speakup import audit
from speakup.db import make_engine, read_only_bind
from speakup.migrate import alembic_config

# Rows held in memory at once, per table: bounded whatever the size of the installation.
BATCH_ROWS = 2000
VERSION_TABLE = "alembic_version"


class CopyError(RuntimeError):
    """The copy was refused or failed; nothing was written. The message says why."""


@dataclass
class CopyReport:
    revision: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied (= on both)
    sequences: int = 0
    audit_entries: int = 0
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def lines(self) -> list[str]:
        """The short report `speakup db copy` prints (counts only, never a value)."""
        rate = self.total_rows / self.seconds if self.seconds else 0.0
        return [
            f"Copied {self.total_rows} rows in {len(self.rows)} tables "
            f"(schema revision {self.revision}) in {self.seconds:.1f} s ({rate:.0f} rows/s).",
            "Row counts are equal on both sides for every table.",
            f"Reset {self.sequences} sequences: new rows get fresh ids.",
            f"Audit log intact on the target: {self.audit_entries} entries verified.",
        ]


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    if len(heads) != 1:
        raise CopyError(f"The migrations have {len(heads)} heads; expected one.")
    return heads[0]


def copy_database(
    source_url: str, target_url: str, audit_keys: dict[str, bytes],
    say: Callable[[str], None] = lambda _line: None, batch_rows: int = BATCH_ROWS,
) -> CopyReport:
    """Copy every row of `source_url` into the empty PostgreSQL database at `target_url`.

    `audit_keys` are the session keys derived from the installation's secret (the audit
    chain is checked with them). `say` hears progress: table names and counts only.
    """
    if make_url(target_url).get_backend_name() != "postgresql":
        raise CopyError("The target must be a PostgreSQL database "
                        "(postgresql+psycopg://user@host/database).")
    if make_url(source_url) == make_url(target_url):
        raise CopyError("The target is the configured database itself.")
    started = time.monotonic()
    head = head_revision()
    source_engine, target_engine = make_engine(source_url), make_engine(target_url)
    try:
        with _connect(source_engine, "source") as source:
            _check_source(source, head)
            with _connect(target_engine, "target") as target:
                report = _copy_in_one_transaction(source, target, target_url, head,
                                                  audit_keys, say, batch_rows)
    finally:
        source_engine.dispose()
        target_engine.dispose()
    report.seconds = time.monotonic() - started
    return report


def _connect(engine: Engine, side: str) -> Connection:
    try:
        if side == "source":
            # A snapshot that only reads: on SQLite no write lock is taken, and one
            # read transaction sees every table as of the same moment.
            return read_only_bind(engine).connect()
        return engine.connect()
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise CopyError(f"Cannot reach the {side} database: {reason}") from exc


def _check_source(source: Connection, head: str) -> None:
    with source.begin():
        revision = MigrationContext.configure(source).get_current_revision()
    if revision != head:
        raise CopyError(
            f"The source database is at schema revision {revision or 'none'}, not at the "
            f"head ({head}): run `speakup db upgrade` on it first, then copy.")


def _copy_in_one_transaction(
    source: Connection, target: Connection, target_url: str, head: str,
    audit_keys: dict[str, bytes], say: Callable[[str], None], batch_rows: int,
) -> CopyReport:
    report = CopyReport(revision=head)
    with target.begin() as transaction:
        _check_target_empty(target)
        # The migrations make the schema (never create_all), on this connection, so
        # they are part of the transaction: PostgreSQL's DDL rolls back with the rows.
        command.upgrade(alembic_config(target_url, connection=target), "head")
        if MigrationContext.configure(target).get_current_revision() != head:
            raise CopyError("Migrating the target did not reach the head revision.")
        with source.begin():
            source_tables = _reflect(source)
            target_tables = _reflect(target)
            if set(source_tables) != set(target_tables):
                missing = sorted(set(source_tables) ^ set(target_tables))
                raise CopyError(f"The two schemas differ (tables {', '.join(missing)}).")
            order = _foreign_key_order(target_tables)
            _clear_seed_rows(target, [target_tables[name] for name in order])
            for name in order:
                copied = _copy_table(source, target, source_tables[name], target_tables[name],
                                     batch_rows)
                report.rows[name] = copied
                say(f"  {name}: {copied} rows")
            report.sequences = _reset_sequences(target, [target_tables[n] for n in order])
            _check_counts(source, target, source_tables, target_tables, report.rows)
        report.audit_entries = _check_audit_chain(target, audit_keys)
        transaction.commit()
    return report


def _check_target_empty(target: Connection) -> None:
    tables = [t for t in inspect(target).get_table_names() if t != VERSION_TABLE]
    revision = MigrationContext.configure(target).get_current_revision()
    if tables or revision is not None:
        raise CopyError(
            f"The target database is not empty: it already has {len(tables)} tables"
            + (f" (schema revision {revision})" if revision else "")
            + ". Give `speakup db copy` a newly created, empty database: it makes the "
            "schema itself, and never writes over data.")


def _reflect(conn: Connection) -> dict[str, Table]:
    metadata = MetaData()
    metadata.reflect(bind=conn)
    return {name: table for name, table in metadata.tables.items() if name != VERSION_TABLE}


def _foreign_key_order(tables: dict[str, Table]) -> list[str]:
    """Parents before children (PostgreSQL checks each foreign key as a row arrives)."""
    metadata = next(iter(tables.values())).metadata if tables else MetaData()
    return [t.name for t in metadata.sorted_tables if t.name in tables]


def _clear_seed_rows(target: Connection, order: list[Table]) -> None:
    """Remove the rows the migrations wrote (default categories, themes, groups).

    The source has its own, perhaps renamed or retired since: they are copied with
    everything else, ids included.
    """
    for table in reversed(order):
        target.execute(delete(table))


def _copy_table(source: Connection, target: Connection, source_table: Table,
                target_table: Table, batch_rows: int) -> int:
    """Stream one table's rows into PostgreSQL's COPY, `batch_rows` in memory at a time.

    COPY fires insert triggers as INSERT does (the append-only tables forbid only
    updates and deletes) and checks every constraint; it is several times faster than
    row-by-row inserts. It runs on the target connection's own transaction.
    """
    names = [c.name for c in target_table.columns]
    reading = [_as_read(source_table.columns[name]) for name in names]
    key = [source_table.columns[c.name] for c in target_table.primary_key.columns] or \
        [source_table.columns[name] for name in names]
    # In key order: rows are read the same way on every run, and the raw responses'
    # random keys, not their arrival, decide where they land in PostgreSQL's heap.
    query = select(*reading).order_by(*key)
    aware = [index for index, c in enumerate(target_table.columns)
             if isinstance(c.type, DateTime) and c.type.timezone]
    columns = ", ".join(_quoted(target, name) for name in names)
    statement = f"COPY {_quoted(target, target_table.name)} ({columns}) FROM STDIN"
    copied = 0
    result = source.execute(query, execution_options={"stream_results": True,
                                                      "yield_per": batch_rows})
    driver = target.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for batch in result.partitions(batch_rows):
                for row in batch:
                    copy.write_row(_row(list(row), aware))
                copied += len(batch)
    except (DBAPIError, psycopg.Error) as exc:
        # The driver's detail can quote a row's values: name the table and the kind of
        # error only (nothing about a reporter reaches a terminal or a log).
        orig = getattr(exc, "orig", None) or exc
        raise CopyError(
            f"Copying {target_table.name} failed ({type(orig).__name__}, SQLSTATE "
            f"{getattr(orig, 'sqlstate', None) or '-'}); nothing was written.") from None
    return copied


def _as_read(column: Column[Any]) -> Any:
    # JSON is copied as the exact text stored (published payloads), not re-serialised.
    if isinstance(column.type, JSON):
        return cast(column, Text).label(column.name)
    return column


def _row(values: list[Any], aware: list[int]) -> list[Any]:
    # SQLite hands back naive datetimes for timezone-aware columns; they were stored in
    # UTC (speakup.clock.as_utc), so say so rather than let PostgreSQL assume its own zone.
    for index in aware:
        value = values[index]
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            values[index] = value.replace(tzinfo=dt.UTC)
    return values


def _reset_sequences(target: Connection, tables: list[Table]) -> int:
    """Move every column's sequence past the largest id copied; return how many."""
    reset = 0
    for table in tables:
        for column in table.columns:
            sequence = target.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                      {"t": _quoted(target, table.name), "c": column.name}
                                      ).scalar()
            if sequence is None:
                continue
            largest = target.execute(select(func.max(column))).scalar()
            # is_called false with 1 on an empty table: the next id is 1, as if new.
            target.execute(text("SELECT setval(:s, :v, :called)"),
                           {"s": sequence, "v": largest or 1, "called": largest is not None})
            reset += 1
    return reset


def _check_counts(source: Connection, target: Connection, source_tables: dict[str, Table],
                  target_tables: dict[str, Table], copied: dict[str, int]) -> None:
    for name, table in source_tables.items():
        on_source = source.execute(select(func.count()).select_from(table)).scalar_one()
        on_target = target.execute(
            select(func.count()).select_from(target_tables[name])).scalar_one()
        if not on_source == on_target == copied.get(name):
            raise CopyError(f"Row counts differ for {name}: {on_source} on the source, "
                            f"{on_target} on the target. Nothing was written.")


def _check_audit_chain(target: Connection, audit_keys: dict[str, bytes]) -> int:
    with Session(bind=target, info=dict(audit_keys)) as session:
        try:
            result = audit.verify(session)
        except audit.AuditKeyError as exc:
            raise CopyError(f"{exc} Nothing was written.") from exc
    if not result.ok:
        where = f"entry {result.first_broken_id}" if result.first_broken_id else "the head"
        raise CopyError(
            f"The audit log does not verify on the target ({where}: {result.reason}); "
            "nothing was written. Check the source with `speakup audit verify`, and that "
            "SPEAKUP_SECRET_KEY is the installation's own.")
    return result.checked


def _quoted(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def iter_table_counts(url: str) -> Iterator[tuple[str, int]]:
    """Every table's row count (for the bench and the tests), in name order."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            for name, table in sorted(_reflect(conn).items()):
                yield name, conn.execute(select(func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


