"""`speakup db copy`: the demo installation moves from SQLite to PostgreSQL and still works.

The demo is seeded once into a SQLite file (its published figures and a reporter's page
are read there first); each test copies it into a PostgreSQL database of its own and
opens the copy with an app, as the README's steps do.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner
from conftest import PASSWORD, TEST_SECRET, _new_database, csrf_token_from, free_port
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, inspect, select, text, update
from sqlalchemy.orm import Session

from concerns import conversation
from concerns.demo_cases import REOPENING_REPLY, THREAD, THREAD_MESSAGES
from concerns.models import Concern, ConcernCategory
from review import demo as review_demo
from speakup import accounts, db_copy, migrate
from speakup.app import create_app
from speakup.cli import main
from speakup.clock import as_utc
from speakup.db import make_engine
from speakup.demo import DEMO_HANDLERS, seed_demo
from speakup.derived_keys import session_keys
from speakup.models import AuditEntry
from speakup.settings import Settings
from speakup.web import services
from surveys.models import Response, Round, Survey

pytestmark = pytest.mark.postgres

# Public, published documents: identical bytes before and after the move.
PUBLISHED = ["/results/report.json", "/results/report.csv", "/results/log.json"]


@dataclass
class Demo:
    url: str
    instance: Path
    receipt: str  # the demo's reply thread
    handler_password: str
    handler_totp: str
    published: dict[str, bytes]
    check_page: str


def _settings(url: str, instance: Path, secret: str = TEST_SECRET) -> Settings:
    return Settings(instance_path=instance, database_url=url, secret_key=secret,
                    secure_cookies=False, testing=True)


def _published(client: FlaskClient) -> dict[str, bytes]:
    documents = {}
    log = json.loads(client.get("/results/log.json").get_data())
    headers = [json.loads(entry["header"]) for entry in log["entries"]]
    seqs = [h["seq"] for h in headers if h["kind"] != "signing-key"]
    assert seqs, "the demo publishes signed figures"
    for url in PUBLISHED + [f"/results/publications/{seq}.json" for seq in seqs]:
        response = client.get(url)
        assert response.status_code == 200, url
        documents[url] = response.get_data()
    return documents


def _open_receipt(client: FlaskClient, receipt: str) -> str:
    token = csrf_token_from(client.get("/concerns/check").get_data(as_text=True))
    return client.post("/concerns/check", data={"csrf_token": token, "receipt": receipt}
                       ).get_data(as_text=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`speakup demo` on SQLite (the review's synthetic rounds made smaller, as elsewhere)."""
    tmp = tmp_path_factory.mktemp("demo")
    url, drop = _new_database("sqlite", tmp)
    migrate.upgrade(url)
    app = create_app(_settings(url, tmp / "instance"))
    whole = review_demo.publish_synthetic_rounds
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(review_demo, "publish_synthetic_rounds",
                      lambda session, settings, survey, today, sizes, rng:
                      whole(session, settings, survey, today, [30, 30], rng))
        seed_demo(app, lines.append)
    output = "\n".join(lines)
    receipt = re.search(re.escape(THREAD.shows) + r"\s+(\S+)", output).group(1)
    handler = re.search(re.escape(DEMO_HANDLERS[0]) + r"\s+password: (\S+)\s+TOTP secret (\S+)",
                        output)
    client = app.test_client()
    check_page = _open_receipt(client, receipt)
    yield Demo(url, tmp / "instance", receipt, handler.group(1), handler.group(2),
               _published(client), check_page)
    services(app).engine.dispose()
    drop()


def _env(source_url: str, instance: Path, secret: str = TEST_SECRET) -> dict[str, str]:
    return {"SPEAKUP_DATABASE_URL": source_url, "SPEAKUP_SECRET_KEY": secret,
            "SPEAKUP_INSTANCE_PATH": str(instance)}


def copy(source_url: str, target_url: str, instance: Path, secret: str = TEST_SECRET):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["db", "copy", "--to", target_url],
                              env=_env(source_url, instance, secret))


@pytest.fixture
def target(tmp_path: Path) -> Iterator[str]:
    """A newly created, empty PostgreSQL database."""
    url, drop = _new_database("postgresql", tmp_path)
    yield url
    drop()


@pytest.fixture
def copied(demo: Demo, target: str) -> Iterator[tuple[Flask, str]]:
    """The demo copied to PostgreSQL, and an app configured on the copy."""
    result = copy(demo.url, target, demo.instance)
    assert result.exit_code == 0, result.output
    app = create_app(_settings(target, demo.instance))
    yield app, result.output
    services(app).engine.dispose()


def _tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        engine.dispose()


def _normalised(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return as_utc(value)
    return value


def _every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in primary-key order, datetimes in UTC (SQLite drops the zone)."""
    engine = make_engine(url)
    rows = {}
    try:
        with engine.connect() as conn:
            metadata = MetaData()
            metadata.reflect(bind=conn)
            for table in metadata.sorted_tables:
                key = list(table.primary_key.columns) or list(table.columns)
                columns = sorted(table.columns, key=lambda c: c.name)
                rows[table.name] = [tuple(_normalised(v) for v in row)
                                    for row in conn.execute(select(*columns).order_by(*key))]
    finally:
        engine.dispose()
    return rows


def test_every_row_arrives_with_its_keys_and_bytes(demo, copied):
    _app, output = copied
    assert "Row counts are equal on both sides for every table." in output
    assert re.search(r"Audit log intact on the target: [1-9]\d* entries verified", output)
    source, target = _every_row(demo.url), _every_row(copied[0].extensions["speakup"]
                                                      .settings.database_url)
    assert source.keys() == target.keys()
    for name in source:
        assert source[name] == target[name], name
    # Sealed secrets, encrypted concerns, keyed hashes and chain HMACs are among them.
    assert target["users"] and target["concern_messages"] and target["audit_entries"]
    assert dict(db_copy.iter_table_counts(demo.url)) == dict(
        db_copy.iter_table_counts(copied[0].extensions["speakup"].settings.database_url))


def test_the_copy_says_nothing_about_its_rows(demo, copied):
    _app, output = copied
    for needle in (demo.receipt, demo.handler_password, demo.handler_totp, PASSWORD,
                   THREAD.what_happened[:30], THREAD_MESSAGES[0][1][:30]):
        assert needle not in output


def test_an_old_receipt_opens_its_concern_and_shows_the_replies(demo, copied):
    app, _output = copied
    reporter = app.test_client()
    page = _open_receipt(reporter, demo.receipt)
    for kind_text in (THREAD_MESSAGES[0][1], THREAD_MESSAGES[2][1], REOPENING_REPLY):
        assert kind_text in page
        assert kind_text in demo.check_page
    # The reporter answers on the new database: new rows get fresh ids (sequences reset).
    fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"',
                             page))
    fields.update(re.findall(r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"',
                             page))
    answer = "Thank you, moved to the new database and still here."
    answered = reporter.post("/concerns/reply", data={**fields, "text": answer})
    assert answer in answered.get_data(as_text=True)


def test_a_handler_signs_in_with_password_and_code_and_reads_the_concern(demo, copied):
    app, _output = copied
    staff = app.test_client()
    token = csrf_token_from(staff.get("/login").get_data(as_text=True))
    signed_in = staff.post("/login", data={
        "csrf_token": token, "email": DEMO_HANDLERS[0], "password": demo.handler_password,
        "totp": pyotp.TOTP(demo.handler_totp).now()})
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    svc = services(app)
    config = svc.extras["concerns"]
    lookup = conversation.receipt_keys(config, demo.receipt).lookup
    with svc.session_factory() as session:
        concern_id = session.scalar(select(Concern.id).where(Concern.receipt_hash == lookup))
    assert concern_id is not None
    page = staff.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert "My manager mocks the way I pronounce" in page  # decrypted with the handler's key
    assert THREAD_MESSAGES[1][1] in page


def test_published_figures_are_identical(demo, copied):
    app, _output = copied
    assert _published(app.test_client()) == demo.published


def test_audit_chain_verifies_and_new_rows_insert(copied):
    app, _output = copied
    # The app's own runner: `speakup audit verify` on the app configured on the copy.
    verified = app.test_cli_runner().invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "Audit log intact" in verified.output
    svc = services(app)
    with svc.session_factory() as session:
        largest = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
        user = accounts.create_user(session, svc.clock, email="after-the-move@example.org",
                                    role="reviewer", password=PASSWORD, actor="test")
        session.commit()
        assert user.id > 4  # the demo's four accounts keep theirs
        assert session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)
                              ) == largest + 1
    again = app.test_cli_runner().invoke(main, ["audit", "verify"])
    assert again.exit_code == 0, again.output


def test_refuses_a_target_that_holds_data(demo, target, tmp_path):
    migrate.upgrade(target)
    result = copy(demo.url, target, demo.instance)
    assert result.exit_code == 1
    assert "The target database is not empty" in result.output
    assert "Traceback" not in result.output


def test_refuses_an_unreachable_target(demo):
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    result = copy(demo.url, unreachable, demo.instance)
    assert result.exit_code == 1
    assert "Cannot reach the target database" in result.output
    assert "Traceback" not in result.output


def test_refuses_a_source_behind_the_head(target, tmp_path):
    source, _drop = _new_database("sqlite", tmp_path)
    migrate.upgrade(source, "0018")
    result = copy(source, target, tmp_path / "instance")
    assert result.exit_code == 1
    assert "not at the head" in result.output and "speakup db upgrade" in result.output
    assert _tables(target) == []


def test_a_failure_leaves_the_target_empty(demo, target):
    # Another installation's secret: the chain cannot verify, so nothing may be kept.
    result = copy(demo.url, target, demo.instance, secret="another-secret-" + "y" * 40)
    assert result.exit_code == 1
    assert "does not verify on the target" in result.output
    assert "nothing was written" in result.output
    assert _tables(target) == []
    # And it can then be done properly into the same database.
    assert copy(demo.url, target, demo.instance).exit_code == 0


def test_refuses_a_sqlite_target(demo, tmp_path):
    result = copy(demo.url, f"sqlite:///{tmp_path / 'other.sqlite3'}", demo.instance)
    assert result.exit_code == 1
    assert "must be a PostgreSQL database" in result.output
    assert not (tmp_path / "other.sqlite3").exists()


def test_no_file_is_left_behind(demo, target, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    before = sorted(p.name for p in demo.instance.iterdir())
    folder = sorted(p.name for p in Path(demo.url.removeprefix("sqlite:///")).parent.iterdir())
    assert copy(demo.url, target, demo.instance).exit_code == 0
    assert sorted(p.name for p in demo.instance.iterdir()) == before
    assert sorted(p.name for p in Path(demo.url.removeprefix("sqlite:///")).parent.iterdir()
                  ) == folder
    assert list((tmp_path / "tmp").iterdir()) == []


def test_secret_is_needed(demo, target):
    result = CliRunner().invoke(main, ["db", "copy", "--to", target], env={
        "SPEAKUP_DATABASE_URL": demo.url, "SPEAKUP_INSTANCE_PATH": str(demo.instance
                                                                       ) + secrets.token_hex(2),
        "SPEAKUP_SECRET_KEY": ""})
    assert result.exit_code == 1
    assert "secret key" in result.output.lower() and "Traceback" not in result.output
    assert _tables(target) == []


def _migrated_sqlite(tmp_path: Path) -> str:
    url, _drop = _new_database("sqlite", tmp_path)
    migrate.upgrade(url)
    return url


def test_responses_land_in_key_order_not_arrival_order(target, tmp_path):
    source = _migrated_sqlite(tmp_path)
    engine = make_engine(source)
    ids = [secrets.token_hex(16) for _ in range(40)]  # in the order they "arrived"
    with Session(engine) as session:
        survey = Survey(title="Pulse", item_ids=["psafe_1"], demographics=[],
                        schedule="monthly", created_on=dt.date(2026, 1, 1))
        session.add(survey)
        session.flush()
        opens = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
        round_ = Round(survey_id=survey.id, status="open", opens_at=opens,
                       closes_at=opens + dt.timedelta(days=14))
        session.add(round_)
        session.flush()
        for rid in ids:
            session.add(Response(id=rid, round_id=round_.id, sealed=secrets.token_bytes(64)))
            session.flush()
        session.commit()
    engine.dispose()
    assert copy(source, target, tmp_path / "instance").exit_code == 0
    engine = make_engine(target)
    with engine.connect() as conn:
        heap = list(conn.execute(text("SELECT id FROM responses ORDER BY ctid")).scalars())
        opened_at = conn.execute(select(Round.opens_at)).scalar_one()
    engine.dispose()
    assert heap == sorted(ids) != ids
    assert opened_at == dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)


def test_a_row_that_does_not_fit_is_named_by_table_not_by_value(target, tmp_path):
    source = _migrated_sqlite(tmp_path)
    engine = make_engine(source)
    with engine.begin() as conn:  # PostgreSQL text cannot hold a NUL character
        conn.execute(update(ConcernCategory).where(ConcernCategory.id == 1).values(
            label="needle-label\x00rest"))
    engine.dispose()
    result = copy(source, target, tmp_path / "instance")
    assert result.exit_code == 1
    assert "Copying concern_categories failed" in result.output
    assert "nothing was written" in result.output
    assert "needle" not in result.output
    assert _tables(target) == []


def test_the_old_file_goes_with_shred_once_the_service_has_stopped(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    url = f"sqlite:///{instance / 'speakup.sqlite3'}"
    (instance / "speakup.sqlite3").touch(mode=0o600)
    migrate.upgrade(url)
    app = create_app(_settings(url, instance))
    svc = services(app)
    with svc.session_factory() as session:
        accounts.create_user(session, svc.clock, email="old@example.org", role="reviewer",
                             password=PASSWORD, actor="test")
        session.commit()
    assert (instance / "speakup.sqlite3-wal").exists()  # while the service runs
    svc.engine.dispose()  # the service stops: its last connection closes
    assert not (instance / "speakup.sqlite3-wal").exists()
    done = subprocess.run(["sh", "-c", "shred -u instance/speakup.sqlite3*"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert not [p for p in instance.iterdir() if p.name.startswith("speakup.sqlite3")]


def test_small_batches_copy_the_same_rows(demo, target):
    # The demo's tables are smaller than a batch; seven rows at a time crosses many.
    report = db_copy.copy_database(demo.url, target, session_keys(TEST_SECRET), batch_rows=7)
    assert max(report.rows.values()) > 7 * 10
    assert _every_row(demo.url) == _every_row(target)
