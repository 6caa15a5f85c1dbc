"""Database plumbing: declarative base, engines, one session per app context."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import QueuePool

log = logging.getLogger("speakup.db")

# Predictable constraint names so Alembic revisions can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take over transaction control from pysqlite so SQLAlchemy's BEGIN below is used.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits; busy_timeout queues writers
    # instead of failing them under concurrent submissions.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten with zeros in their pages (and freed pages zeroed)
    # instead of lingering in free space: "deleting means erasing" (DESIGN.md).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


# Execution option naming a connection whose transactions only read (read_only_bind).
READ_ONLY = "speakup_read_only"
_QUERY_ONLY_SET = "speakup.query_only_set"


def _sqlite_begin(connection: Any) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        # Only reads: no write lock, so a page view never queues behind a submission.
        # query_only turns a write that slipped in into an immediate, certain error
        # (rather than the SQLITE_BUSY a deferred read-then-write meets under load).
        driver = connection.connection.driver_connection
        if not driver.execute("PRAGMA query_only").fetchone()[0]:
            driver.execute("PRAGMA query_only=ON")
            connection.info[_QUERY_ONLY_SET] = True
        connection.exec_driver_sql("BEGIN DEFERRED")
        return
    # A deferred transaction that reads, then writes after another writer committed,
    # fails at once with SQLITE_BUSY (busy_timeout cannot help). Taking the write lock
    # up front makes concurrent writers queue instead of erroring.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


# --- SQLite writers of one process queue on a lock, not in busy_timeout's sleeps ---------
#
# A writer that finds the write lock taken is put to sleep by SQLite's busy handler for
# 1, 2, 5, 10 … up to 100 ms at a time, however soon the lock is free again: under a
# few dozen concurrent submissions most of a request's time went to those sleeps. The
# threads of one process therefore wait on a threading.Lock per database file, which
# wakes the next writer the moment the previous one has committed; busy_timeout stays
# for the other processes (gunicorn's other workers, the scheduler, the CLI).
WRITE_LOCK_WAIT_SECONDS = 10.0  # as busy_timeout; afterwards SQLite's own wait applies
_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def sqlite_write_lock(path: Path) -> threading.Lock:
    key = os.path.realpath(path)
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


class _WriterConnection(sqlite3.Connection):
    """A sqlite3 connection that lets go of its process's write lock once its transaction ends."""

    speakup_write_lock: threading.Lock | None = None

    def _release_write_lock(self) -> None:
        lock, self.speakup_write_lock = self.speakup_write_lock, None
        if lock is not None:
            lock.release()

    # After the COMMIT or ROLLBACK itself (SQLAlchemy's events fire before it), so the
    # next writer never meets the database lock still held.
    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_write_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_write_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_write_lock()


def _take_write_lock(connection: Any, lock: threading.Lock) -> None:
    """Queue behind this process's other writers before BEGIN IMMEDIATE."""
    driver = connection.connection.driver_connection
    if not isinstance(driver, _WriterConnection) or driver.speakup_write_lock is not None:
        return
    # Bounded: a thread that already holds the lock through another connection (which
    # SQLite would refuse after busy_timeout too) must not wait for ever.
    if lock.acquire(timeout=WRITE_LOCK_WAIT_SECONDS):
        driver.speakup_write_lock = lock


def _sqlite_end(connection: Any) -> None:
    # At commit or rollback: query_only must not outlive the read-only transaction, as
    # the pool hands the connection to a writer (or the erasure's raw VACUUM) next.
    # (Only if it was switched on for that transaction: a database made read-only on
    # purpose stays so.)
    if not connection.invalidated and connection.info.pop(_QUERY_ONLY_SET, False):
        connection.connection.driver_connection.execute("PRAGMA query_only=OFF")


class DatabaseUnavailableError(RuntimeError):
    """The database is missing, not writable or not migrated; the message says what to do."""


# What a database that is gone, read-only or unreachable raises: SQLite and psycopg's
# connection and I/O errors, PostgreSQL's read-only transaction (an InternalError).
DATABASE_FAULTS: tuple[type[Exception], ...] = (
    DatabaseUnavailableError, OperationalError, InternalError,
)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None (another engine, or an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_sqlite_file(url: str) -> None:
    """Create an empty, owner-only SQLite file: only `speakup db upgrade` calls this."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas and pool settings Speak Up relies on."""
    path = sqlite_path(url)
    if path is not None:
        # mode=rw: connecting never creates a database. A missing file stays an error
        # instead of a silent new empty database (issue 13, finding 4).
        target = f"file:{quote(str(path))}?mode=rw"
        kwargs.setdefault("creator", lambda: sqlite3.connect(
            target, uri=True, check_same_thread=False, timeout=10,
            factory=_WriterConnection))
        write_lock = sqlite_write_lock(path)
        # A real pool, as for any file database ("sqlite://" alone would mean memory).
        kwargs.setdefault("poolclass", QueuePool)
        engine = create_engine("sqlite://", **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)

        def begin(connection: Any) -> None:
            # An open connection keeps writing into a file deleted under it, and every
            # "stored" report would vanish at the next restart: refuse before the work.
            if not path.exists():
                raise DatabaseUnavailableError(f"The database file {path} has disappeared.")
            if not connection.get_execution_options().get(READ_ONLY):
                _take_write_lock(connection, write_lock)
            try:
                _sqlite_begin(connection)
            except BaseException:
                driver = connection.connection.driver_connection
                if isinstance(driver, _WriterConnection):
                    driver._release_write_lock()
                raise

        event.listen(engine, "begin", begin)
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        return engine
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 10})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(
    engine: Engine, keys: dict[str, bytes] | None = None
) -> sessionmaker[Session]:
    """Return the session factory every caller uses (web, CLI, scheduler).

    Its sessions carry out the erasure that :func:`request_erasure` asks for, once
    their transaction has committed, and carry `keys` in their info: the audit
    chain's (speakup/audit.py) and the TOTP seal's (speakup/totp_seal.py).
    """
    info = dict(keys or {})
    factory = sessionmaker(bind=engine, expire_on_commit=False, info=info)
    event.listen(factory, "after_commit", _erase_after_commit)
    event.listen(factory, "after_transaction_end", _forget_erasure)
    return factory


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# --- transactions that only read ---------------------------------------------------------
#
# SQLite lets one transaction write at a time, and every transaction here begins by
# taking that lock (BEGIN IMMEDIATE, above), so a page that only reads would queue
# behind every submission. A request that only reads (the request scope decides:
# speakup/web.py) binds its session to `read_only_bind(engine)` instead: on SQLite its
# transactions begin DEFERRED and cannot write (query_only), so a write that slipped
# into such a request fails at once, in tests, rather than now and then under load.
# PostgreSQL has no such lock and is left as it is (a database an operator made read-only
# stays so). A transaction of such a request that does write (an audited read, a
# sign-in's last-seen time) begins with `begin_writing(session)`.

_read_only_binds: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()
_WRITING = "speakup.writing_transaction"


def read_only_bind(engine: Engine) -> Engine:
    """Return `engine` with transactions that only read (made once per engine)."""
    bind = _read_only_binds.get(engine)
    if bind is None:
        bind = _read_only_binds[engine] = engine.execution_options(**{READ_ONLY: True})
    return bind


def read_only_session(factory: sessionmaker[Session]) -> Session:
    """Open a session whose transactions only read, unless `begin_writing` says otherwise.

    A factory bound to a connection (the tests', inside one outer transaction) cannot
    choose how that transaction began; on SQLite its sessions still refuse writes.
    """
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):
        if not is_sqlite(bind):
            return factory()  # PostgreSQL: nothing to change
        return factory(bind=read_only_bind(bind), info={READ_ONLY: True})
    session = factory(info={READ_ONLY: True})
    if isinstance(bind, Connection) and is_sqlite(bind.engine):
        event.listen(session, "after_begin", _query_only_on)
        event.listen(session, "after_transaction_end", _query_only_off)
    return session


def begin_writing(session: Session) -> None:
    """Make the session's transaction one that may write (a no-op outside read-only sessions).

    Inside a transaction that only read, that transaction is committed first (it wrote
    nothing; what it loaded stays loaded): a SQLite transaction that has read cannot
    safely start writing (see `_sqlite_begin`).
    """
    if not session.info.get(READ_ONLY):
        return
    if session.in_transaction():
        if session.info.get(_WRITING) is session.get_transaction():
            return
        session.commit()
    bind = session.get_bind()
    if isinstance(bind, Connection):
        connection = session.connection()
        if is_sqlite(bind.engine):
            connection.exec_driver_sql("PRAGMA query_only=OFF")
    else:
        session.connection(execution_options={READ_ONLY: False})
    session.info[_WRITING] = session.get_transaction()


def _query_only_on(session: Session, _transaction: Any, connection: Connection) -> None:
    connection.exec_driver_sql("PRAGMA query_only=ON")


def _query_only_off(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WRITING, None)
        bind = session.get_bind()
        if isinstance(bind, Connection) and not bind.closed:
            bind.exec_driver_sql("PRAGMA query_only=OFF")


# --- deleting means erasing (DESIGN.md) ------------------------------------------------
#
# A deleted row lives on in SQLite's -wal file (every page version written since the
# last checkpoint) and in PostgreSQL's table files (dead tuples, then free space that
# VACUUM does not overwrite) and WAL. Services that delete
# personal data say which tables they touched; once the session's transaction has
# committed, the engine's erasure runs on a connection of its own (it cannot run inside
# that transaction: VACUUM never can, and a checkpoint cannot see past an open writer).

_ERASURE = "speakup.erase_tables"
# Each attempt already waits up to busy_timeout for readers and writers to finish.
CHECKPOINT_ATTEMPTS = 3
CHECKPOINT_PAUSE_SECONDS = 0.2


def request_erasure(session: Session, *table_names: str) -> None:
    """Ask for the tables' deleted rows to be erased once this session's transaction commits.

    Call it beside the DELETE (or UPDATE) that removes personal data. Nothing happens
    if the transaction rolls back, or if the session is not one of
    :func:`make_session_factory`'s (tests that roll everything back).
    """
    session.info.setdefault(_ERASURE, set()).update(table_names)


def erasure_requested(session: Session) -> frozenset[str]:
    """Return the tables whose erasure waits for this session's commit."""
    return frozenset(session.info.get(_ERASURE, ()))


def _erase_after_commit(session: Session) -> None:
    # after_commit also fires when a savepoint is released: wait for the real commit.
    if session.get_nested_transaction() is not None:
        return
    tables = session.info.pop(_ERASURE, None)
    bind = session.get_bind()
    if not tables or isinstance(bind, Connection):
        return
    erase_deleted_rows(bind, sorted(tables))


def _forget_erasure(session: Session, transaction: SessionTransaction) -> None:
    # Still there when the outermost transaction ends: it rolled back, nothing to erase.
    if transaction.parent is None:
        session.info.pop(_ERASURE, None)


def erase_deleted_rows(engine: Engine, table_names: list[str]) -> bool:
    """Make committed deletions in these tables real on disk; return True if fully done.

    SQLite: with ``secure_delete`` on (every connection), the deleting transaction
    wrote zeroed cells to the WAL; ``VACUUM`` then rebuilds the database from its live
    rows (no stale cell copies left in surviving pages, no free pages), and
    ``wal_checkpoint(TRUNCATE)`` copies the result over the main file and empties the
    WAL, which still held the rows' earlier page versions. A running server's readers
    and writers can keep either busy for a moment, so both are retried; if they stay
    busy, a warning is logged (the commit itself stands).
    PostgreSQL: see :func:`_postgresql_erase` (each table rewritten, then the WAL
    switched and a checkpoint).
    """
    if is_sqlite(engine):
        return _sqlite_erase(engine)
    return _postgresql_erase(engine, table_names)


# PostgreSQL: a plain VACUUM only marks dead rows' space reusable, and their bytes stay
# in the table files until new rows happen to overwrite them (issue 25 measured half of
# them still there). VACUUM FULL writes each table and its indexes into new files from
# the live rows only; the old files are emptied when it commits. It holds an ACCESS
# EXCLUSIVE lock on one table at a time: writers (answers arriving for another round)
# queue behind it and go on when that table is done, so nothing fails. Waiting for the
# lock is bounded (PG_LOCK_TIMEOUT_MS): a transaction left open on the table would
# otherwise keep the rewrite, and every writer queued behind it, waiting for ever; the
# rewrite gives way and tries again a little later.
PG_LOCK_TIMEOUT_MS = 2000
PG_REWRITE_ATTEMPTS = 5
PG_REWRITE_PAUSE_SECONDS = 0.5
# VACUUM FULL copies a deleted row into the new files while any transaction that may
# still see it runs: its own snapshot reaches back to the oldest transaction still
# writing anywhere on the server (other databases too). So it first waits, without any
# lock, for every transaction older than the erasure to end.
PG_OLDER_TRANSACTIONS_WAIT_SECONDS = 60.0
PG_OLDER_TRANSACTIONS_POLL_SECONDS = 0.1
_LOCK_NOT_AVAILABLE = "55P03"
_INSUFFICIENT_PRIVILEGE = "42501"
_FIRST_NUMBER = re.compile(r"\d+")


def _postgresql_erase(engine: Engine, table_names: list[str]) -> bool:
    """Rewrite the tables from their live rows, switch the WAL segment, checkpoint.

    The tables are rewritten one by one, in name order, each in its own transaction,
    so two erasures never wait for each other in a circle. Then ``pg_switch_wal()``
    closes the WAL segment that recorded the deleted rows and ``CHECKPOINT`` lets the
    server remove (``wal_recycle = off``) or recycle it at once, rather than after
    ``checkpoint_timeout``. A role without the right to do either gets a warning in the
    log (README: what an operator must grant); the commit itself always stands.
    """
    preparer = engine.dialect.identifier_preparer
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # The role's own timeouts would cancel a long rewrite or end its wait early.
        conn.exec_driver_sql("SET statement_timeout = 0")
        conn.exec_driver_sql(f"SET lock_timeout = {PG_LOCK_TIMEOUT_MS}")
        _wait_for_older_transactions(conn)
        rewritten = [_rewrite_table(conn, preparer.quote(name)) for name in sorted(table_names)]
        # ANALYZE keeps sample values of every column (most common values, histogram
        # bounds: addresses, comments, ids) in pg_statistic; the rewrite above analysed
        # the live rows afresh, and the old statistics rows go with this rewrite, once
        # the transactions running meanwhile have ended.
        _wait_for_older_transactions(conn)
        rewritten.append(_rewrite_table(conn, "pg_catalog.pg_statistic", analyze=False))
        switched = _superuser_step(conn, "SELECT pg_switch_wal()", "pg_switch_wal()",
                                   "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO <role>")
        checkpointed = _superuser_step(conn, "CHECKPOINT", "CHECKPOINT",
                                       "GRANT pg_checkpoint TO <role>")
    return all(rewritten) and switched and checkpointed


def _wait_for_older_transactions(conn: Connection) -> None:
    """Wait until every transaction that was running when the erasure began has ended.

    Bounded: past PG_OLDER_TRANSACTIONS_WAIT_SECONDS the rewrite goes ahead, keeps what
    such a transaction may still see, and says so (_rewrite_table).
    """
    def xid(function: str) -> int:
        return int(conn.exec_driver_sql(
            f"SELECT {function}(pg_current_snapshot())::text::bigint").scalar_one())

    newest = xid("pg_snapshot_xmax")  # every transaction id below it began before now
    deadline = time.monotonic() + PG_OLDER_TRANSACTIONS_WAIT_SECONDS
    while xid("pg_snapshot_xmin") < newest and time.monotonic() < deadline:
        time.sleep(PG_OLDER_TRANSACTIONS_POLL_SECONDS)


def _rewrite_table(conn: Connection, table: str, *, analyze: bool = True) -> bool:
    filenode = f"SELECT pg_relation_filenode('{table}'::regclass)"
    options = "FULL, VERBOSE, ANALYZE" if analyze else "FULL, VERBOSE"
    trouble = ""
    for attempt in range(PG_REWRITE_ATTEMPTS):
        if attempt:
            time.sleep(PG_REWRITE_PAUSE_SECONDS * attempt)
        before = conn.exec_driver_sql(filenode).scalar()
        try:
            kept = _kept_row_versions(conn, f"VACUUM ({options}) {table}")
        except DBAPIError as exc:
            if _sqlstate(exc) != _LOCK_NOT_AVAILABLE:
                log.warning("VACUUM FULL %s failed (%s): the deleted rows' bytes stay in its "
                            "files until the next erasure", table, exc.orig)
                return False
            trouble = (f"could not take its lock within {PG_LOCK_TIMEOUT_MS} ms (a "
                       "transaction stays open on it)")
            continue
        # VACUUM FULL skips, with a mere notice, a table its role may not vacuum.
        if conn.exec_driver_sql(filenode).scalar() == before:
            log.warning("VACUUM FULL did not rewrite %s (the database role must own it, or own "
                        "the database for pg_statistic): the deleted rows' bytes stay in its "
                        "files", table)
            return False
        if not kept:
            return True
        # Rows deleted after a still-running transaction began are copied into the new
        # files, for it may still read them: try again once it has ended.
        trouble = (f"kept {kept} deleted row versions (a transaction that began before the "
                   "deletion is still open)")
    log.warning("VACUUM FULL %s %s in %d attempts: the deleted rows' bytes stay in its files "
                "until the next erasure", table, trouble, PG_REWRITE_ATTEMPTS)
    return False


def _kept_row_versions(conn: Connection, vacuum_full: str) -> int:
    """Run VACUUM (FULL, VERBOSE); return how many dead row versions it had to copy.

    Only its report says so: the notice "found … removable, … nonremovable row versions"
    whose detail begins with that number ("%.0f dead row versions cannot be removed
    yet", in any language the server speaks). Its other notices have no detail.
    """
    driver = conn.connection.driver_connection
    details: list[str] = []

    def keep(diagnostic: Any) -> None:
        if diagnostic.message_detail:
            details.append(diagnostic.message_detail)

    driver.add_notice_handler(keep)  # type: ignore[union-attr]
    try:
        conn.exec_driver_sql(vacuum_full)
    finally:
        driver.remove_notice_handler(keep)  # type: ignore[union-attr]
    counts = [int(match.group()) for detail in details
              if (match := _FIRST_NUMBER.search(detail)) is not None]
    return max(counts, default=0)


def _superuser_step(conn: Connection, statement: str, name: str, grant: str) -> bool:
    try:
        conn.exec_driver_sql(statement)
    except DBAPIError as exc:
        if _sqlstate(exc) != _INSUFFICIENT_PRIVILEGE:
            log.warning("%s failed (%s): the deleted rows stay in the WAL segment files for "
                        "longer", name, exc.orig)
            return False
        log.warning("%s is not allowed for this database role (%s): the deleted rows stay "
                    "in the WAL segment files for longer. An administrator can allow it: %s "
                    "(see the README, Operations)", name, exc.orig, grant)
        return False
    return True


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _sqlite_erase(engine: Engine) -> bool:
    # The raw DBAPI connection runs in autocommit mode (isolation_level None above), so
    # no BEGIN IMMEDIATE is wrapped around these statements: neither VACUUM nor a
    # complete checkpoint can run inside a transaction.
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        # secure_delete zeroes deleted cells, but surviving pages that SQLite rebuilt
        # while rows came and went (other rounds' rows share them) keep stale copies of
        # cells in their unused space. VACUUM rebuilds every page from live rows only.
        vacuumed = _retry_busy(lambda: driver.execute("VACUUM"))  # type: ignore[union-attr]
        for attempt in range(CHECKPOINT_ATTEMPTS):
            busy, wal_frames, checkpointed = driver.execute(  # type: ignore[union-attr]
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
            if not busy:
                return vacuumed
            time.sleep(CHECKPOINT_PAUSE_SECONDS * (attempt + 1))
    finally:
        raw.close()
    log.warning(
        "WAL checkpoint stayed busy after %d attempts: %d of %d frames copied; deleted "
        "rows stay in the -wal file until the next complete checkpoint",
        CHECKPOINT_ATTEMPTS, checkpointed, wal_frames,
    )
    return False


def _retry_busy(statement: Any) -> bool:
    for attempt in range(CHECKPOINT_ATTEMPTS):
        try:
            statement()
            return True
        except sqlite3.OperationalError as exc:  # locked by a writer beyond busy_timeout
            error = exc
            time.sleep(CHECKPOINT_PAUSE_SECONDS * (attempt + 1))
    log.warning("VACUUM failed after %d attempts (%s): stale copies of deleted rows may "
                "remain in the database file until the next erasure", CHECKPOINT_ATTEMPTS,
                error)
    return False
