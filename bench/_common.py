"""Set-up the benchmarks share: the import path, gunicorn with the shipped configuration,
the synthetic survey's shape, throw-away PostgreSQL databases and the closed round they
publish.

Used by ``disclosure_audit``, ``insider_audit``, ``surveys``, ``pg_erasure`` and
``publish_sealed``, each run as ``python bench/<name>.py``: Python then puts bench/
first on the path, where ``bench/surveys.py`` would shadow the ``surveys`` package, so
importing this module (first) moves bench/ to the end of the path and puts the
repository root in front. ``use_test_helpers()`` adds the survey tests' reference code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "bench"))  # last: benches still import each other (fuzz)

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from speakup.db import make_engine  # noqa: E402
from surveys.models import Round, Survey  # noqa: E402
from surveys.round_keys import RoundKeyFolder  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# --- the sealed-response benchmarks' survey (surveys, pg_erasure, publish_sealed) -------

# 10 items: two scales (psafe with three reverse-scored items, speak) and two yes/no.
ITEMS = [*(f"psafe_{i}" for i in range(1, 7)), "speak_1", "speak_2", "wres_5", "wres_7"]
DEMOGRAPHICS = [
    {"id": "ethnicity", "label": "Ethnicity group",
     "options": [{"id": "global_majority", "label": "Global Majority"},
                 {"id": "white", "label": "White"}]},
    {"id": "team", "label": "Team or directorate",
     "options": [{"id": f"team_{i:02d}", "label": f"Team {i}"} for i in range(1, 13)]},
    {"id": "band", "label": "Pay band",
     "options": [{"id": f"band_{i}", "label": f"Band {i}"} for i in range(2, 9)]},
]
# The same questions as option ids only.
DEMOGRAPHIC_OPTIONS = {d["id"]: [o["id"] for o in d["options"]] for d in DEMOGRAPHICS}

# --- the audit benchmarks' round (disclosure_audit, insider_audit) -----------------------

K = 5
# 3 group questions of 10 groups each (9 listed + "prefer not to say").
DIMENSIONS = {f"q{d}": [*(f"g{d}_{i}" for i in range(9)), "prefer_not"] for d in range(3)}


def use_test_helpers() -> None:
    """Make the survey tests' reference aggregation and attackers importable."""
    sys.path.insert(0, str(REPO / "tests" / "surveys"))


def zipf_groups(rng: random.Random) -> dict[str, str]:
    """One respondent's groups: 95 % answer each question, Zipf-like sizes (a few big
    groups, a tail of small ones)."""
    groups = {}
    for dim, options in DIMENSIONS.items():
        if rng.random() < 0.95:
            groups[dim] = rng.choices(options, weights=[1 / (i + 1) ** 1.6
                                                        for i in range(len(options))])[0]
    return groups


# --- databases ---------------------------------------------------------------------------


def pg_url() -> str:
    return (os.environ.get("SPEAKUP_BENCH_DATABASE_URL")
            or os.environ.get("SPEAKUP_TEST_DATABASE_URL") or DEFAULT_PG)


@contextlib.contextmanager
def fresh_postgres(url: str) -> Iterator[str]:
    """A throw-away database on the server of `url`, dropped afterwards; yield its URL."""
    name = f"speakup_bench_{secrets.token_hex(4)}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def benchmark_survey(created_on: dt.date) -> Survey:
    return Survey(
        title="Benchmark pulse", intro="", item_ids=ITEMS, demographics=DEMOGRAPHICS,
        comment_question="Anything else?", schedule="monthly, first Monday 09:00",
        timezone="Europe/London", open_days=14, reminder_offsets_days=[],
        min_group_size=5, active=True, created_on=created_on,
    )


def add_closed_round(session: Session, folder: RoundKeyFolder, n: int) -> Round:
    """The benchmark survey with one closed round for `n` respondents, its key in
    `folder`; committed."""
    survey = benchmark_survey(dt.date(2026, 1, 1))
    session.add(survey)
    session.flush()
    opens = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
    round_ = Round(
        survey_id=survey.id, status="closed", opens_at=opens,
        closes_at=opens + dt.timedelta(days=14), reminder_times=[], reminders_sent=0,
        min_group_size=5, invited_count=int(n * 1.25), raw_deleted=False,
    )
    session.add(round_)
    session.flush()
    round_.public_key = folder.create(round_.id).public_key
    session.commit()
    return round_


# --- gunicorn ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gunicorn:
    """A gunicorn started by :func:`start_gunicorn`; `log` holds its error log."""

    process: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path
    access_log: Path | None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (master and workers)."""
        ticks = 0
        pids = [self.process.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:  # ppid
                pids.append(int(stat.parent.name))
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")


def start_gunicorn(app_spec: str, env: dict[str, str], workdir: Path, *,
                   health: str = "/healthz", access_format: str | None = None,
                   timeout: float = 60) -> Gunicorn:
    """Start gunicorn with the shipped gunicorn.conf.py on a free loopback port, return
    once `health` answers 200.

    The shipped configuration refuses to start without a migrated Speak Up database
    (its on_starting check reads SPEAKUP_* from `env`): the floor app (bench/floor.py) is
    given the Speak Up database of its run for that check. The access log is written to
    a file only when `access_format` is given (the benches reading server times).
    """
    port = free_port()
    log = workdir / f"gunicorn-{port}.log"
    access = workdir / f"access-{port}.log" if access_format else None
    cmd = [str(VENV_BIN / "gunicorn"), "-c", str(REPO / "gunicorn.conf.py"),
           "--bind", f"127.0.0.1:{port}", "--error-logfile", "-"]
    if access is not None:
        access.touch()
        cmd += ["--access-logfile", str(access), "--access-logformat", str(access_format)]
    else:
        cmd += ["--access-logfile", "/dev/null"]
    with log.open("wb") as out:
        process = subprocess.Popen([*cmd, app_spec], cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    server = Gunicorn(process, f"http://127.0.0.1:{port}", port, log, access)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(server.url + health, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not start:\n{log.read_text(errors='replace')}")
