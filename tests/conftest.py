"""Shared fixtures: one suite, run on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import audit_memo
import flask_babel
import pyotp
import pytest
from argon2 import PasswordHasher
from babel.support import NullTranslations
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import BytecodeCache, bccache
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from concerns import keys as concern_keys
from speakup import accounts, migrate
from speakup.app import create_app
from speakup.clock import FrozenClock
from speakup.db import make_engine
from speakup.derived_keys import session_keys
from speakup.models import User
from speakup.settings import Settings
from speakup.web import services

PG_URL = os.environ.get("SPEAKUP_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"]
REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TEST_SECRET = "test-secret-key-" + "x" * 40
PASSWORD = "correct horse battery staple"
# pytest-xdist names each worker (gw0, gw1, ...); a serial run is "main". Names of databases
# carry it, so a database left behind by a crashed run says which worker made it.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def _new_database(kind: str, tmp_dir: Path) -> tuple[str, Callable[[], None]]:
    """Create an empty database of this kind; return its URL and a function that drops it."""
    if kind == "sqlite":
        path = tmp_dir / f"speakup-{WORKER}-{secrets.token_hex(4)}.sqlite3"
        path.touch(mode=0o600)  # an empty file is an empty database; engines never create one
        return f"sqlite:///{path}", lambda: None
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set SPEAKUP_TEST_DATABASE_URL")
    name = f"speakup_test_{WORKER}_{secrets.token_hex(6)}"
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


# Files whose tests act on the whole PostgreSQL server (its data directory, WAL settings and
# base backups), not only on a database of their own: under pytest-xdist (`--dist loadgroup`)
# each such file runs on one worker, its tests one after another.
SERVER_WIDE_FILES = {"test_erasure_postgres_files.py"}


# `make test-quick` runs the tests marked `quick` here: on SQLite only, in this process, on
# the session's migrated database, never a server, browser, new database or `slow` test.
NOT_QUICK_FIXTURES = {"live_server", "fresh_database_url", "empty_database_url", "pg_url",
                      "browser"}


# In-process tests that take half a second or more (listed by tools/not_quick.py from a
# timed run): still in `make test`, left out of the edit-run loop.
NOT_QUICK = frozenset() if os.environ.get("SPEAKUP_TIME_QUICK") else frozenset(
    line.strip() for line in (Path(__file__).parent / "not_quick.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#"))


def _quick(item: pytest.Item) -> bool:
    if any(item.get_closest_marker(m) for m in ("slow", "browser", "postgres")):
        return False
    if item.nodeid.split("[", 1)[0] in NOT_QUICK:
        return False
    names = set(getattr(item, "fixturenames", ()))
    if names & NOT_QUICK_FIXTURES:
        return False
    params = getattr(item, "callspec", None)
    return params is None or params.params.get("backend", "sqlite") == "sqlite"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SERVER_WIDE_FILES:
            item.add_marker(pytest.mark.xdist_group("postgresql-server"))
        if _quick(item):
            item.add_marker(pytest.mark.quick)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once per test session and backend."""
    url, drop = _new_database(backend, tmp_path_factory.mktemp("db"))
    migrate.upgrade(url)
    yield url
    drop()


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A brand-new, unmigrated database for migration and live-server tests."""
    url, drop = _new_database(backend, tmp_path)
    yield url
    drop()


@pytest.fixture
def fresh_database_url(empty_database_url: str) -> str:
    """A brand-new database migrated to head, committed to for real (live servers)."""
    migrate.upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection per test inside a transaction rolled back at the end."""
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    # Commits inside code under test only release savepoints; the outer rollback undoes all.
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False,
        info=session_keys(TEST_SECRET),  # as create_app's
    )


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as sess:
        yield sess


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        instance_path=tmp_path / "instance",
        database_url=database_url,
        secret_key=TEST_SECRET,
        secure_cookies=False,
        testing=True,
    )


# Staff passwords in this process are hashed with argon2id at its least cost: what a test
# checks (right or wrong password, rehash, lockout) does not depend on the cost, and the
# library's recommended parameters cost a tenth of a second a hash. Servers the tests
# start (`live_server`) keep the shipped hasher, whose parameters
# test_foundation_login.py checks.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
SHIPPED_HASHER = accounts._hasher
SHIPPED_DUMMY_HASH = accounts._DUMMY_HASH


@pytest.fixture(autouse=True, scope="session")
def _remembered_disclosure_decisions() -> Iterator[None]:
    """Each disclosure decision is made once per input in this process (tests/audit_memo.py)."""
    if os.environ.get("SPEAKUP_TEST_AUDIT_MEMO") == "0":
        yield
        return
    undo = audit_memo.install()
    yield
    undo()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    dummy = accounts._DUMMY_HASH
    accounts._hasher = CHEAP_HASHER
    accounts._DUMMY_HASH = CHEAP_HASHER.hash(secrets.token_hex(16))
    yield
    accounts._hasher, accounts._DUMMY_HASH = SHIPPED_HASHER, dummy


class _SharedTemplates(BytecodeCache):
    """Compiled templates kept for the whole test process (each test builds a new app)."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: bccache.Bucket) -> None:
        code = self.compiled.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


SHARED_TEMPLATES = _SharedTemplates()


@pytest.fixture
def app(
    settings: Settings, session_factory: sessionmaker[Session], clock: FrozenClock
) -> Iterator[Flask]:
    application = create_app(settings)
    # Keyed by template and source checksum, so an edited template is compiled afresh.
    application.jinja_env.bytecode_cache = SHARED_TEMPLATES
    svc = services(application)
    svc.session_factory = session_factory
    svc.clock = clock
    yield application
    svc.engine.dispose()


class Marked(NullTranslations):
    """Writes every message as ⟦message⟧: text that bypassed gettext stays bare."""

    def ugettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        return f"⟦{singular if n == 1 else plural}⟧"

    def upgettext(self, context: str, message: str) -> str:
        return self.ugettext(message)

    def unpgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self.ungettext(singular, plural, n)


@pytest.fixture
def marked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: Marked())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'type="hidden" name="csrf_token" value="([^"]+)"|'
                     r'name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return next(g for g in match.groups() if g)


def post_form(client: FlaskClient, url: str, data: dict[str, object], page: str | None = None,
              **kwargs: object):  # type: ignore[no-untyped-def]
    """GET the form page (for its CSRF token) then POST the data, as a browser would."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token_from(html), **data}, **kwargs)


@dataclass
class StaffAccount:
    user: User
    password: str

    def totp_now(self, clock: FrozenClock) -> str:
        assert self.user.totp_secret
        return pyotp.TOTP(self.user.totp_secret).at(clock.now())


@pytest.fixture
def make_user(session: Session, clock: FrozenClock) -> Callable[..., StaffAccount]:
    def make(role: str, email: str | None = None, password: str = PASSWORD,
             with_totp: bool | None = None) -> StaffAccount:
        user = accounts.create_user(
            session, clock, email=email or f"{role}-{secrets.token_hex(3)}@example.org",
            role=role, password=password, actor="test", with_totp=with_totp,
        )
        session.commit()
        return StaffAccount(user, password)

    return make


@pytest.fixture
def login_as(
    client: FlaskClient, make_user: Callable[..., StaffAccount], clock: FrozenClock
) -> Callable[..., StaffAccount]:
    """Sign the test client in as a new account of this role (TOTP included)."""

    def login(role: str, **kwargs: object) -> StaffAccount:
        account = make_user(role, **kwargs)
        data = {"email": account.user.email, "password": account.password}
        if account.user.totp_secret:
            data["totp"] = account.totp_now(clock)
        response = post_form(client, "/login", data)
        assert response.status_code == 302, response.get_data(as_text=True)
        # Each sign-in uses up its TOTP step; move on so a second login gets a fresh code.
        clock.advance(seconds=30)
        return account

    return login


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
    env.update(
        SPEAKUP_DATABASE_URL=database_url,
        SPEAKUP_SECRET_KEY=TEST_SECRET,
        SPEAKUP_INSTANCE_PATH=str(instance),
        SPEAKUP_SECURE_COOKIES="false",
        **extra,
    )
    return env


def start_gunicorn(
    database_url: str, instance: Path, log_dir: Path, workers: int = 2, threads: int = 4,
    port: int | None = None, **extra_env: str,
) -> LiveServer:
    """Start gunicorn with the shipped config on `port` (or a free one); return once healthy."""
    port = port or free_port()
    log_path = log_dir / f"gunicorn-{port}.log"
    env = server_env(database_url, instance, **extra_env)
    cmd = [
        str(VENV_BIN / "gunicorn"), "-c", str(REPO / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--access-logfile", "-", "--error-logfile", "-", "speakup.app:create_app()",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", proc, log_path, env)
    try:
        wait_for_health(server.url, proc, log_path)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()  # reaped, or Popen warns (an error here) when collected


def start_make_run(tmp_path: Path, port: int) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Run `make run PORT=port` as the README says; return the process, its instance and log.

    Only re-installing into the virtualenv the tests already run in is skipped (-o: the
    install stamp counts as up to date). Stop it with :func:`stop_make_run`.
    """
    instance = tmp_path / "instance"
    log = tmp_path / "make-run.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPEAKUP_", "MAKE", "MFLAGS"))}
    env["SPEAKUP_INSTANCE_PATH"] = str(instance)
    env["PYTHONUNBUFFERED"] = "1"
    cmd = ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed-stamp",
           f"BIN={VENV_BIN}", "run", f"PORT={port}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, instance, log


def stop_make_run(proc: subprocess.Popen[bytes]) -> None:
    """Stop make and everything it started (they share the process group it was given)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def live_server(fresh_database_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start gunicorn on a free port against a fresh database; stopped after the test."""
    started: list[LiveServer] = []

    def start(workers: int = 2, threads: int = 4, port: int | None = None,
              **extra_env: str) -> LiveServer:
        server = start_gunicorn(fresh_database_url, tmp_path / "instance", tmp_path,
                                workers, threads, port, **extra_env)  # fmt: skip
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)


def wait_for_health(url: str, proc: subprocess.Popen[bytes], log_path: Path,
                    timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not become healthy:\n{log_path.read_text()}")


def add_concern_reader(session: Session, clock: object, config: object,
                       email: str = "first-reader@example.org") -> User:
    """A handler who has signed in once (has a key pair), so concerns are taken.

    Concerns are refused until an active handler could read them (issue 19); tests that
    set up a database by hand call this next to `keys.create_recovery_key`. Commits.
    """
    password = "first reader's password"
    user = accounts.create_user(session, clock, email=email, role="handler",  # type: ignore[arg-type]
                                password=password, actor="test")
    assert concern_keys.unlock_handler_key(session, clock, config, user,  # type: ignore[arg-type]
                                          password) is not None
    session.commit()
    return user
