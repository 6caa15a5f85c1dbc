"""Issue 18, finding 4: no log line carries a time of day, under gunicorn or `speakup serve`.

Flask's own logger wrote `[2026-12-07 03:05:39,289] ERROR in app` into gunicorn's log:
its default handler stamps the time, which gunicorn's anonymous logger never sees.
A time of day next to a date lets whoever holds the logs line an error up with the
moment someone sent a concern (rule 1 of DESIGN.md: dates only). These tests start the
real processes, make the app log at error level (its database disappears), and read
every byte each process wrote.
"""

from __future__ import annotations

import logging
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import (
    REPO,
    VENV_BIN,
    free_port,
    server_env,
    start_gunicorn,
    stop_server,
    wait_for_health,
)

from speakup import migrate
from speakup.logs import TIME_OF_DAY, DateOnlyFormatter

CLOCK_TIME = re.compile(r"(?<![0-9])[0-9]{1,2}:[0-9]{2}:[0-9]{2}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'speakup.sqlite3'}"
    migrate.upgrade(url)
    return url


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local server
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def _lose_the_database(url: str, base: str) -> None:
    """Delete the SQLite file under the running server and ask for a page that reads it:
    the app logs "Database fault" at error level through Flask's own logger."""
    database = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    assert _get(base + "/results/")[0] == 503


def _assert_no_time_of_day(log: str) -> None:
    assert "Database fault" in log, log  # the error-level line was written
    assert CLOCK_TIME.search(log) is None, log


def test_gunicorn_log_has_no_time_of_day(sqlite_url, tmp_path):
    server = start_gunicorn(sqlite_url, tmp_path / "instance", tmp_path, workers=1, threads=2)
    try:
        assert _get(server.url + "/")[0] == 200
        _lose_the_database(sqlite_url, server.url)
    finally:
        stop_server(server)
    _assert_no_time_of_day(server.log())


def test_speakup_serve_log_has_no_time_of_day(sqlite_url, tmp_path):
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = server_env(sqlite_url, tmp_path / "instance", PYTHONUNBUFFERED="1")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # with the in-process scheduler, as `make run` starts it
            [str(VENV_BIN / "speakup"), "serve", "--port", str(port)], cwd=REPO, env=env,
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", proc, log_path)
        assert _get(f"http://127.0.0.1:{port}/")[0] == 200
        _lose_the_database(sqlite_url, f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    _assert_no_time_of_day(log_path.read_text(errors="replace"))


def test_the_formatter_writes_the_date_only_and_hides_times_in_messages():
    record = logging.LogRecord("speakup.scheduler", logging.ERROR, __file__, 1,
                               "next run at: %s", ("2026-12-07 03:05:39.289 UTC",), None)
    line = DateOnlyFormatter().format(record)
    assert re.match(r"\[\d{4}-\d{2}-\d{2}\] ERROR in ", line), line
    assert CLOCK_TIME.search(line) is None and "2026-12-07" in line
    assert TIME_OF_DAY.sub("-", "at 23:59:59,123 and 0:01:00") == "at - and -"
