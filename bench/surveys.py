"""Survey benchmarks: print figures, assert nothing about time.

    .venv/bin/python bench/surveys.py                      # both parts, default sizes
    .venv/bin/python bench/surveys.py publish --sizes 10000,100000 --backends sqlite
    .venv/bin/python bench/surveys.py submit

(2) ``publish``: synthetic closed rounds of N respondents x 10 items x 3 demographic
questions are bulk-loaded (PostgreSQL: COPY; SQLite: executemany in big transactions)
into a fresh, migrated database; then, each in its own subprocess so that peak memory
(ru_maxrss) belongs to one step only:

* the *bare* GROUP BY queries publication needs — its own SELECTs
  (``surveys.publish.aggregation_queries``) compiled to SQL text and run twice through
  the raw driver, outside any ORM (second run reported: warm cache, as publication
  sees it);
* ``surveys.publish.publish_round`` + commit, with its phases (aggregate, store,
  delete raw rows) timed by wrapping the module's step functions.

PostgreSQL comes from ``SPEAKUP_BENCH_DATABASE_URL`` (or ``SPEAKUP_TEST_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); a throw-away database is
created and dropped per size.

(1) ``submit``: response submission through gunicorn with 16 and 64 concurrent clients,
measured in the same run as the bare floor app, using the concerns benchmark's
``bench/floor.py`` and ``bench/loadgen.py`` and the collection helper's ``/s/<token>``
page. If any of them is missing the part says so and is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import io
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from speakup import migrate  # noqa: E402
from speakup.clock import FrozenClock  # noqa: E402
from speakup.db import make_engine, make_session_factory  # noqa: E402
from speakup.settings import Settings  # noqa: E402
from surveys import publish as publish_module  # noqa: E402
from surveys.itembank import load_item_bank  # noqa: E402
from surveys.models import Round, Survey  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SIZES = (10_000, 100_000, 1_000_000)
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
BATCH = 50_000  # respondents per load batch


# --- synthetic data ------------------------------------------------------------------


def synthetic_batches(n: int, round_id: int, comment_share: float, seed: int = 7
                      ) -> Iterator[tuple[list[tuple], list[tuple], list[tuple]]]:
    """Yield (responses, answers, groups) row tuples, BATCH respondents at a time."""
    rng = random.Random(seed)
    bank = load_item_bank()
    values = {item: sorted(bank.item(item).scale.valid_values) for item in ITEMS}
    options = [[o["id"] for o in d["options"]] + ["prefer_not"] for d in DEMOGRAPHICS]
    for start in range(0, n, BATCH):
        responses, answers, groups = [], [], []
        for _ in range(min(BATCH, n - start)):
            rid = secrets.token_hex(16)
            comment = "Synthetic comment text." if rng.random() < comment_share else None
            responses.append((rid, round_id, comment))
            for item in ITEMS:
                if rng.random() < 0.9:
                    answers.append((rid, item, round_id, rng.choice(values[item])))
            for dim, opts in zip(DEMOGRAPHICS, options, strict=True):
                if rng.random() < 0.95:
                    groups.append((rid, dim["id"], round_id, rng.choice(opts)))
        yield responses, answers, groups


def create_round(url: str, n: int) -> int:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            survey = Survey(
                title="Benchmark pulse", intro="", item_ids=ITEMS, demographics=DEMOGRAPHICS,
                comment_question="Anything else?", schedule="monthly, first Monday 09:00",
                timezone="Europe/London", open_days=14, reminder_offsets_days=[],
                min_group_size=5, active=True, created_on=dt.date(2026, 1, 1),
            )
            session.add(survey)
            session.flush()
            opens = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC)
            round_ = Round(
                survey_id=survey.id, status="closed", opens_at=opens,
                closes_at=opens + dt.timedelta(days=14), reminder_times=[], reminders_sent=0,
                min_group_size=5, invited_count=int(n * 1.25), raw_deleted=False,
            )
            session.add(round_)
            session.commit()
            return round_.id
    finally:
        engine.dispose()


def load_postgres(url: str, n: int, round_id: int, comment_share: float) -> None:
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        for responses, answers, groups in synthetic_batches(n, round_id, comment_share):
            with conn.cursor() as cur:
                for table, cols, rows in (
                    ("responses", "id, round_id, comment", responses),
                    ("response_answers", "response_id, item_id, round_id, value", answers),
                    ("response_groups", "response_id, dimension, round_id, option", groups),
                ):
                    buf = io.StringIO()
                    for row in rows:
                        buf.write("\t".join(r"\N" if v is None else str(v) for v in row))
                        buf.write("\n")
                    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                        copy.write(buf.getvalue())
                tokens = "".join(f"\\\\x{secrets.token_hex(32)}\t{round_id}\tt\n"
                                 for _ in responses)
                with cur.copy("COPY token_hashes (token_hash, round_id, used) FROM STDIN") as copy:
                    copy.write(tokens)
            conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # what autovacuum would have done by closing time


def load_sqlite(url: str, n: int, round_id: int, comment_share: float) -> None:
    import sqlite3

    conn = sqlite3.connect(make_url(url).database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for responses, answers, groups in synthetic_batches(n, round_id, comment_share):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO responses (id, round_id, comment) VALUES (?, ?, ?)",
                         responses)
        conn.executemany("INSERT INTO response_answers (response_id, item_id, round_id, value) "
                         "VALUES (?, ?, ?, ?)", answers)
        conn.executemany("INSERT INTO response_groups (response_id, dimension, round_id, option)"
                         " VALUES (?, ?, ?, ?)", groups)
        conn.executemany("INSERT INTO token_hashes (token_hash, round_id, used) VALUES (?, ?, 1)",
                         [(secrets.token_bytes(32), round_id) for _ in responses])
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# --- the bare queries ----------------------------------------------------------------


def bare_queries(url: str, round_id: int) -> list[tuple[str, str]]:
    """The SELECTs publication runs for this round, as SQL text with the values inlined."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            round_ = session.get(Round, round_id)
            survey = session.get(Survey, round_.survey_id)
            return [
                (name, str(query.compile(dialect=engine.dialect,
                                         compile_kwargs={"literal_binds": True})))
                for name, query in publish_module.aggregation_queries(survey, round_id)
            ]
    finally:
        engine.dispose()


def run_bare(url: str, round_id: int) -> dict[str, Any]:
    queries = bare_queries(url, round_id)
    if url.startswith("sqlite"):
        import sqlite3

        conn: Any = sqlite3.connect(make_url(url).database)

        def execute(sql: str) -> int:
            return len(conn.execute(sql).fetchall())
    else:
        import psycopg

        conn = psycopg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )

        def execute(sql: str) -> int:
            return len(conn.execute(sql).fetchall())

    timings: dict[str, float] = {}
    for attempt in range(2):  # the first run warms the cache; report the second
        for name, sql in queries:
            started = time.perf_counter()
            execute(sql)
            if attempt:
                timings[name] = time.perf_counter() - started
    conn.close()
    return {"seconds": sum(timings.values()), "queries": timings,
            "maxrss_mb": maxrss_mb()}


# --- publication ---------------------------------------------------------------------


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(phases: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - started
    return wrapper


def run_publish(url: str, round_id: int) -> dict[str, Any]:
    phases: dict[str, float] = {}
    for name in ("_aggregate", "_store", "_delete_raw"):
        setattr(publish_module, name, timed(phases, name.strip("_"),
                                            getattr(publish_module, name)))
    engine = make_engine(url)
    settings = Settings(database_url=url, secret_key="bench")  # noqa: S106
    with make_session_factory(engine)() as session:
        session.execute(text("SELECT 1")).all()  # connect before the baseline
        baseline = maxrss_mb()
        started = time.perf_counter()
        published = publish_module.publish_round(
            session, session.get(Round, round_id), settings, FrozenClock()
        )
        session.commit()
        seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "phases": phases, "baseline_mb": baseline,
            "maxrss_mb": maxrss_mb(), "responses": published.responses,
            "comments": len(published.comments or [])}


# --- orchestration -------------------------------------------------------------------


def child(step: str, *args: str) -> dict[str, Any]:
    """Run one step in a fresh interpreter; return its JSON result."""
    out = subprocess.run(
        [sys.executable, __file__, "_child", step, *args],
        check=True, capture_output=True, text=True, cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_main(step: str, args: list[str]) -> None:
    url = args[0]
    if step == "load":
        n, comment_share = int(args[1]), float(args[2])
        started = time.perf_counter()
        round_id = create_round(url, n)
        (load_sqlite if url.startswith("sqlite") else load_postgres)(
            url, n, round_id, comment_share
        )
        result = {"round_id": round_id, "seconds": time.perf_counter() - started}
    elif step == "bare":
        result = run_bare(url, int(args[1]))
    elif step == "publish":
        result = run_publish(url, int(args[1]))
    else:
        raise SystemExit(f"unknown step {step}")
    print(json.dumps(result))


@contextlib.contextmanager
def fresh_database(backend: str, pg_url: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = workdir / f"bench-{secrets.token_hex(4)}.sqlite3"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"speakup_bench_{secrets.token_hex(4)}"
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_publish(sizes: list[int], backends: list[str], pg_url: str,
                  comment_share: float) -> None:
    print("(2) Publication of a closed round: N respondents x 10 items x 3 questions")
    print(f"    items: {', '.join(ITEMS)}; ~90% answer each item, ~95% each question; "
          f"{comment_share:.0%} leave a comment")
    header = (f"{'backend':<10} {'N':>9} {'load s':>8} {'bare s':>8} {'publish s':>9} "
              f"{'aggr':>7} {'store':>6} {'delete':>7} {'pub/bare':>8} {'aggr/bare':>9} "
              f"{'rss MB':>7} {'+MB':>6}")
    print(header)
    workdir = Path(tempfile.mkdtemp(prefix="speakup-bench-"))
    try:
        for backend in backends:
            for n in sizes:
                with fresh_database(backend, pg_url, workdir) as url:
                    migrate.upgrade(url)
                    load = child("load", url, str(n), str(comment_share))
                    bare = child("bare", url, str(load["round_id"]))
                    pub = child("publish", url, str(load["round_id"]))
                    phases = pub["phases"]
                    print(
                        f"{backend:<10} {n:>9,} {load['seconds']:>8.1f} {bare['seconds']:>8.2f} "
                        f"{pub['seconds']:>9.2f} {phases.get('aggregate', 0):>7.2f} "
                        f"{phases.get('store', 0):>6.2f} {phases.get('delete_raw', 0):>7.2f} "
                        f"{pub['seconds'] / bare['seconds']:>8.2f} "
                        f"{phases.get('aggregate', 0) / bare['seconds']:>9.2f} "
                        f"{pub['maxrss_mb']:>7.0f} {pub['maxrss_mb'] - pub['baseline_mb']:>6.1f}",
                        flush=True,
                    )
                    detail = ", ".join(f"{k} {v:.2f}" for k, v in bare["queries"].items())
                    print(f"{'':<10} bare queries: {detail}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("    publish s = publish_round + commit (one transaction): aggr = GROUP BY queries +")
    print("    disclosure control, store = payload insert, delete = raw rows; token hashes are")
    print("    deleted in the remainder. rss MB = peak RSS of the publishing process;")
    print("    +MB = growth during publication (what scales with N, if anything).")


# --- (1) submission under load -------------------------------------------------------


def _load_module(name: str) -> Any | None:
    path = REPO / "bench" / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_submit(clients: list[int]) -> None:
    print("(1) Response submission through gunicorn vs the bare floor app")
    floor, loadgen = _load_module("floor"), _load_module("loadgen")
    missing = [p for p, m in (("bench/floor.py", floor), ("bench/loadgen.py", loadgen)) if not m]
    collect = importlib.util.find_spec("surveys.collect") or importlib.util.find_spec(
        "surveys.services")
    if missing or collect is None:
        what = ", ".join(missing + ([] if collect else ["the /s/<token> page"]))
        print(f"    skipped: {what} not available yet")
        return
    runner = getattr(loadgen, "run_survey_submissions", None)
    if runner is None:
        print("    skipped: bench/loadgen.py has no run_survey_submissions()")
        return
    runner(clients=clients, floor=floor)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        child_main(argv[1], argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", nargs="?", choices=["all", "publish", "submit"], default="all")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--comment-share", type=float, default=0.01)
    args = parser.parse_args(argv)
    pg_url = os.environ.get("SPEAKUP_BENCH_DATABASE_URL") or os.environ.get(
        "SPEAKUP_TEST_DATABASE_URL") or DEFAULT_PG
    if args.part in ("all", "publish"):
        bench_publish([int(s) for s in args.sizes.split(",")], args.backends.split(","),
                      pg_url, args.comment_share)
    if args.part in ("all", "submit"):
        bench_submit([int(c) for c in args.clients.split(",")])


if __name__ == "__main__":
    main()
