"""Invitation tokens travel in URLs: they must never reach a log line of a real server."""

from __future__ import annotations

import re
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import TEST_SECRET, VENV_BIN, free_port, server_env, wait_for_health
from surveys_testlib import make_survey, open_round_now, tokens_for

from speakup import migrate
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.logredact import redact_request_line
from speakup.settings import Settings

TOKEN = "tok3nSh0uldNeverBeLogged"
DATED = re.compile(r"\[\d{4}-\d\d-\d\d\]")
COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # Werkzeug colours status codes


def test_redaction_keeps_the_route_but_not_the_token():
    assert redact_request_line(f'"GET /s/{TOKEN} HTTP/1.1" 404') == '"GET /s/- HTTP/1.1" 404'
    assert redact_request_line(f"POST /s/{TOKEN}?a=1") == "POST /s/-?a=1"
    assert redact_request_line(f"GET /s//{TOKEN}/more HTTP/1.1") == "GET /s/- HTTP/1.1"
    assert redact_request_line(f"GET /s%2F{TOKEN} HTTP/1.1") == "GET /s/- HTTP/1.1"
    assert redact_request_line(f"syntax ('GET /s/{TOKEN} HTTP/1.1 x')") == (
        "syntax ('GET /s/- HTTP/1.1 x')")
    assert redact_request_line("GET /concerns/new") == "GET /concerns/new"
    assert redact_request_line("GET /admin/surveys/3/rounds") == "GET /admin/surveys/3/rounds"


def _issue_real_token(database_url: str, instance: Path) -> str:
    """Open a round in the server's database and issue one invitation token for it."""
    settings = Settings(instance_path=instance, database_url=database_url,
                        secret_key=TEST_SECRET)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            clock = SystemClock()
            survey = make_survey(session, clock, settings, ["someone@example.org"])
            round_ = open_round_now(session, clock, survey, settings)
            [token] = tokens_for(session, settings, round_, 1)
            session.commit()
    finally:
        engine.dispose()
    return token


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _raw_request(port: int, request_line: str) -> bytes:
    """Send a request line no HTTP client would send, and read the server's answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"{request_line}\r\nHost: 127.0.0.1\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def _requests_made_with(base: str, port: int, token: str) -> None:
    assert _status(f"{base}/s/{token}") == 200  # the answering page, for a real token
    assert _status(f"{base}/s/{token}?from=mail") == 200
    assert _status(f"{base}/s/{token}/extra") == 404
    other = "y" if token.endswith("x") else "x"  # a different last symbol: never the real token
    assert _status(f"{base}/s/{token[:-1]}{other}") == 404  # unknown link
    assert b"400" in _raw_request(port, f"GET /s/{token} HTTP/1.1 junk")  # bad request


def _assert_log_is_clean(log: str, token: str) -> list[str]:
    """No token or part of it, no client address; return the request lines."""
    assert token not in log and token[:12] not in log, log
    requests = [line for line in log.splitlines() if "/s/" in line]
    assert len(requests) >= 4, log
    assert all("/s/-" in line for line in requests), log
    assert any('"GET /s/-?from=mail HTTP/1.1" 200' in line for line in requests), log
    assert any('"GET /s/- HTTP/1.1" 404' in line for line in requests), log
    for line in requests:
        assert "127.0.0.1" not in line, line
        assert not re.search(r"\d\d:\d\d:\d\d", line), line
        assert DATED.search(line), line
    return requests


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> tuple[str, Path]:
    """A migrated SQLite database and an instance folder of its own, as `make run` has."""
    instance = tmp_path / "instance"
    instance.mkdir()
    url = f"sqlite:///{instance / 'speakup.sqlite3'}"
    migrate.upgrade(url)
    return url, instance


def test_local_server_log_has_no_token_and_no_address(sqlite_instance, tmp_path):
    # Given: `speakup serve` (what `make run` starts) and a real invitation token.
    database_url, instance = sqlite_instance
    token = _issue_real_token(database_url, instance)
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = server_env(database_url, instance, PYTHONUNBUFFERED="1")
    cmd = [str(VENV_BIN / "speakup"), "serve", "--host", "127.0.0.1", "--port", str(port),
           "--without-scheduler"]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(base, proc, log_path)
        # When: the link is followed, with a query string, on 404 paths and malformed.
        _requests_made_with(base, port, token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Then: Werkzeug logs each line before it answers, so the log is complete here.
    log = COLOURS.sub("", log_path.read_text(errors="replace"))
    requests = _assert_log_is_clean(log, token)
    assert all(line.startswith("- - - [") for line in requests), log
    assert any('"GET /s/- HTTP/1.1 junk" 400' in line for line in requests), log
    # The only address in the whole log is the server's own, in its start-up banners.
    own = (f"Running on http://127.0.0.1:{port}", f"Links in e-mails point to {base}")
    assert [line for line in log.splitlines() if "127.0.0.1" in line] == [
        line for line in log.splitlines() if line.endswith(own)], log


def test_gunicorn_logs_have_no_token_and_no_address(live_server, fresh_database_url, tmp_path):
    server = live_server(workers=1, threads=2)
    token = _issue_real_token(fresh_database_url, tmp_path / "instance")
    port = int(server.url.rsplit(":", 1)[1])
    _requests_made_with(server.url, port, token)
    # gunicorn writes an access line after the response; a graceful stop finishes it.
    server.process.terminate()
    server.process.wait(timeout=30)
    log = server.log()
    _assert_log_is_clean(log, token)
    assert "Invalid request from ip=-" in log, log  # the malformed one, address removed
    assert "127.0.0.1" not in log.replace(f"Listening at: {server.url}", ""), log

