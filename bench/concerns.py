"""Benchmark concern submissions through gunicorn, against the floor app, on SQLite and PostgreSQL.

    .venv/bin/python bench/concerns.py [--backends sqlite,postgresql] [--quick]

For each database: starts Speak Up under gunicorn on 127.0.0.1 (the shipped
gunicorn.conf.py: 2 workers × 4 threads), and the same for bench/floor.py; submits
concerns with 1, 16 and 64 concurrent clients (bench/loadgen.py: each client GETs the
form and its CSRF token, then POSTs, like a browser); prints throughput, POST latency
p50/p99, errors, the server's own time per submission (from gunicorn's access log,
in microseconds), our throughput as a share of the floor's, and the rows counted
afterwards (no submission may be lost). It also times each step of a submission in
process: validation and reading the readers' keys, encryption and wraps, storing,
rendering the receipt page.

Figures only: this is not a test and asserts nothing about speed. PostgreSQL is
reached at $SPEAKUP_BENCH_DATABASE_URL, else $SPEAKUP_TEST_DATABASE_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/postgres; a throw-away database is
created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import render_template
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
# Run as `python bench/concerns.py`, Python puts bench/ first on the path, where this
# very file would shadow the `concerns` package: import from the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench._common import Gunicorn, start_gunicorn  # noqa: E402
from bench.floor import create_schema  # noqa: E402
from bench.loadgen import LoadResult, LoadSpec, run_load  # noqa: E402
from concerns import crypto, keys, services  # noqa: E402
from concerns.models import Concern  # noqa: E402
from speakup import accounts, migrate  # noqa: E402
from speakup.app import create_app  # noqa: E402
from speakup.clock import SystemClock  # noqa: E402
from speakup.db import make_engine  # noqa: E402
from speakup.settings import Settings  # noqa: E402
from speakup.web import db  # noqa: E402
from speakup.web import services as app_services  # noqa: E402

SECRET = "bench-secret-" + "b" * 40
HANDLERS = 3  # each new concern is wrapped to them, the reporter and the recovery key
LEVELS = ((1, 200), (16, 800), (64, 1280))
QUICK_LEVELS = ((1, 50), (16, 160), (64, 256))
SMOKE_LEVELS = ((1, 4), (2, 4))  # --smoke: only that the bench still runs (tests/foundation)
REPORT = (
    "At the team meeting on Tuesday the shift lead made a joke about my accent and my "
    "name, and several people laughed. It has happened before, and when I said it upset "
    "me I was told I was being too sensitive. Since then I have been left off the rota "
    "for the training days that others were offered. I would like someone to look into "
    "how training places are given out on our ward. " * 2
)
ACCESS_FORMAT = '"%(r)s" %(s)s %(D)s'  # request line, status, microseconds: no address
ACCESS_LINE = re.compile(r'"POST (\S+) HTTP/[0-9.]+" (\d+) (\d+)')


def _fields(number: int) -> dict[str, str]:
    return {"category": str(number % 4 + 1), "what_happened": f"{REPORT} (#{number})",
            "what_wanted": "A fair process."}


def post_times(server: Gunicorn, since: int, path: str) -> tuple[list[float], int]:
    """Server-side seconds of POSTs to `path` logged after byte offset `since`."""
    assert server.access_log is not None
    with server.access_log.open("rb") as log:
        log.seek(since)
        data = log.read().decode(errors="replace")
    times = [int(m.group(3)) / 1e6 for m in ACCESS_LINE.finditer(data)
             if m.group(1) == path and m.group(2) == "200"]
    return times, since + len(data.encode())


def serve(app_spec: str, env: dict[str, str], workdir: Path, health: str) -> Gunicorn:
    return start_gunicorn(app_spec, env, workdir, health=health, access_format=ACCESS_FORMAT)


def new_database(backend: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    admin_url = (os.environ.get("SPEAKUP_BENCH_DATABASE_URL")
                 or os.environ.get("SPEAKUP_TEST_DATABASE_URL")
                 or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"speakup_bench_{secrets.token_hex(4)}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def prepare(url: str, workdir: Path) -> Settings:
    """Migrate, set up the recovery key and a few handlers with key pairs."""
    migrate.upgrade(url)
    settings = Settings(instance_path=workdir / "instance", database_url=url,
                        secret_key=SECRET, secure_cookies=False, concerns_per_minute=10**6)
    app = create_app(settings)
    svc = app_services(app)
    config = svc.extras["concerns"]
    with svc.session_factory() as session:
        keys.create_recovery_key(session, svc.clock, config, actor="bench")
        for n in range(HANDLERS):
            password = secrets.token_urlsafe(16)
            user = accounts.create_user(session, svc.clock, email=f"h{n}@bench.example",
                                        role="handler", password=password, actor="bench")
            keys.unlock_handler_key(session, svc.clock, config, user, password)
        session.commit()
    svc.engine.dispose()
    return settings


def step_costs(settings: Settings, rounds: int) -> dict[str, float]:
    """Median seconds of each step of one submission, measured in this process."""
    app = create_app(settings)
    svc = app_services(app)
    config, clock = svc.extras["concerns"], SystemClock()
    timings: dict[str, list[float]] = {"validate + read readers' keys": [],
                                       "encrypt + wrap (incl. receipt, reporter key)": [],
                                       "store (insert, rate limit, commit)": [],
                                       "render receipt page": []}
    names = list(timings)
    with app.test_request_context("/concerns/new", method="POST"):
        for n in range(rounds):
            t0 = time.perf_counter()
            report = services.validate_report(category_id=str(n % 4 + 1),
                                              what_happened=REPORT, what_wanted="A fair process.")
            readers = services.new_concern_readers(db(), report)
            t1 = time.perf_counter()
            sealed = services.seal_report(report, config, readers)
            t2 = time.perf_counter()
            receipt = services.store_report(db(), clock, config, report, sealed)
            db().commit()
            t3 = time.perf_counter()
            render_template("concerns/receipt.html", receipt=receipt)
            t4 = time.perf_counter()
            for name, seconds in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                timings[name].append(seconds)
    svc.engine.dispose()
    assert crypto.normalise_receipt(receipt)
    return {name: statistics.median(values) for name, values in timings.items()}


def count_rows(url: str, floor: bool) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        if floor:
            count = conn.execute(text("SELECT count(*) FROM floor_reports")).scalar()
        else:
            count = conn.scalar(select(func.count()).select_from(Concern))
    engine.dispose()
    return int(count or 0)


def load_levels(server: Gunicorn, url: str, floor: bool, levels: tuple[tuple[int, int], ...],
                path: str) -> list[tuple[LoadResult, float, float, int, int]]:
    """Run each level; return (result, server p50 s, server CPU s/submission, rows, expected)."""
    spec = LoadSpec(base_url=server.url, form_path=path, post_path=path, fields=_fields,
                    expect=b'id="receipt"')
    run_load(spec, clients=4, submissions=40, first_number=10**6)  # warm up both workers
    expected = count_rows(url, floor)
    offset = server.access_log.stat().st_size
    rows = []
    for clients, submissions in levels:
        cpu_before = server.cpu_seconds()
        result = run_load(spec, clients=clients, submissions=submissions)
        cpu = (server.cpu_seconds() - cpu_before) / max(1, result.submissions)
        time.sleep(0.3)  # let gunicorn flush the access log
        times, offset = post_times(server, offset, path)
        expected += result.submissions
        rows.append((result, statistics.median(times) if times else float("nan"), cpu,
                     count_rows(url, floor), expected))
    return rows


def bench_backend(backend: str, levels: tuple[tuple[int, int], ...], rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="speakup-bench-") as tmp:
        workdir = Path(tmp)
        url, drop = new_database(backend, workdir)
        try:
            settings = prepare(url, workdir)
            costs = step_costs(settings, rounds)
            env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
            env.update(SPEAKUP_DATABASE_URL=url, SPEAKUP_SECRET_KEY=SECRET,
                       SPEAKUP_INSTANCE_PATH=str(workdir / "instance"),
                       SPEAKUP_SECURE_COOKIES="false", SPEAKUP_CONCERNS_PER_MINUTE="1000000",
                       FLOOR_DATABASE_URL=url)
            ours = serve("speakup.app:create_app()", env, workdir, "/healthz")
            try:
                our_rows = load_levels(ours, url, False, levels, "/concerns/new")
            finally:
                ours.stop()
            create_schema(url)
            floor = serve("bench.floor:create_app()", env, workdir, "/new")
            try:
                floor_rows = load_levels(floor, url, True, levels, "/new")
            finally:
                floor.stop()
            report(backend, costs, our_rows, floor_rows)
        finally:
            drop()


def report(backend: str, costs: dict[str, float], ours: list, floor: list) -> None:
    print(f"\n=== {backend} ===")
    print("Per-step cost of one submission, in process (median):")
    for name, seconds in costs.items():
        print(f"  {name:<46} {1000 * seconds:7.2f} ms")
    print(f"  {'sum of steps':<46} {1000 * sum(costs.values()):7.2f} ms")
    for label, rows in (("Speak Up /concerns/new", ours), ("floor /new", floor)):
        print(f"{label}:")
        for result, server_p50, cpu, counted, expected in rows:
            lost = expected - counted
            print(f"  {result.summary()}")
            print(f"      server time p50 {1000 * server_p50:6.2f} ms, server CPU "
                  f"{1000 * cpu:5.2f} ms per submission (form + POST), rows {counted}/"
                  f"{expected}{'' if lost == 0 else f'  LOST {lost}'}")
            for sample in result.error_samples:
                print(f"    error: {sample}")
    print("Throughput as a share of the floor's:")
    for (mine, *_), (base, *_) in zip(ours, floor, strict=True):
        share = mine.throughput / base.throughput if base.throughput else float("nan")
        print(f"  {mine.clients:>3} clients: {100 * share:5.1f} %  "
              f"({mine.throughput:.0f} vs {base.throughput:.0f} submissions/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="fewer submissions per level")
    parser.add_argument("--smoke", action="store_true",
                        help="a handful of submissions, to check the bench runs")
    args = parser.parse_args()
    levels = SMOKE_LEVELS if args.smoke else QUICK_LEVELS if args.quick else LEVELS
    rounds = 3 if args.smoke else 50 if args.quick else 200
    print(f"Speak Up concerns benchmark: {os.cpu_count()} CPUs, gunicorn.conf.py "
          f"(2 workers x 4 threads), {HANDLERS} handlers + reporter + recovery key per concern")
    for backend in args.backends.split(","):
        bench_backend(backend.strip(), levels, rounds=rounds)


if __name__ == "__main__":
    main()
