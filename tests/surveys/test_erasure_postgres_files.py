"""Deleting means erasing on PostgreSQL: every file of the server, read from outside.

The attacker of these tests reads the files of the running PostgreSQL server (CI runs
as root on the same machine): every file of the test database under
``base/<database oid>/``, the shared catalogs in ``global/``, the write-ahead log in
``pg_wal/``, and a ``pg_basebackup`` taken while a round is open or after it is
published. The marked data is what publication deletes and that stays plain text: the
addresses of the round's mail jobs, and (until they are encrypted, issue 25's second
part) the raw comments. Each test that says "none left" also runs with the old erasure
(a plain ``VACUUM``), which leaves them: the scan can fail.

These tests need PostgreSQL and a server whose data directory this process can read;
``pg_basebackup`` needs a replication line in pg_hba.conf (.ci/run adds it).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PG_URL, TEST_SECRET, _new_database
from publish_factory import Respondent, add_responses, make_round, raw_row_counts
from publish_factory import make_survey as make_closed_survey
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, Engine, make_url

from speakup import db, migrate
from speakup.clock import FrozenClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys.models import MailJob, Round, TokenHash
from surveys.publish import publish_round

MAIL_JOBS = 400  # per round: several pages of the table each
RESPONDENTS = 12


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A migrated PostgreSQL database of its own (these tests are about that engine)."""
    url, drop = _new_database("postgresql", tmp_path)
    migrate.upgrade(url)
    yield url
    drop()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def old_erasure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The erasure before issue 25: a plain VACUUM of the tables, nothing else."""

    def vacuum_only(engine: Engine, table_names: list[str]) -> bool:
        names = ", ".join(table_names)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM {names}")
        return True

    monkeypatch.setattr(db, "_postgresql_erase", vacuum_only)


# --- the attacker's tools --------------------------------------------------------------


def data_directory(conn: Connection) -> Path:
    return Path(conn.scalar(text("SHOW data_directory")))


def database_oid(conn: Connection) -> int:
    return conn.scalar(text("SELECT oid FROM pg_database WHERE datname = current_database()"))


def files_under(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in sorted(folder.rglob("*")) if path.is_file()]


def scan(paths: list[Path], pattern: re.Pattern[bytes]) -> set[bytes]:
    """Every distinct match of the pattern in any of the files (a file may go meanwhile)."""
    found: set[bytes] = set()
    for path in paths:
        try:
            found.update(pattern.findall(path.read_bytes()))
        except FileNotFoundError:  # a WAL segment removed or a relation dropped meanwhile
            continue
    return found


def checkpoint(engine: Engine) -> None:
    """What the server does by itself within checkpoint_timeout: dirty pages reach disk."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CHECKPOINT")


def basebackup(destination: Path) -> Path:
    """A plain-format pg_basebackup of the whole server, as an operator's backup job takes."""
    target = make_url(PG_URL)
    out = subprocess.run(
        ["pg_basebackup", "-h", target.host or "127.0.0.1", "-p", str(target.port or 5432),
         "-U", target.username or "postgres", "-D", str(destination), "-Fp", "-X", "fetch",
         "-c", "fast", "--no-sync"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (
        "pg_basebackup failed; pg_hba.conf needs 'host replication all 127.0.0.1/32 trust' "
        f"(.ci/run adds it): {out.stderr}")
    return destination


# --- what a round leaves: marked plain text --------------------------------------------


@dataclass
class Marked:
    """A published round's marked data, an open round's unmarked data, and how to find them."""

    prefix: bytes
    published_id: int
    open_id: int
    token_hashes: list[bytes]

    @property
    def markers(self) -> re.Pattern[bytes]:
        return re.compile(re.escape(self.prefix) + rb"-(?:addr|comment)-\d{4}")

    @property
    def kept(self) -> re.Pattern[bytes]:
        """What the open round keeps: shows that the scan reads the right files."""
        return re.compile(re.escape(self.prefix) + rb"-keepc?-\d{4}")


def marked_rounds(engine: Engine) -> Marked:
    """A closed round about to be published and an open one, each with mail jobs and answers.

    The closed round's rows come first, the open round's after them, as they would
    when one round's invitations go out a week before the next's: the open round's
    rows stay at the end of each table, so no VACUUM can shorten the files.
    """
    prefix = b"mk" + secrets.token_hex(6).encode()
    p = prefix.decode()
    with make_session_factory(engine)() as session:
        survey = make_closed_survey(session, k=3)
        opens = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
        published = make_round(session, survey, opens_at=opens)
        still_open = make_round(session, survey, status="open",
                                opens_at=opens + dt.timedelta(days=7))
        hashes = [secrets.token_bytes(32) for _ in range(RESPONDENTS)]
        for round_, label in ((published, "addr"), (still_open, "keep")):
            session.execute(insert(MailJob), [
                {"round_id": round_.id, "kind": "invitation", "status": "sent",
                 "email": f"{p}-{label}-{n:04d}@example.org"} for n in range(MAIL_JOBS)])
            add_responses(session, round_, [
                Respondent({"psafe_1": n % 7 + 1, "speak_1": 3}, {"team": "a"},
                           comment=f"{p}-{'comment' if label == 'addr' else 'keepc'}-{n:04d} "
                                   "what I would not say to my manager")
                for n in range(RESPONDENTS)])
        session.execute(insert(TokenHash), [
            {"token_hash": h, "round_id": published.id, "used": True} for h in hashes])
        session.commit()
        return Marked(prefix, published.id, still_open.id, hashes)


def publish(engine: Engine, url: str, round_id: int) -> None:
    with make_session_factory(engine)() as session:
        publish_round(session, session.get(Round, round_id),
                      Settings(database_url=url, secret_key=TEST_SECRET), FrozenClock())
        session.commit()


# --- table files after publication -------------------------------------------------------


@pytest.mark.parametrize("erasure", ["rewrite", "plain_vacuum"])
def test_postgresql_table_files_keep_no_published_round_after_publication(
    pg_url, pg_engine, erasure, request
):
    if erasure == "plain_vacuum":
        request.getfixturevalue("old_erasure")
    marked = marked_rounds(pg_engine)
    checkpoint(pg_engine)  # the rows are in the table files before publication …
    with pg_engine.connect() as conn:
        root, oid = data_directory(conn), database_oid(conn)
        filenodes = dict(conn.execute(text(
            "SELECT relname, pg_relation_filenode(oid) FROM pg_class "
            "WHERE relname IN ('mail_jobs', 'responses')")).all())
    table_files = files_under(root / "base" / str(oid), root / "global")
    assert len(scan(table_files, marked.markers)) == MAIL_JOBS + RESPONDENTS

    publish(pg_engine, pg_url, marked.published_id)
    # … and the attacker copies the files after the server has written its dirty pages
    # (a checkpoint: by itself it does one within checkpoint_timeout).
    checkpoint(pg_engine)
    table_files = files_under(root / "base" / str(oid), root / "global")
    left = scan(table_files, marked.markers)
    hashes_left = [h for h in marked.token_hashes
                   if any(h in path.read_bytes() for path in table_files if path.exists())]
    # The open round's rows are still there: the scan reads the database's files.
    assert len(scan(table_files, marked.kept)) == MAIL_JOBS + RESPONDENTS
    with make_session_factory(pg_engine)() as session:
        assert raw_row_counts(session, marked.published_id) == dict.fromkeys(
            ("responses", "response_answers", "response_groups", "token_hashes"), 0)
        assert session.scalar(text("SELECT count(*) FROM mail_jobs WHERE round_id = :r"),
                              {"r": marked.published_id}) == 0
    with pg_engine.connect() as conn:
        now = dict(conn.execute(text(
            "SELECT relname, pg_relation_filenode(oid) FROM pg_class "
            "WHERE relname IN ('mail_jobs', 'responses')")).all())
    addresses = {m for m in left if b"-addr-" in m}
    print(f"\n[{erasure}] left in base/{oid}: {len(addresses)} of {MAIL_JOBS} addresses, "
          f"{len(left) - len(addresses)} of {RESPONDENTS} comments, "
          f"{len(hashes_left)} of {RESPONDENTS} token hashes")
    if erasure == "rewrite":
        assert left == set() and hashes_left == []
        assert all(now[name] != filenodes[name] for name in now)  # new files
    else:
        # The old erasure leaves most of the deleted addresses readable in the file.
        assert len(addresses) > MAIL_JOBS // 2
        assert now == filenodes


def test_postgresql_write_ahead_log_keeps_the_deleted_rows_until_its_segments_go(
    pg_url, pg_engine
):
    """The stated limit (README): the WAL recorded the rows as they were written."""
    marked = marked_rounds(pg_engine)
    with pg_engine.connect() as conn:
        root = data_directory(conn)
        segment = conn.scalar(text("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        recycle = conn.scalar(text("SHOW wal_recycle"))
    publish(pg_engine, pg_url, marked.published_id)
    with pg_engine.connect() as conn:
        after = conn.scalar(text("SELECT pg_walfile_name(pg_current_wal_lsn())"))
    found = scan(files_under(root / "pg_wal"), marked.markers)
    print(f"\nwal_recycle={recycle}: {len(found)} of {MAIL_JOBS + RESPONDENTS} markers in "
          f"pg_wal/ after publication (segment {segment} -> {after})")
    # The erasure closed the segment that recorded the rows (pg_switch_wal) …
    assert after > segment
    if recycle == "on":
        # … and the checkpoint recycled it: renamed for reuse, its bytes intact until the
        # server writes over them. (With wal_recycle = off it is deleted instead.)
        assert found
