"""Deleting means erasing on PostgreSQL: every file of the server, read from outside.

The attacker of these tests reads the files of the running PostgreSQL server (CI runs
as root on the same machine): every file of the test database under
``base/<database oid>/``, the shared catalogs in ``global/``, the write-ahead log in
``pg_wal/``, and a ``pg_basebackup`` taken while a round is open or after it is
published. What publication deletes: the addresses of the round's mail jobs (plain
text), its token hashes and its sealed responses (random bytes: each blob is its own
marker, read from the table before publication). The comments are sealed: their
markers are in no file even while the round is open. Each test that says "none left"
also runs with the old erasure (a plain ``VACUUM``), which leaves some: the scan can fail.

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
from conftest import PG_URL, TEST_SECRET, _new_database, add_concern_reader
from publish_factory import Respondent, add_responses, raw_row_counts
from publish_factory import make_round as make_keyed_round
from publish_factory import make_survey as make_closed_survey
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine, make_url

from concerns import keys, services
from concerns.config import ConcernConfig
from concerns.models import Concern
from speakup import db, migrate
from speakup.clock import FrozenClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys import erase
from surveys.models import MailJob, Response, Round, TokenHash
from surveys.publish import publish_round
from surveys.sealed_answers import Sealers

MAIL_JOBS = 400  # per round: several pages of the table each
RESPONDENTS = 12
BLOB_WINDOW = slice(33, 33 + 44)  # a sealed response's nonce and first ciphertext bytes


@pytest.fixture
def settings(pg_url: str, tmp_path: Path) -> Settings:
    """The instance whose round key folder holds the rounds' private keys."""
    return Settings(instance_path=tmp_path / "instance", database_url=pg_url,
                    secret_key=TEST_SECRET)


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


def blobs_in(paths: list[Path], blobs: list[bytes]) -> int:
    """How many of the sealed responses (each a unique random window) any file holds."""
    contents = []
    for path in paths:
        try:
            contents.append(path.read_bytes())
        except FileNotFoundError:
            continue
    return sum(any(blob in content for content in contents) for blob in blobs)


def checkpoint(engine: Engine) -> None:
    """What the server does by itself within checkpoint_timeout: dirty pages reach disk."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CHECKPOINT")


def analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE mail_jobs, responses")


def sampled(engine: Engine, marked: Marked) -> set[bytes]:
    """The marked values the planner's statistics hold (pg_stats: a superuser's view)."""
    with engine.connect() as conn:
        values = conn.scalars(text(
            "SELECT coalesce(most_common_vals::text, '') || histogram_bounds::text "
            "FROM pg_stats WHERE tablename IN ('mail_jobs', 'responses')")).all()
    return set(marked.markers.findall(" ".join(v or "" for v in values).encode()))


def basebackup(destination: Path) -> Path:
    """A plain-format pg_basebackup of the whole server, as an operator's backup job takes."""
    target = make_url(PG_URL)
    # -X stream holds the WAL it needs (a temporary slot): with -X fetch a checkpoint from
    # another test (a publication's erasure, on another pytest-xdist worker) could remove a
    # segment before the backup fetched it ("requested WAL segment ... already removed").
    out = subprocess.run(
        ["pg_basebackup", "-h", target.host or "127.0.0.1", "-p", str(target.port or 5432),
         "-U", target.username or "postgres", "-D", str(destination), "-Fp", "-X", "stream",
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
    sealed: list[bytes]  # the published round's responses, a unique window of each blob
    sealed_kept: list[bytes]  # the open round's

    @property
    def markers(self) -> re.Pattern[bytes]:
        """The published round's invitation addresses (plain text until publication)."""
        return re.compile(re.escape(self.prefix) + rb"-addr-\d{4}")

    @property
    def kept(self) -> re.Pattern[bytes]:
        """What the open round keeps: shows that the scan reads the right files."""
        return re.compile(re.escape(self.prefix) + rb"-keep-\d{4}")

    @property
    def comments(self) -> re.Pattern[bytes]:
        """Both rounds' comments: sealed, so in no file at any time."""
        return re.compile(re.escape(self.prefix) + rb"-(?:comment|keepc)-\d{4}")


def marked_rounds(engine: Engine, settings: Settings) -> Marked:
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
        published = make_keyed_round(session, survey, keys=settings, opens_at=opens)
        still_open = make_keyed_round(session, survey, keys=settings, status="open",
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
        sealed = {rid: [bytes(blob)[BLOB_WINDOW] for blob in session.scalars(
            select(Response.sealed).where(Response.round_id == rid))]
            for rid in (published.id, still_open.id)}
        assert all(len(set(blobs)) == RESPONDENTS for blobs in sealed.values())
        return Marked(prefix, published.id, still_open.id, hashes, sealed[published.id],
                      sealed[still_open.id])


def publish(engine: Engine, settings: Settings, round_id: int) -> None:
    with make_session_factory(engine)() as session:
        publish_round(session, session.get(Round, round_id), settings, FrozenClock())
        session.commit()


# --- table files after publication -------------------------------------------------------


@pytest.mark.parametrize("erasure", ["rewrite", "plain_vacuum"])
def test_postgresql_table_files_keep_no_published_round_after_publication(
    pg_url, pg_engine, settings, erasure, request
):
    if erasure == "plain_vacuum":
        request.getfixturevalue("old_erasure")
    marked = marked_rounds(pg_engine, settings)
    # Autovacuum's ANALYZE copies sample values into pg_statistic within a minute or so:
    # here at once.
    analyze(pg_engine)
    checkpoint(pg_engine)  # the rows are in the table files before publication …
    assert len(sampled(pg_engine, marked)) > 10
    with pg_engine.connect() as conn:
        root, oid = data_directory(conn), database_oid(conn)
        filenodes = dict(conn.execute(text(
            "SELECT relname, pg_relation_filenode(oid) FROM pg_class "
            "WHERE relname IN ('mail_jobs', 'responses', 'token_hashes')")).all())
    table_files = files_under(root / "base" / str(oid), root / "global")
    assert len(scan(table_files, marked.markers)) == MAIL_JOBS
    assert blobs_in(table_files, marked.sealed) == RESPONDENTS
    assert blobs_in(table_files, marked.token_hashes) == RESPONDENTS
    # The comments were sealed before they were written: no file holds one, ever.
    assert scan(table_files, marked.comments) == set()

    publish(pg_engine, settings, marked.published_id)
    # … and the attacker copies the files after the server has written its dirty pages
    # (a checkpoint: by itself it does one within checkpoint_timeout).
    checkpoint(pg_engine)
    table_files = files_under(root / "base" / str(oid), root / "global")
    addresses = scan(table_files, marked.markers)
    sealed_left = blobs_in(table_files, marked.sealed)
    hashes_left = blobs_in(table_files, marked.token_hashes)
    # The open round's rows are still there: the scan reads the database's files.
    assert len(scan(table_files, marked.kept)) == MAIL_JOBS
    assert blobs_in(table_files, marked.sealed_kept) == RESPONDENTS
    assert scan(table_files, marked.comments) == set()
    with make_session_factory(pg_engine)() as session:
        assert raw_row_counts(session, marked.published_id) == dict.fromkeys(
            ("responses", "token_hashes"), 0)
        assert session.scalar(text("SELECT count(*) FROM mail_jobs WHERE round_id = :r"),
                              {"r": marked.published_id}) == 0
    with pg_engine.connect() as conn:
        now = dict(conn.execute(text(
            "SELECT relname, pg_relation_filenode(oid) FROM pg_class "
            "WHERE relname IN ('mail_jobs', 'responses', 'token_hashes')")).all())
    print(f"\n[{erasure}] left in base/{oid}: {len(addresses)} of {MAIL_JOBS} addresses, "
          f"{sealed_left} of {RESPONDENTS} sealed responses, "
          f"{hashes_left} of {RESPONDENTS} token hashes")
    if erasure == "rewrite":
        assert addresses == set() and sealed_left == 0 and hashes_left == 0
        assert sampled(pg_engine, marked) == set()
        assert all(now[name] != filenodes[name] for name in now)  # new files
    else:
        # The old erasure leaves most of the deleted addresses readable in the file,
        # and sealed responses whose key is destroyed but whose bytes are not.
        assert len(addresses) > MAIL_JOBS // 2
        assert sealed_left > 0
        assert now == filenodes


@pytest.fixture
def wal_recycle_off(pg_engine: Engine) -> Iterator[None]:
    """The README's advice, on the server for the length of a test (then as it was)."""
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        before = conn.scalar(text(
            "SELECT setting FROM pg_settings WHERE name = 'wal_recycle' AND source = "
            "'configuration file' AND sourcefile LIKE '%postgresql.auto.conf'"))
        conn.exec_driver_sql("ALTER SYSTEM SET wal_recycle = off")
        conn.exec_driver_sql("SELECT pg_reload_conf()")
    for _ in range(50):  # the reload reaches the checkpointer a moment later
        with pg_engine.connect() as conn:
            if conn.scalar(text("SHOW wal_recycle")) == "off":
                break
        time.sleep(0.1)
    yield
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"ALTER SYSTEM SET wal_recycle = {before}" if before
                             else "ALTER SYSTEM RESET wal_recycle")
        conn.exec_driver_sql("SELECT pg_reload_conf()")


def wal_segments_holding(root: Path, marked: Marked) -> dict[str, int]:
    """Per WAL segment: how many deleted addresses and sealed responses it holds."""
    holding = {}
    for path in files_under(root / "pg_wal"):
        found = len(scan([path], marked.markers)) + blobs_in([path], marked.sealed)
        if found:
            holding[path.name] = found
    return holding


def test_postgresql_write_ahead_log_keeps_no_segment_of_the_deleted_rows(
    pg_url, pg_engine, settings, wal_recycle_off
):
    """The WAL recorded the rows as they were written; the erasure closes that segment
    (pg_switch_wal) and checkpoints, and with wal_recycle = off the server deletes it.

    (With wal_recycle on, the default, a finished segment may instead be renamed for
    reuse, its bytes intact until the server writes over them: the README says so.)
    """
    with pg_engine.connect() as conn:
        root = data_directory(conn)
        # Nothing else keeps old segments on this server (no retention, slot or archive).
        assert conn.scalar(text("SHOW wal_keep_size")) == "0"
        assert conn.scalar(text("SHOW archive_mode")) == "off"
        assert conn.scalar(text("SELECT count(*) FROM pg_replication_slots")) == 0
    marked = marked_rounds(pg_engine, settings)
    holding = wal_segments_holding(root, marked)
    wal = files_under(root / "pg_wal")
    # The scan finds the rows before publication. Not always every one: another test
    # process's erasure may checkpoint meanwhile, and the server then deletes a finished
    # segment that held some of them.
    assert 0 < len(scan(wal, marked.markers)) <= MAIL_JOBS
    assert 0 < blobs_in(wal, marked.sealed) <= RESPONDENTS
    assert scan(wal, marked.comments) == set()  # sealed before it was written
    publish(pg_engine, settings, marked.published_id)
    left = wal_segments_holding(root, marked)
    print(f"\naddresses and sealed responses in pg_wal/ before publication: {holding}; "
          f"after: {left}")
    assert left == {}
    assert not any((root / "pg_wal" / name).exists() for name in holding)


@pytest.mark.parametrize("erasure", ["rewrite", "plain_vacuum"])
def test_postgresql_table_files_keep_no_purged_concern(pg_url, pg_engine, erasure, request,
                                                       tmp_path):
    """The concern purge: ciphertexts, key wraps and receipt hashes (random bytes, so each
    is its own marker) are in no file of the database afterwards."""
    if erasure == "plain_vacuum":
        request.getfixturevalue("old_erasure")
    settings = Settings(instance_path=tmp_path / "instance", database_url=pg_url,
                        secret_key=TEST_SECRET)
    config = ConcernConfig.from_settings(settings)
    clock = FrozenClock()
    factory = make_session_factory(pg_engine)
    with factory() as session:
        keys.create_recovery_key(session, clock, config, actor="test")
        add_concern_reader(session, clock, config)
        for n in range(20):  # the first ten are purged, the last ten are still open
            services.submit_concern(session, clock, config, category_id=1,
                                    what_happened=f"concern {n} " + "x" * 300)
            session.commit()
        doomed = session.scalars(select(Concern.id).order_by(Concern.id).limit(10)).all()
        session.execute(update(Concern).where(Concern.id.in_(doomed)).values(
            status="closed", outcome="resolved", closed_on=clock.today()))
        session.commit()
    with pg_engine.connect() as conn:
        secrets_of_doomed = [bytes(v) for v in conn.execute(text(
            "SELECT ciphertext FROM concern_messages WHERE concern_id = ANY(:d) UNION ALL "
            "SELECT wrap FROM concern_key_wraps WHERE concern_id = ANY(:d) UNION ALL "
            "SELECT receipt_hash FROM concerns WHERE id = ANY(:d)"), {"d": doomed}).scalars()]
        kept = [bytes(v) for v in conn.scalars(text(
            "SELECT ciphertext FROM concern_messages WHERE NOT concern_id = ANY(:d)"),
            {"d": doomed})]
        root, oid = data_directory(conn), database_oid(conn)
    assert len(secrets_of_doomed) >= 30 and len(kept) == 10
    clock.advance(days=config.retention_days + 1)
    with factory.begin() as session:  # as the scheduler's purge job commits
        assert services.purge_expired(session, clock, config, actor="test") == 10
    checkpoint(pg_engine)
    contents = [path.read_bytes() for path in files_under(root / "base" / str(oid))
                if path.exists()]

    def found(values: list[bytes]) -> int:
        return sum(any(value[:32] in content for content in contents) for value in values)

    left = found(secrets_of_doomed)
    print(f"\n[{erasure}] purged concerns' secrets left in base/{oid}: "
          f"{left} of {len(secrets_of_doomed)}")
    assert found(kept) == len(kept)  # the scan reads the right files
    if erasure == "rewrite":
        assert left == 0
    else:  # about half of them (23 of 40 when measured)
        assert left > 0


# --- base backups -------------------------------------------------------------------------


def test_postgresql_base_backups_while_open_and_after_publication(
    pg_url, pg_engine, settings, tmp_path
):
    """What an operator's backups hold: everything while the round is open, its table
    files none of the round once it is published.

    The backup taken while the round was open keeps every address its mail jobs held
    and every sealed response for as long as it is kept: no erasure on the server
    reaches it. That is the limit backup retention must bound (the sealed responses
    can no longer be opened once the round key is destroyed: test_shredding_attacker).
    """
    marked = marked_rounds(pg_engine, settings)
    analyze(pg_engine)
    with pg_engine.connect() as conn:
        oid = str(database_oid(conn))
    while_open = basebackup(tmp_path / "while-open")
    publish(pg_engine, settings, marked.published_id)
    after = basebackup(tmp_path / "after")

    open_files = files_under(while_open / "base" / oid)
    after_files = files_under(after / "base" / oid, after / "global")
    in_open_backup = scan(open_files, marked.markers)
    in_backup_after = scan(after_files, marked.markers)
    in_backup_wal = scan(files_under(after / "pg_wal"), marked.markers)
    sealed_after = blobs_in(after_files, marked.sealed)
    print(f"\nbase backup while open: {len(in_open_backup)} addresses and "
          f"{blobs_in(open_files, marked.sealed)} sealed responses in base/{oid}; after "
          f"publication: {len(in_backup_after)} addresses and {sealed_after} sealed "
          f"responses in base/{oid} and global/, {len(in_backup_wal)} addresses in its pg_wal/")
    assert len(in_open_backup) == MAIL_JOBS
    assert blobs_in(open_files, marked.sealed) == RESPONDENTS
    assert scan(open_files, marked.comments) == set()
    assert in_backup_after == set() and sealed_after == 0
    assert len(scan(after_files, marked.kept)) == MAIL_JOBS
    assert blobs_in(after_files, marked.sealed_kept) == RESPONDENTS


# --- the database role's rights -------------------------------------------------------------


@pytest.fixture
def app_role(pg_url: str, pg_engine: Engine) -> Iterator[tuple[str, Engine]]:
    """A login role that owns mail_jobs and is no superuser (production's would own all)."""
    role = f"speakup_app_{secrets.token_hex(4)}"
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"ALTER TABLE mail_jobs OWNER TO {role}")
    engine = make_engine(make_url(pg_url).set(username=role).render_as_string(
        hide_password=False))
    yield role, engine
    engine.dispose()
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
        conn.exec_driver_sql(f"DROP OWNED BY {role}")
        conn.exec_driver_sql(f"DROP ROLE {role}")


def filenode(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(text(f"SELECT pg_relation_filenode('{table}'::regclass)"))


def test_postgresql_erasure_by_a_role_without_checkpoint_rights_rewrites_and_warns(
    pg_url, pg_engine, app_role, caplog
):
    role, engine = app_role
    before = filenode(pg_engine, "mail_jobs")
    with caplog.at_level(logging.WARNING, logger="speakup.db"):
        assert db.erase_deleted_rows(engine, ["mail_jobs"]) is False
    # The table it owns is rewritten; pg_statistic (the database's owner may rewrite it),
    # the WAL switch and the checkpoint are refused, and the log says what to grant.
    assert filenode(pg_engine, "mail_jobs") != before
    warnings = caplog.text
    assert "did not rewrite pg_catalog.pg_statistic" in warnings
    assert "CHECKPOINT is not allowed for this database role" in warnings
    assert "GRANT pg_checkpoint TO <role>" in warnings
    assert "pg_switch_wal() is not allowed" in warnings

    # A table the role does not own: VACUUM FULL skips it with a mere notice; the log says.
    caplog.clear()
    before = filenode(pg_engine, "responses")
    with caplog.at_level(logging.WARNING, logger="speakup.db"):
        assert db.erase_deleted_rows(engine, ["responses"]) is False
    assert filenode(pg_engine, "responses") == before
    assert "did not rewrite responses (the database role must own it" in caplog.text

    # Given what the README says (own the database, two grants): complete, and silent.
    database = make_url(pg_url).database
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{database}" OWNER TO {role}')
        conn.exec_driver_sql(f"GRANT pg_checkpoint TO {role}")
        conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION pg_switch_wal() TO {role}")
    caplog.clear()
    before = filenode(pg_engine, "pg_statistic"), filenode(pg_engine, "responses")
    with caplog.at_level(logging.WARNING, logger="speakup.db"):
        assert db.erase_deleted_rows(engine, ["mail_jobs", "responses"]) is True
    assert caplog.text == ""
    assert (filenode(pg_engine, "pg_statistic"), filenode(pg_engine, "responses")) != before
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"REVOKE pg_checkpoint FROM {role}")


# --- the lock: answers queue behind the rewrite, nothing fails ------------------------------


@dataclass
class Timed:
    start: float
    end: float
    what: str


def test_postgresql_answers_arriving_during_two_publications_queue_and_succeed(
    pg_url, pg_engine, settings, monkeypatch
):
    """Six submitters answer an open round while two other rounds are published at once."""
    factory = make_session_factory(pg_engine)
    person = Respondent({"psafe_1": 3, "psafe_2": 4, "speak_1": 2, "wres_5": 1},
                        {"team": "a", "ethnicity": "white"}, comment="a comment")
    with factory() as session:
        survey = make_closed_survey(session, k=3)
        opens = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
        first, second = (make_keyed_round(session, survey, keys=settings,
                                          opens_at=opens + dt.timedelta(days=d))
                         for d in (0, 7))
        still_open = make_keyed_round(session, survey, keys=settings, status="open",
                                      opens_at=opens + dt.timedelta(days=14))
        for round_ in (first, second, still_open):  # enough rows to make each rewrite last
            add_responses(session, round_, [person] * 4000)
        session.commit()
        ids = first.id, second.id, still_open.id

    rewrites: list[Timed] = []
    rewrite = db._rewrite_table

    def timed_rewrite(conn: Connection, table: str, **options: bool) -> bool:
        start = time.monotonic()
        try:
            return rewrite(conn, table, **options)
        finally:
            rewrites.append(Timed(start, time.monotonic(), table))

    monkeypatch.setattr(db, "_rewrite_table", timed_rewrite)
    stop = threading.Event()
    answers: list[Timed] = []
    failures: list[BaseException] = []
    sealers = Sealers()  # the web processes' (one here), as submit_response uses them

    def submit() -> None:
        while not stop.is_set():
            start = time.monotonic()
            try:
                with factory() as session:
                    add_responses(session, session.get(Round, ids[2]), [person], sealers)
                    session.commit()
            except BaseException as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(exc)
                return
            answers.append(Timed(start, time.monotonic(), "answer"))

    def publish_one(round_id: int) -> None:
        try:
            publish(pg_engine, settings, round_id)
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    submitters = [threading.Thread(target=submit) for _ in range(6)]
    for thread in submitters:
        thread.start()
    time.sleep(0.3)
    publishers = [threading.Thread(target=publish_one, args=(rid,)) for rid in ids[:2]]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join(timeout=300)
    time.sleep(0.3)
    stop.set()
    for thread in submitters:
        thread.join(timeout=300)

    assert failures == []
    assert not any(thread.is_alive() for thread in publishers + submitters)
    with factory() as session:
        for rid in ids[:2]:
            assert raw_row_counts(session, rid)["responses"] == 0
        assert raw_row_counts(session, ids[2])["responses"] == 4000 + len(answers)
    # Both publications rewrote every raw table, and answers were in flight meanwhile:
    # some began during a rewrite of a table they write to and ended after it (queued).
    raw = {table.__tablename__ for table in erase.RAW_TABLES} | {"token_hashes"}
    assert sorted(r.what for r in rewrites if r.what in raw) == sorted(list(raw) * 2)
    queued = [a for a in answers for r in rewrites
              if r.what == "responses" and r.start < a.start < r.end < a.end]
    longest = max(a.end - a.start for a in answers)
    print(f"\n{len(answers)} answers during two publications, {len(queued)} queued behind a "
          f"rewrite; longest answer {longest * 1000:.0f} ms; rewrites (ms): "
          f"{[(r.what, round((r.end - r.start) * 1000)) for r in rewrites]}")
    assert queued


def test_postgresql_rewrite_gives_way_to_a_transaction_left_open(pg_engine, settings,
                                                                  monkeypatch, caplog):
    """A reader that keeps its transaction open holds the lock: the rewrite waits a
    bounded time, tries again, then says so, instead of holding every writer for ever."""
    monkeypatch.setattr(db, "PG_LOCK_TIMEOUT_MS", 200)
    monkeypatch.setattr(db, "PG_REWRITE_ATTEMPTS", 2)
    monkeypatch.setattr(db, "PG_REWRITE_PAUSE_SECONDS", 0.05)
    before = filenode(pg_engine, "mail_jobs")
    with pg_engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM mail_jobs"))  # transaction stays open
        with caplog.at_level(logging.WARNING, logger="speakup.db"):
            assert db.erase_deleted_rows(pg_engine, ["mail_jobs"]) is False
        assert ("could not take its lock within 200 ms (a transaction stays open on it) in 2 "
                "attempts") in caplog.text
        # Meanwhile writers were not held: one writes now, while the reader stays open.
        with make_session_factory(pg_engine)() as session:
            survey = make_closed_survey(session)
            round_ = make_keyed_round(session, survey, keys=settings)
            session.execute(insert(MailJob), [{"round_id": round_.id, "kind": "invitation",
                                               "email": "x@example.org", "status": "sent"}])
            session.commit()
        reader.rollback()
    assert filenode(pg_engine, "mail_jobs") == before
    assert db.erase_deleted_rows(pg_engine, ["mail_jobs"]) is True
    assert filenode(pg_engine, "mail_jobs") != before
