"""SQLite writers of one process queue on a lock (speakup/db.py), released when they end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from speakup.db import create_sqlite_file, make_engine, read_only_bind, sqlite_write_lock


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'writers.sqlite3'}"
    create_sqlite_file(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE marks (n INTEGER NOT NULL)"))
    yield engine
    engine.dispose()


def test_a_writing_transaction_holds_the_lock_until_commit_or_rollback(
        engine: Engine, tmp_path: Path) -> None:
    lock = sqlite_write_lock(tmp_path / "writers.sqlite3")
    with engine.connect() as conn:
        conn.begin()
        conn.execute(text("INSERT INTO marks VALUES (1)"))
        assert lock.locked()
        conn.commit()
        assert not lock.locked()
        conn.begin()
        conn.execute(text("INSERT INTO marks VALUES (2)"))
        assert lock.locked()
        conn.rollback()
        assert not lock.locked()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM marks")).scalars().all() == [1]


def test_a_connection_returned_mid_transaction_lets_go_of_the_lock(
        engine: Engine, tmp_path: Path) -> None:
    lock = sqlite_write_lock(tmp_path / "writers.sqlite3")
    conn = engine.connect()
    conn.begin()
    conn.execute(text("INSERT INTO marks VALUES (1)"))
    conn.close()  # back to the pool, which rolls back
    assert not lock.locked()


def test_reading_transactions_never_take_the_lock(engine: Engine, tmp_path: Path) -> None:
    lock = sqlite_write_lock(tmp_path / "writers.sqlite3")
    with read_only_bind(engine).connect() as conn, conn.begin():
        assert conn.execute(text("SELECT count(*) FROM marks")).scalar_one() == 0
        assert not lock.locked()


def test_concurrent_writers_all_commit(engine: Engine) -> None:
    failures: list[BaseException] = []

    def write(first: int) -> None:
        try:
            for n in range(first, first + 25):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(i * 100,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT n) FROM marks")).scalar_one() == 200
