"""No client address or user agent reaches the database, a log or the code (rule 1)."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.cookiejar
import importlib.util
import logging
import re
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pyotp
import pytest
from conftest import PASSWORD, REPO, csrf_token_from, post_form
from flask import request
from foundation_support import walk_routes
from gunicorn.glogging import SafeAtoms
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from speakup import accounts
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.devserver import AnonymousRequestHandler
from speakup.web import IDENTIFYING_ENVIRON_KEYS, StripIdentifyingMetadata, public

# Distinctive values nobody would type by chance.
FORWARDED_FOR = "203.0.113.77"
REMOTE_ADDR = "198.51.100.23"
USER_AGENT = "CanaryBrowser/7.7 (speakup-ua-canary)"
REFERER = "https://intranet.example/people/jane-canary"
CANARIES = (FORWARDED_FOR, REMOTE_ADDR, USER_AGENT, "speakup-ua-canary", "jane-canary")
HEADERS = {"X-Forwarded-For": FORWARDED_FOR, "User-Agent": USER_AGENT, "Referer": REFERER,
           "X-Real-IP": FORWARDED_FOR, "Forwarded": f"for={FORWARDED_FOR}"}
PACKAGES = ("speakup", "concerns", "surveys", "review")


def fingerprints() -> set[str]:
    """The canaries, and what Flask-Login would have derived from them."""
    derived = {
        hashlib.sha512(f"{addr}|{USER_AGENT}".encode()).hexdigest()
        for addr in (FORWARDED_FOR, REMOTE_ADDR, "None", "")
    }
    return set(CANARIES) | derived


def dump_database(conn: Connection) -> str:
    """Every column of every row of every table, as text."""
    parts = []
    for table in inspect(conn).get_table_names():
        rows = conn.execute(text(f'SELECT * FROM "{table}"')).fetchall()
        parts.append(f"## {table}\n" + "\n".join(" | ".join(map(str, row)) for row in rows))
    return "\n".join(parts)


def leaks(text_: str) -> list[str]:
    return sorted(value for value in fingerprints() if value in text_)


def test_identifying_request_data_never_reaches_the_app(app):
    seen = {}

    @public
    def echo() -> str:
        seen.update(addr=request.remote_addr, agent=request.user_agent.string,
                    forwarded=request.headers.get("X-Forwarded-For"),
                    referrer=request.referrer, access_route=list(request.access_route))
        return "ok"

    app.add_url_rule("/_test/echo", "test_echo", echo)
    response = app.test_client().get("/_test/echo", headers=HEADERS,
                                     environ_base={"REMOTE_ADDR": REMOTE_ADDR})
    assert response.status_code == 200
    assert seen == {"addr": None, "agent": "", "forwarded": None, "referrer": None,
                    "access_route": []}


def test_middleware_removes_keys_from_the_servers_environ():
    environ = {key: "canary" for key in IDENTIFYING_ENVIRON_KEYS} | {"PATH_INFO": "/"}
    StripIdentifyingMetadata(lambda env, start: [b""])(environ, lambda *a: None)
    assert environ == {"PATH_INFO": "/"}


def test_no_client_metadata_in_database_or_logs(app, client, make_user, clock, session, caplog):
    """A run of requests with distinctive metadata leaves no trace of it anywhere."""
    caplog.set_level(logging.DEBUG)
    client.environ_base.update({"REMOTE_ADDR": REMOTE_ADDR, **{
        "HTTP_" + k.upper().replace("-", "_"): v for k, v in HEADERS.items()}})
    admin, reviewer = make_user("admin"), make_user("reviewer")
    # Given: failed and successful sign-ins, an admin at work, and every public page.
    post_form(client, "/login", {"email": reviewer.user.email, "password": "wrong password!"})
    post_form(client, "/login", {"email": "nobody@example.org", "password": "wrong password!"})
    assert post_form(client, "/login", {"email": admin.user.email, "password": PASSWORD,
                                        "totp": admin.totp_now(clock)}).status_code == 302
    post_form(client, "/admin/accounts/new", {"email": "new@example.org", "role": "reviewer",
                                              "password": PASSWORD})
    for visit in walk_routes(app, client, "admin"):  # signs out last
        assert visit.response.status_code < 600
    other = app.test_client()
    other.environ_base.update(client.environ_base)
    for visit in walk_routes(app, other, None):
        assert visit.response.status_code < 600
    # Then: nothing in any table, any log record or the session cookie.
    session.flush()
    assert leaks(dump_database(session.connection())) == []
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert leaks(logged) == []
    cookie = client.get_cookie("speakup_session")
    data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert leaks(repr(data)) == []


IDENTIFYING_CODE = re.compile(r"(?i)remote_addr|x[-_]forwarded[-_]for|user[-_]agent|access_route"
                              r"|\bREFERER\b|\.referrer\b")
# The one documented place: the middleware that deletes these values from every request.
ALLOWED = {("speakup/web.py", "IDENTIFYING_ENVIRON_KEYS")}


def test_code_never_reads_client_address_or_user_agent():
    offending = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            in_allowed_block = False
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if line.startswith("IDENTIFYING_ENVIRON_KEYS"):
                    in_allowed_block = (rel, "IDENTIFYING_ENVIRON_KEYS") in ALLOWED
                elif in_allowed_block and line.startswith(")"):
                    in_allowed_block = False
                    continue
                if in_allowed_block or line.lstrip().startswith("#"):
                    continue
                if IDENTIFYING_CODE.search(line):
                    offending.append(f"{rel}:{number}: {line.strip()}")
    assert not offending, "code that reads client metadata:\n" + "\n".join(offending)


def test_templates_never_show_client_metadata():
    offending = [
        str(path.relative_to(REPO))
        for path in (REPO / "templates").rglob("*.html")
        if re.search(r"(?i)remote_addr|user_agent|access_route|request\.(referrer|headers"
                     r"|environ)", path.read_text())
    ]
    assert not offending


def _seed_staff(url: str) -> tuple[str, str]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            user = accounts.create_user(session, SystemClock(), email="live@example.org",
                                        role="admin", password=PASSWORD, actor="test")
            session.commit()
            return user.email, user.totp_secret or ""
    finally:
        engine.dispose()


def _browse(base: str, email: str, totp_secret: str) -> list[int]:
    """Use the live server as a browser would, with distinctive metadata on every request."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = list(HEADERS.items())
    statuses = []

    def go(path: str, data: dict[str, str] | None = None) -> str:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with opener.open(base + path, data=body, timeout=10) as resp:
                statuses.append(resp.status)
                return resp.read().decode()
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
            return exc.read().decode()

    go("/")
    go("/privacy")
    token = csrf_token_from(go("/login"))
    go("/login", {"csrf_token": token, "email": email, "password": "wrong password!"})
    go("/login", {"csrf_token": token, "email": "nobody@example.org", "password": "wrong!"})
    go("/login", {"csrf_token": token, "email": email, "password": PASSWORD,
                  "totp": pyotp.TOTP(totp_secret).now()})
    go("/admin/accounts")
    go("/no-such-page")
    return statuses


def _request_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if re.search(r'"(GET|POST) /', line)]


def _malformed_request(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1024)


def _wait_for_access_line(server, needle: str) -> str:  # type: ignore[no-untyped-def]
    # gunicorn writes the access line after the response; give the worker a moment.
    for _ in range(50):
        log = server.log()
        if any(needle in line for line in _request_lines(log)):
            return log
        time.sleep(0.1)
    return server.log()


def test_live_gunicorn_logs_and_database_hold_no_client_metadata(live_server, fresh_database_url):
    email, secret = _seed_staff(fresh_database_url)
    server = live_server(workers=1, threads=2)
    statuses = _browse(server.url, email, secret)
    assert 200 in statuses and 401 in statuses and 404 in statuses
    _malformed_request(server.url)
    log = _wait_for_access_line(server, '"GET /no-such-page')
    lines = _request_lines(log)
    assert any('"GET /admin/accounts' in line for line in lines), log
    assert "Invalid request from ip=-" in log, "gunicorn's own warning, address removed"
    assert leaks(log) == []
    assert not [line for line in lines if "127.0.0.1" in line]
    # The only address in the log is the one gunicorn listens on.
    assert all("Listening at" in line for line in log.splitlines() if "127.0.0.1" in line), log
    # Dates only: no time of day on request lines.
    assert not [line for line in lines if re.search(r"\d\d:\d\d:\d\d", line)]
    engine = make_engine(fresh_database_url)
    try:
        with engine.connect() as conn:
            assert leaks(dump_database(conn)) == []
    finally:
        engine.dispose()


def load_gunicorn_conf():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("speakup_gunicorn_conf",
                                                  REPO / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_logger_hides_metadata_even_with_a_careless_format():
    conf = load_gunicorn_conf()
    assert conf.logger_class is conf.AnonymousLogger
    logger = conf.AnonymousLogger.__new__(conf.AnonymousLogger)
    resp = SimpleNamespace(status="200 OK", sent=123, headers=[])
    req = SimpleNamespace(headers=[("USER-AGENT", USER_AGENT), ("X-FORWARDED-FOR", FORWARDED_FOR),
                                   ("REFERER", REFERER)])
    environ = {"REMOTE_ADDR": REMOTE_ADDR, "HTTP_USER_AGENT": USER_AGENT,
               "HTTP_X_FORWARDED_FOR": FORWARDED_FOR, "HTTP_REFERER": REFERER,
               "REQUEST_METHOD": "GET", "RAW_URI": "/privacy", "SERVER_PROTOCOL": "HTTP/1.1"}
    careless = ('%(h)s %(a)s %(f)s %({x-forwarded-for}i)s %({user-agent}i)s '
                '%({remote_addr}e)s %(t)s "%(r)s" %(s)s')
    line = careless % SafeAtoms(logger.atoms(resp, req, environ, dt.timedelta(seconds=1)))
    assert leaks(line) == []
    assert '"GET /privacy HTTP/1.1" 200' in line
    assert not re.search(r"\d\d:\d\d", line), "dates only"


def test_gunicorn_logger_redacts_addresses_in_warnings(caplog):
    conf = load_gunicorn_conf()
    logger = conf.AnonymousLogger.__new__(conf.AnonymousLogger)
    logger.error_log = logging.getLogger("speakup-test-gunicorn")
    with caplog.at_level(logging.WARNING, logger="speakup-test-gunicorn"):
        logger.warning(f"Invalid request from ip={REMOTE_ADDR}: Request Line is too large")
    assert "Invalid request from ip=-" in caplog.text
    assert REMOTE_ADDR not in caplog.text


@pytest.mark.parametrize("path", ["gunicorn.conf.py"])
def test_shipped_access_log_format_has_no_address(path):
    source = (REPO / path).read_text()
    fmt = re.search(r"access_log_format = '([^']*)'", source)
    assert fmt and not re.search(r"%\((h|a|f|\{[^}]*\}[ie])\)s", fmt.group(1))
    readme = (REPO / "README.md").read_text()
    assert fmt.group(1) in readme, "the README documents the format in use"


def test_devserver_log_has_no_address_or_time():
    handler = AnonymousRequestHandler.__new__(AnonymousRequestHandler)
    assert handler.address_string() == "-"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", handler.log_date_time_string())


def test_repo_has_no_leftover_identifying_code_paths():
    # Sanity check on the scanner itself: it must flag what it is meant to flag.
    assert IDENTIFYING_CODE.search("ip = request.remote_addr")
    assert IDENTIFYING_CODE.search('request.headers.get("User-Agent")')
    assert IDENTIFYING_CODE.search("request.headers['X-Forwarded-For']")
    assert not IDENTIFYING_CODE.search("address = normalise_email(email)")
    assert Path(REPO / "speakup" / "web.py").exists()
