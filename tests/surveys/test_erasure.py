"""Deleting means erasing: what a copy of the database files shows after a deletion.

The attacker of these tests copies every file of the instance folder (SQLite: the
database, its -wal and -shm) while the server runs, right after a round is published
or concerns are purged, and looks for the deleted bytes anywhere in them. On
PostgreSQL they read what a superuser can: the tables' pages (pageinspect), the
vacuum statistics and a pg_dump.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import re
import secrets
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    REPO,
    TEST_SECRET,
    VENV_BIN,
    LiveServer,
    add_concern_reader,
    start_gunicorn,
    stop_server,
)
from publish_factory import (
    Respondent,
    add_plaintext_round,
    add_responses,
    make_round,
    plaintext_counts,
    raw_row_counts,
)
from publish_factory import make_survey as make_closed_survey
from sqlalchemy import text, update
from sqlalchemy.engine import Engine, make_url
from surveys_testlib import addresses, make_survey, open_round_now, opened, tokens_for

from concerns import keys, services
from concerns.config import ConcernConfig
from concerns.models import Concern
from speakup import migrate
from speakup.clock import FrozenClock, SystemClock
from speakup.db import erasure_requested, make_engine, make_session_factory, request_erasure
from speakup.settings import Settings
from surveys import erase
from surveys.models import TokenHash
from surveys.publish import publish_round, purge_expired_raw
from surveys.round_keys import RoundKeyFolder

# Answers, groups and comments are sealed inside each response (migration 0014).
RAW_TABLES = ("responses", "token_hashes")
TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
# The receipt's groups are in spans (so none breaks across lines): strip the tags.
RECEIPT = re.compile(r'id="receipt"[^>]*>(.*?)</p>', re.S)


# --- helpers ---------------------------------------------------------------------------


class Browser:
    """A cookie-keeping HTTP client (the CSRF token lives in the session cookie)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        try:
            with self.opener.open(self.base + path, timeout=60) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:  # a used link answers 409 with its page
            return error.read().decode()

    def post(self, path: str, data: dict[str, str]) -> tuple[str, str]:
        """POST the form; return the final URL (after redirects) and the page."""
        body = urllib.parse.urlencode(data).encode()
        with self.opener.open(self.base + path, data=body, timeout=60) as response:
            return response.geturl(), response.read().decode()


def keys_in(instance: Path) -> RoundKeyFolder:
    return RoundKeyFolder(instance / "round-keys")


def csrf(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    folder = tmp_path / "instance"
    folder.mkdir()
    return folder


@pytest.fixture
def sqlite_in_instance(instance: Path) -> Iterator[tuple[str, Engine]]:
    """The embedded default: a migrated SQLite database inside the instance folder."""
    url = f"sqlite:///{instance / 'speakup.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start gunicorn (as the live_server fixture does) on a given database and instance."""
    started: list[LiveServer] = []

    def start(url: str, instance: Path, **extra_env: str) -> LiveServer:
        server = start_gunicorn(url, instance, tmp_path, **extra_env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)


def speakup_cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([str(VENV_BIN / "speakup"), *args], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def copy_of(instance: Path, destination: Path) -> dict[str, bytes]:
    """Copy every file of the instance folder, as an attacker would; return name -> bytes."""
    shutil.copytree(instance, destination)
    return {str(path.relative_to(destination)): path.read_bytes()
            for path in sorted(destination.rglob("*")) if path.is_file()}


def assert_absent(files: dict[str, bytes], needles: dict[str, bytes]) -> None:
    assert any(name.endswith(".db") for name in files)
    found = [(label, name) for label, needle in needles.items()
             for name, content in files.items() if needle in content]
    assert found == [], f"deleted data still in the copied files: {found[:10]}"


def wal_size(database: Path) -> int:
    wal = Path(f"{database}-wal")
    return wal.stat().st_size if wal.exists() else 0


def answer(base: str, token: str, comment: str, n: int) -> None:
    """Answer the survey through the running server, as a respondent's browser does."""
    browser = Browser(base)
    page = browser.get(f"/s/{token}")
    url, html = browser.post(f"/s/{token}", {
        "csrf_token": csrf(page), "item-psafe_1": str(n % 7 + 1), "item-speak_1": "4",
        "item-wres_5": "1", "group-ethnicity": ("white", "global_majority")[n % 2],
        "group-team": "prefer_not", "comment": comment, "send_anyway": "1",
    })
    assert url.endswith("/s/thanks"), html[:500]


# --- SQLite: a running server, the CLI publishes, the attacker copies instance/ ---------


def test_a_copy_of_instance_after_publication_holds_no_raw_answer(
    sqlite_in_instance, instance, gunicorn, tmp_path
):
    url, engine = sqlite_in_instance
    settings = Settings(instance_path=instance, database_url=url, secret_key=TEST_SECRET)
    clock = SystemClock()
    # Given an open round (k = 3) and six people's links …
    with make_session_factory(engine)() as session:
        survey = make_survey(session, clock, settings, addresses(6))
        round_ = open_round_now(session, clock, survey, settings)
        tokens = tokens_for(session, settings, round_, 6)
        session.commit()
        round_id = round_.id
    engine.dispose()
    server = gunicorn(url, instance)
    # … who answer through the running server, each with a distinctive comment (six
    # answers: fewer than the ten a round needs before comments are published) …
    comments = [f"needle-comment-{secrets.token_hex(12)}" for _ in tokens]
    for n, (token, comment) in enumerate(zip(tokens, comments, strict=True)):
        answer(server.url, token, comment, n)
    with make_session_factory(engine)() as session:
        response_ids = session.scalars(text("SELECT id FROM responses")).all()
        hashes = session.scalars(text("SELECT token_hash FROM token_hashes")).all()
        assert sorted(r.comment for r in opened(session, settings, round_)) == sorted(comments)
    engine.dispose()
    assert len(response_ids) == 6 and len(hashes) == 6
    # While the round is open, no file of instance/ holds a comment in plain text (the
    # database, its -wal, the key folder): each response is one sealed blob.
    assert_absent(copy_of(instance, tmp_path / "while-open"),
                  {f"comment {n}": c.encode() for n, c in enumerate(comments)})
    # … and the server keeps serving reads on its pooled connections.
    for token in tokens:
        assert "already been used" in Browser(server.url).get(f"/s/{token}")

    # When an admin closes and publishes the round with the CLI while the server runs …
    speakup_cli(server.env, "rounds", "close", str(round_id), "--yes")
    assert "Published round" in speakup_cli(server.env, "rounds", "publish", str(round_id), "--yes")
    Browser(server.url).get("/healthz")
    files = copy_of(instance, tmp_path / "attacker")

    # … then no byte of any file holds a comment, a response id, a token hash or a token.
    needles: dict[str, bytes] = {}
    for n, comment in enumerate(comments):
        needles[f"comment {n}"] = comment.encode()
    for n, rid in enumerate(response_ids):
        needles[f"response id {n}"] = rid.encode()
        needles[f"response id {n} (bytes)"] = bytes.fromhex(rid)
    for n, digest in enumerate(hashes):
        needles[f"token hash {n}"] = bytes(digest)
        needles[f"token hash {n} (hex)"] = bytes(digest).hex().encode()
    for n, token in enumerate(tokens):
        needles[f"token {n}"] = token.encode()
    assert_absent(files, needles)
    # The WAL was emptied, and the published result is there (the copy is not just empty).
    assert files.get("speakup.db-wal", b"") == b""
    assert b"published" in files["speakup.db"]
    # The round's key file was destroyed with the publication's commit.
    assert not [name for name in files if name.startswith("round-keys/")]
    assert "Traceback" not in server.log()


def test_a_copy_of_instance_after_concern_purge_holds_no_concern(
    sqlite_in_instance, instance, gunicorn, tmp_path
):
    url, engine = sqlite_in_instance
    settings = Settings(instance_path=instance, database_url=url, secret_key=TEST_SECRET)
    with make_session_factory(engine)() as session:
        keys.create_recovery_key(session, SystemClock(), ConcernConfig.from_settings(settings),
                                 actor="test")
        add_concern_reader(session, SystemClock(), ConcernConfig.from_settings(settings))
    server = gunicorn(url, instance)
    # Given two concerns raised through the running server, one reporter's reply each …
    receipts = []
    for n in range(2):
        browser = Browser(server.url)
        _, html = browser.post("/concerns/new", {
            "csrf_token": csrf(browser.get("/concerns/new")), "category": "1",
            "what_happened": f"needle-report-{n}", "what_wanted": ""})
        receipts.append(re.sub(r"<[^>]+>", "", RECEIPT.search(html).group(1)))
    # … closed more than a retention period ago …
    long_ago = dt.date.today() - dt.timedelta(days=800)
    with make_session_factory(engine)() as session:
        session.execute(update(Concern).values(status="closed", outcome="resolved",
                                               closed_on=long_ago))
        session.commit()
    with engine.connect() as conn:
        ciphertexts = [bytes(c) for c in conn.scalars(text("SELECT ciphertext FROM "
                                                           "concern_messages"))]
        wraps = [bytes(w) for w in conn.scalars(text("SELECT wrap FROM concern_key_wraps"))]
        receipt_hashes = [bytes(h) for h in conn.scalars(text("SELECT receipt_hash FROM "
                                                              "concerns"))]
        reporter_keys = [bytes(k) for k in conn.scalars(text("SELECT reporter_public_key "
                                                             "FROM concerns"))]
    engine.dispose()
    assert len(ciphertexts) == 2 and len(wraps) >= 4 and len(receipt_hashes) == 2
    Browser(server.url).get("/concerns/check")

    # When the retention purge runs from the CLI while the server runs …
    speakup_cli(server.env, "concerns", "purge")
    Browser(server.url).get("/healthz")
    files = copy_of(instance, tmp_path / "attacker")

    # … no ciphertext (whole, or any 32-byte stretch of it), key wrap, receipt hash or
    # reporter key is left anywhere in the files.
    needles: dict[str, bytes] = {}
    for n, ciphertext in enumerate(ciphertexts):
        for start in range(0, len(ciphertext) - 32, 256):
            needles[f"ciphertext {n} @{start}"] = ciphertext[start:start + 32]
    for label, values in (("wrap", wraps), ("receipt hash", receipt_hashes),
                          ("reporter key", reporter_keys)):
        for n, value in enumerate(values):
            needles[f"{label} {n}"] = value
    assert_absent(files, needles)
    assert files.get("speakup.db-wal", b"") == b""
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM concerns WHERE purged_on IS NOT NULL")) == 2
    engine.dispose()


# --- SQLite: the schema keeps no arrival order ------------------------------------------


def test_raw_tables_have_no_rowid_on_sqlite(sqlite_in_instance):
    _, engine = sqlite_in_instance
    with engine.connect() as conn:
        for table in RAW_TABLES:
            sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table})
            assert "WITHOUT ROWID" in sql, table
            with pytest.raises(Exception, match="no such column: rowid"):
                conn.execute(text(f"SELECT rowid FROM {table}"))
        assert conn.scalar(text("PRAGMA secure_delete")) == 1


def test_rows_come_back_in_key_order_not_answering_order(sqlite_in_instance, instance):
    _, engine = sqlite_in_instance
    with make_session_factory(engine)() as session:
        survey = make_closed_survey(session)
        round_ = make_round(session, survey, keys=keys_in(instance))
        ids = add_responses(session, round_, [Respondent({"psafe_1": 3}) for _ in range(50)])
        session.commit()
    with engine.connect() as conn:
        stored = conn.scalars(text("SELECT id FROM responses")).all()
    assert stored == sorted(ids) and stored != ids  # 1 in 50! of failing by chance


# --- erasure runs whoever commits, and only after a commit -------------------------------


def test_publication_commit_truncates_the_wal(sqlite_in_instance, instance):
    url, engine = sqlite_in_instance
    factory = make_session_factory(engine)
    with factory() as session:
        survey = make_closed_survey(session)
        round_ = make_round(session, survey, keys=keys_in(instance))
        add_responses(session, round_, [Respondent({"psafe_1": 3}, comment="wal-needle")] * 7)
        session.commit()
    assert wal_size(instance / "speakup.db") > 0
    with factory() as session:
        publish_round(session, session.get(type(round_), round_.id),
                      Settings(instance_path=instance, database_url=url, secret_key=TEST_SECRET),
                      FrozenClock())
        assert erasure_requested(session) == set(RAW_TABLES)
        assert wal_size(instance / "speakup.db") > 0  # not before the commit …
        session.commit()
        assert erasure_requested(session) == set()
    assert wal_size(instance / "speakup.db") == 0  # … at once after it
    assert b"wal-needle" not in (instance / "speakup.db").read_bytes()


def test_rows_of_a_round_that_stays_do_not_shelter_the_published_ones(sqlite_in_instance,
                                                                       instance):
    """Pages shared with another round's rows keep no stale copy of a published row."""
    url, engine = sqlite_in_instance
    factory = make_session_factory(engine)
    opens = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
    with factory() as session:
        # No comment question: the comments are never published, only stored raw.
        survey = make_closed_survey(session, comment_question=None)
        keys = keys_in(instance)
        published, still_open = (make_round(session, survey, keys=keys, opens_at=opens),
                                 make_round(session, survey, keys=keys, status="open",
                                            opens_at=opens + dt.timedelta(days=7)))
        answers = {"psafe_1": 3, "psafe_2": 5, "speak_1": 2, "wres_5": 1}
        comments = [f"stale-{secrets.token_hex(6)}" for _ in range(1500)]
        # Interleaved, as answers to two open rounds arrive: pages split and rebalance.
        for start in range(0, 1500, 100):
            gone = add_responses(session, published, [
                Respondent(answers, {"team": "a"}, comment=c) for c in comments[start:start + 100]])
            add_responses(session, still_open, [
                Respondent(answers, {"team": "b"}, comment="kept") for _ in range(50)])
            session.commit()
            if start == 0:
                first_ids = gone
        hashes = [secrets.token_bytes(32) for _ in range(1500)]
        session.execute(TokenHash.__table__.insert(), [
            {"token_hash": h, "round_id": r.id, "used": True}
            for h in hashes for r in (published,)] + [
            {"token_hash": secrets.token_bytes(32), "round_id": still_open.id, "used": False}
            for _ in range(750)])
        session.commit()
        publish_round(session, published, Settings(instance_path=instance, database_url=url,
                                                   secret_key=TEST_SECRET), FrozenClock())
        session.commit()
    data = (instance / "speakup.db").read_bytes()
    assert b"kept" in data
    left = [c for c in comments if c.encode() in data]
    left += [rid for rid in first_ids if rid.encode() in data]
    left += [h.hex() for h in hashes if h in data]
    assert left == []


def test_a_rolled_back_deletion_erases_nothing_and_forgets_the_request(sqlite_in_instance,
                                                                       instance):
    _, engine = sqlite_in_instance
    factory = make_session_factory(engine)
    with factory() as session:
        survey = make_closed_survey(session)
        round_ = make_round(session, survey, keys=keys_in(instance))
        add_responses(session, round_, [Respondent({"psafe_1": 3})] * 3)
        session.commit()
    wal_before = wal_size(instance / "speakup.db")
    with factory() as session:
        erase.delete_raw_responses(session, round_.id)
        session.rollback()
        assert erasure_requested(session) == set()
        assert raw_row_counts(session, round_.id)["responses"] == 3
    assert wal_size(instance / "speakup.db") == wal_before > 0


def test_a_savepoint_release_waits_for_the_real_commit(sqlite_in_instance, instance):
    _, engine = sqlite_in_instance
    with make_session_factory(engine)() as session:
        survey = make_closed_survey(session)
        round_ = make_round(session, survey, keys=keys_in(instance))
        add_responses(session, round_, [Respondent({"psafe_1": 3})] * 3)
        session.commit()
        with session.begin_nested():
            erase.delete_raw_responses(session, round_.id)
        assert erasure_requested(session) == {"responses"}
        session.commit()
    assert wal_size(instance / "speakup.db") == 0


def test_retention_purge_by_the_scheduler_job_erases(sqlite_in_instance, instance):
    url, engine = sqlite_in_instance
    settings = Settings(instance_path=instance, database_url=url, secret_key=TEST_SECRET,
                        raw_retention_days=1)
    clock = FrozenClock()
    factory = make_session_factory(engine)
    with factory() as session:
        survey = make_closed_survey(session)
        round_ = make_round(session, survey, keys=keys_in(instance))
        ids = add_responses(session, round_, [Respondent({"psafe_1": 3}, comment="a day")] * 7)
        publish_round(session, round_, settings, clock)
        session.commit()
    # Kept for a day: the sealed rows (no plaintext, ever) and the key that opens them.
    data = Path(f"{instance / 'speakup.db'}").read_bytes()
    assert all(rid.encode() in data for rid in ids) and b"a day" not in data
    assert len(list((instance / "round-keys").iterdir())) == 1
    clock.advance(days=1)
    with factory.begin() as session:  # how the scheduler's jobs run their work
        assert purge_expired_raw(session, settings, clock) == 1
    assert wal_size(instance / "speakup.db") == 0
    assert not [rid for rid in ids if rid.encode() in (instance / "speakup.db").read_bytes()]
    assert list((instance / "round-keys").iterdir()) == []


def test_batched_deletion_walks_key_ranges_and_spares_other_rounds(sqlite_in_instance,
                                                                   instance, monkeypatch):
    _, engine = sqlite_in_instance
    monkeypatch.setattr(erase, "_SQLITE_DELETE_BATCH", 4)
    with make_session_factory(engine)() as session:
        survey = make_closed_survey(session)
        opens = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
        doomed = make_round(session, survey, keys=keys_in(instance), opens_at=opens)
        kept = make_round(session, survey, keys=keys_in(instance),
                          opens_at=opens + dt.timedelta(days=7))
        person = Respondent({"psafe_1": 3, "speak_1": 2}, {"ethnicity": "white"})
        add_responses(session, doomed, [person] * 23)
        add_responses(session, kept, [person] * 9)
        session.execute(TokenHash.__table__.insert(), [
            {"token_hash": secrets.token_bytes(32), "round_id": r.id, "used": False}
            for r in (doomed, kept) for _ in range(11)])
        erase.delete_round_rows(session, TokenHash, doomed.id)
        erase.delete_raw_responses(session, doomed.id)
        session.commit()
        assert raw_row_counts(session, doomed.id) == dict.fromkeys(RAW_TABLES, 0)
        assert raw_row_counts(session, kept.id) == {"responses": 9, "token_hashes": 11}


def test_requests_from_a_test_session_bound_to_a_connection_are_left_alone(session):
    """The suite's rolled-back sessions record requests but never erase (nothing committed)."""
    request_erasure(session, "responses")
    session.commit()  # releases a savepoint of the test's outer transaction only
    assert session.scalar(text("SELECT 1")) == 1


# --- migration 0005 keeps the rows, both ways -------------------------------------------


def test_migration_0005_keeps_raw_rows_both_ways(empty_database_url):
    url = empty_database_url
    migrate.upgrade(url, "0004")
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            survey = make_closed_survey(session)
            round_id, ids = add_plaintext_round(session, survey, [
                Respondent({"psafe_1": 3}, {"team": "a"}, comment="kept")] * 5)
            session.execute(TokenHash.__table__.insert(), [
                {"token_hash": bytes([n]) * 32, "round_id": round_id, "used": True}
                for n in range(5)])
            session.commit()
        engine.dispose()
        expected = {"responses": 5, "response_answers": 5, "response_groups": 5,
                    "token_hashes": 5}
        for revision, rowid in (("0005", False), ("0004", True)):
            (migrate.upgrade if revision == "0005" else migrate.downgrade)(url, revision)
            with make_session_factory(engine)() as session:
                assert plaintext_counts(session, round_id) == expected
                assert sorted(session.scalars(text("SELECT id FROM responses"))) == sorted(ids)
                assert set(session.scalars(text("SELECT comment FROM responses"))) == {"kept"}
                if engine.dialect.name == "sqlite":
                    sql = session.scalar(text("SELECT sql FROM sqlite_master "
                                              "WHERE name = 'responses'"))
                    assert ("WITHOUT ROWID" not in sql) is rowid
            engine.dispose()
    finally:
        engine.dispose()


# --- PostgreSQL: the raw rows are gone and the tables were rewritten ---------------------
# (test_erasure_postgres_files.py reads the server's own files.)


def _pg(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def test_postgresql_publication_leaves_no_raw_row_and_rewrites(fresh_database_url, tmp_path):
    url = fresh_database_url
    instance = tmp_path / "instance"
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        with factory() as session:
            survey = make_closed_survey(session)
            round_ = make_round(session, survey, keys=keys_in(instance))
            needle = f"pg-needle-{secrets.token_hex(8)}"
            ids = add_responses(session, round_, [Respondent({"psafe_1": 3}, {"team": "a"},
                                                             comment=needle)] * 7)
            hashes = [secrets.token_bytes(32) for _ in range(7)]
            session.execute(TokenHash.__table__.insert(), [
                {"token_hash": h, "round_id": round_.id, "used": True} for h in hashes])
            session.commit()
        with factory() as session:
            publish_round(session, session.get(type(round_), round_.id),
                          Settings(instance_path=instance, database_url=url,
                                   secret_key=TEST_SECRET), FrozenClock())
            session.commit()
        with factory() as session:
            assert raw_row_counts(session, round_.id) == dict.fromkeys(RAW_TABLES, 0)
        if not _pg(url):
            assert wal_size(Path(make_url(url).database)) == 0
            assert needle.encode() not in Path(make_url(url).database).read_bytes()
            return
        with engine.connect() as conn:
            # VACUUM (FULL, ANALYZE): rewritten, then analysed (a plain VACUUM would set
            # last_vacuum; VACUUM FULL does not). n_dead_tup is no evidence either way:
            # the deleting backend may report its deletions after the ANALYZE did.
            stats = {row.relname: row for row in conn.execute(text(
                "SELECT relname, last_analyze FROM pg_stat_user_tables "
                "WHERE relname IN ('responses', 'token_hashes')"))}
            assert set(stats) == set(RAW_TABLES)
            assert all(row.last_analyze is not None for row in stats.values()), stats
            # No tuple of the round, live or dead, is left on any page of the tables.
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
            for table in RAW_TABLES:
                pages = conn.scalar(text(f"SELECT pg_relation_size('{table}') / "
                                         "current_setting('block_size')::int"))
                for page in range(pages):
                    left = conn.scalar(text(
                        f"SELECT count(*) FROM heap_page_items(get_raw_page('{table}', {page}))"
                        " WHERE t_data IS NOT NULL"))
                    assert left == 0, (table, page)
            conn.commit()
        dump = subprocess.run(
            ["pg_dump", "--data-only",
             make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)],
            capture_output=True, timeout=120, check=True).stdout
        assert b"published_results" in dump
        for needle_bytes in [needle.encode(), *(i.encode() for i in ids),
                             *(h.hex().encode() for h in hashes)]:
            assert needle_bytes not in dump
    finally:
        engine.dispose()


def test_concern_purge_service_erases_on_commit(fresh_database_url, tmp_path):
    url = fresh_database_url
    engine = make_engine(url)
    settings = Settings(instance_path=tmp_path / "instance", database_url=url,
                        secret_key=TEST_SECRET)
    config = ConcernConfig.from_settings(settings)
    clock = FrozenClock()
    try:
        factory = make_session_factory(engine)
        with factory() as session:
            keys.create_recovery_key(session, clock, config, actor="test")
            add_concern_reader(session, clock, config)
            services.submit_concern(session, clock, config, category_id=1,
                                    what_happened="purge-needle")
            session.execute(update(Concern).values(status="closed", outcome="resolved",
                                                   closed_on=clock.today()))
            session.commit()
        clock.advance(days=config.retention_days + 1)
        with factory.begin() as session:  # as the scheduler's purge job commits
            assert services.purge_expired(session, clock, config, actor="test") == 1
            assert {"concern_messages", "concern_key_wraps", "concerns"} <= erasure_requested(
                session)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM concern_messages")) == 0
            assert conn.scalar(text("SELECT receipt_hash FROM concerns")) is None
            if not _pg(url):
                assert wal_size(Path(make_url(url).database)) == 0
                return
            vacuumed = conn.scalars(text(  # VACUUM (FULL, ANALYZE) sets last_analyze
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")).all()
        assert {"concern_messages", "concern_key_wraps", "concerns"} <= set(vacuumed)
        assert not {"responses", "users"} & set(vacuumed)
    finally:
        engine.dispose()
