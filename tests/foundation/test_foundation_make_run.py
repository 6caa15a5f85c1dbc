"""`make run` smoke test: the README's first command, as a real process on a free port."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, start_make_run, stop_make_run


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_until_serving(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120  # first run: migrations and demo data
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`make run` exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if _get(url + "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"`make run` did not start serving:\n{log.read_text()}")


@pytest.mark.slow
def test_make_run_serves_healthz_and_login_without_logging_addresses(tmp_path: Path):
    port = free_port()
    proc, instance, log = start_make_run(tmp_path, port)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(url, proc, log)
        status, body = _get(url + "/healthz")
        assert (status, '"status":"ok"' in body.replace(" ", "")) == (200, True)
        status, body = _get(url + "/login")
        assert status == 200 and 'name="password"' in body and "Staff sign-in" in body
        assert _get(url + "/no-such-page")[0] == 404
        time.sleep(0.3)  # the request log line is written after the response
    finally:
        stop_make_run(proc)
    output = log.read_text()
    # Set-up ran: a private key, a migrated SQLite database, demo accounts printed once.
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0
    assert (instance / "speakup.sqlite3").exists()
    for role in ("admin", "handler", "reviewer"):
        assert re.search(rf"{role}\s+{role}@demo\.speakup\.local\s+password: \S+", output), output
    # The request log names no client address and no time of day.
    requests = [line for line in output.splitlines() if re.search(r'"(GET|POST) /', line)]
    assert any('"GET /login' in line for line in requests), output
    assert any('"GET /healthz' in line for line in requests), output
    assert not [line for line in requests if "127.0.0.1" in line], output
    assert not [line for line in requests if re.search(r"\d\d:\d\d:\d\d", line)], output
