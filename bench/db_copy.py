"""`speakup db copy` at size: SQLite with N sealed responses in an open round → PostgreSQL.

    .venv/bin/python bench/db_copy.py                    # 100 k responses
    .venv/bin/python bench/db_copy.py --responses 200    # the smoke test's size

A fresh SQLite database at the head gets a few staff accounts (audited), one survey
whose round is open with N sealed responses and N used token hashes (the generator of
bench/surveys.py). The copy then runs in a process of its own, into a newly created
PostgreSQL database, and prints rows per second and that process's peak memory
(before and during the copy: the batches keep it flat whatever N is).

PostgreSQL comes from ``SPEAKUP_BENCH_DATABASE_URL`` (or ``SPEAKUP_TEST_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import fresh_postgres, pg_url  # first: puts the repository on the import path
from sqlalchemy import update

from bench.surveys import create_round, load_sqlite
from speakup import accounts, db_copy, migrate
from speakup.clock import FrozenClock
from speakup.db import make_engine, make_session_factory
from speakup.derived_keys import session_keys
from surveys.models import Round

SECRET = "bench-secret-key-" + "x" * 40


def make_source(url: str, responses: int, keys: Path) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine, session_keys(SECRET))() as session:
            for number in range(3):
                accounts.create_user(session, FrozenClock(), email=f"staff{number}@example.org",
                                     role="admin", password="bench password 123",
                                     actor="bench")
            session.commit()
    finally:
        engine.dispose()
    round_id, public = create_round(url, responses, keys)
    load_sqlite(url, responses, round_id, public, comment_share=0.1)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # answers are still arriving
            conn.execute(update(Round).where(Round.id == round_id).values(status="open"))
    finally:
        engine.dispose()


def copy_child(source: str, target: str) -> None:
    """Run in a process of its own, so its peak memory is the copy's alone."""
    before = _rss_mb_resetting_peak()
    started = time.perf_counter()
    report = db_copy.copy_database(source, target, session_keys(SECRET))
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": report.total_rows, "responses": report.rows["responses"],
                      "seconds": seconds, "rss_before_mb": before, "rss_peak_mb": _peak_mb(),
                      "audit": report.audit_entries, "sequences": report.sequences}))


def _rss_mb_resetting_peak() -> float:
    """The resident size now; on Linux the peak is reset too, so _peak_mb is the copy's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _proc_status_mb("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_mb() -> float:
    try:
        return _proc_status_mb("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise OSError(field)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        copy_child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres(pg_url()) as target:
        path = Path(tmp) / "source.sqlite3"
        path.touch(mode=0o600)
        source = f"sqlite:///{path}"
        started = time.perf_counter()
        make_source(source, args.responses, Path(tmp) / "keys")
        print(f"source: {args.responses} sealed responses in an open round "
              f"({path.stat().st_size / 2**20:.1f} MB SQLite), made in "
              f"{time.perf_counter() - started:.1f} s")
        done = subprocess.run([sys.executable, __file__, "--child", source, target],
                              capture_output=True, text=True, check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        counts_equal = dict(db_copy.iter_table_counts(source)) == dict(
            db_copy.iter_table_counts(target))
    print(f"{'rows':>9} {'responses':>9} {'seconds':>8} {'rows/s':>8} "
          f"{'RSS before':>10} {'RSS peak':>9}")
    print(f"{figures['rows']:>9} {figures['responses']:>9} {figures['seconds']:>8.1f} "
          f"{figures['rows'] / figures['seconds']:>8.0f} {figures['rss_before_mb']:>7.0f} MB "
          f"{figures['rss_peak_mb']:>6.0f} MB")
    print(f"audit entries verified: {figures['audit']}; sequences reset: "
          f"{figures['sequences']}; row counts equal: {counts_equal}")


if __name__ == "__main__":
    main()
