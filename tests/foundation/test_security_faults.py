"""Issue 13, findings 4 and 7 (files): database faults fail loudly; the instance is private."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_SECRET, add_concern_reader
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from concerns import keys
from concerns.config import ConcernConfig
from speakup import migrate
from speakup.app import create_app
from speakup.cli import main
from speakup.db import DatabaseUnavailableError, make_engine
from speakup.instance import secure_instance
from speakup.readiness import check_before_serving
from speakup.settings import Settings
from speakup.web import services

TEXT = "Someone wrote something racist on the rota board."


def _settings(url: str, tmp_path: Path) -> Settings:
    return Settings(instance_path=tmp_path / "instance", database_url=url,
                    secret_key=TEST_SECRET, secure_cookies=False, testing=True)


def _ready_app(url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An app on a real, committed database (no test savepoints), ready for concerns."""
    app = create_app(_settings(url, tmp_path))
    svc = services(app)
    with svc.session_factory() as session:
        keys.create_recovery_key(session, svc.clock, ConcernConfig.from_settings(svc.settings),
                                 actor="test")
        add_concern_reader(session, svc.clock, ConcernConfig.from_settings(svc.settings))
    return app


@pytest.fixture
def live_app(fresh_database_url, tmp_path):  # type: ignore[no-untyped-def]
    app = _ready_app(fresh_database_url, tmp_path)
    yield app
    services(app).engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'speakup.sqlite3'}"
    migrate.upgrade(url)
    return url


def _submit(client):  # type: ignore[no-untyped-def]
    html = client.get("/concerns/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    return client.post("/concerns/new", data={"csrf_token": token, "category": "1",
                                              "what_happened": TEXT})


def _sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def test_engines_never_create_a_sqlite_database(tmp_path):
    path = tmp_path / "nothing-here.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(OperationalError), engine.connect():
            pass
    finally:
        engine.dispose()
    assert not path.exists(), "only `speakup db upgrade` creates a database"


def test_db_upgrade_creates_the_database_owner_only(tmp_path):
    env = {"SPEAKUP_INSTANCE_PATH": str(tmp_path / "instance"),
           "SPEAKUP_SECRET_KEY": TEST_SECRET, "SPEAKUP_DATABASE_URL": None}
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    database = tmp_path / "instance" / "speakup.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700


def test_secure_instance_tightens_what_exists_already(tmp_path):
    instance = tmp_path / "instance"
    (instance / "outbox").mkdir(parents=True, mode=0o755)
    (instance / "speakup.sqlite3").write_text("")
    (instance / "outbox" / "m.eml").write_text("")
    for path, mode in [(instance, 0o755), (instance / "outbox", 0o755),
                       (instance / "speakup.sqlite3", 0o644),
                       (instance / "outbox" / "m.eml", 0o644)]:
        path.chmod(mode)
    secure_instance(instance)
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert stat.S_IMODE((instance / "outbox").stat().st_mode) == 0o700
    assert stat.S_IMODE((instance / "speakup.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((instance / "outbox" / "m.eml").stat().st_mode) == 0o600


def test_deleted_sqlite_file_turns_healthz_red_and_issues_no_receipt(sqlite_url, tmp_path):
    live_app = _ready_app(sqlite_url, tmp_path)
    client = live_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert 'id="receipt"' in _submit(client).get_data(as_text=True)
    database = _sqlite_file(sqlite_url)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and "does not exist" in health.json["problems"][0]
    response = _submit(client)
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert 'id="receipt"' not in html and TEXT in html and "Nothing you typed" in html
    assert client.get("/privacy").status_code in (200, 503)  # never a bare 500
    assert not database.exists(), "nothing recreated the database behind the operator's back"
    services(live_app).engine.dispose()


def test_read_only_database_turns_healthz_red_and_keeps_the_text(live_app, backend):
    # Root ignores file modes, so read-only is made the engine's way on both: SQLite's
    # query_only pragma on every connection, PostgreSQL's read-only default.
    engine = services(live_app).engine
    if backend == "sqlite":
        event.listen(engine, "connect",
                     lambda conn, _r: conn.execute("PRAGMA query_only=ON"))
    else:
        with engine.connect() as conn:
            name = conn.execute(text("SELECT current_database()")).scalar()
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
            conn.commit()
    engine.dispose()
    client = live_app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and "cannot be written" in health.json["problems"][0]
    response = _submit(client)
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert 'id="receipt"' not in html and TEXT in html
    # (the fresh database is dropped after the test, read-only or not)


def test_unmigrated_database_refuses_to_start_and_healthz_says_why(empty_database_url,
                                                                   tmp_path):
    settings = _settings(empty_database_url, tmp_path)
    with pytest.raises(DatabaseUnavailableError, match="speakup db upgrade"):
        check_before_serving(settings)
    migrate.upgrade(empty_database_url, "0006")
    with pytest.raises(DatabaseUnavailableError, match="this code needs"):
        check_before_serving(settings)
    app = create_app(settings)
    try:
        health = app.test_client().get("/healthz")
        assert health.status_code == 503 and "speakup db upgrade" in health.json["problems"][0]
    finally:
        services(app).engine.dispose()
    migrate.upgrade(empty_database_url)
    check_before_serving(settings)


def test_serve_refuses_a_missing_database_with_one_clear_line(tmp_path):
    env = {"SPEAKUP_INSTANCE_PATH": str(tmp_path / "instance"),
           "SPEAKUP_SECRET_KEY": TEST_SECRET, "SPEAKUP_DATABASE_URL": None}
    result = CliRunner().invoke(main, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 1
    assert "does not exist" in result.output and "speakup db upgrade" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "instance" / "speakup.sqlite3").exists()
