"""CPU time per survey answer, in process: what a loaded machine's throughput figures hide.

    .venv/bin/python bench/submit_cpu.py [--backends sqlite,postgresql] [--n 300] [--profile 25]

For each database: a fresh, migrated Speak Up database with an open round and one link
per submission (as `bench/surveys.py submit` builds it), and the floor app of
`bench/floor.py` on its own fresh database. One thread, Flask's test client, no server:
each submission is GET `/s/<token>` and POST of a full response (10 answers, 3 groups, a
comment every tenth), checked to redirect to the thank-you page; the floor's is GET and
POST of its form. Prints the median over 5 blocks of the process's CPU time per
submission for each, and their ratio: under a CPU-bound load the throughput share of
the floor cannot exceed it. ``--profile N`` prints the N functions with the most
cumulative time (``--sort tottime``: own time) over the Speak Up submissions (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import pg_url  # first: keeps bench/surveys.py from shadowing the package

from bench import floor
from bench.surveys import _answers, fresh_database, open_round_with_tokens
from speakup import migrate
from speakup.app import create_app
from speakup.settings import Settings

SECRET = "bench-secret-" + "s" * 40
CSRF = re.compile(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
BLOCKS = 5


def _csrf(page: bytes) -> str:
    match = CSRF.search(page)
    if not match:
        raise SystemExit(f"no CSRF token in the page: {page[:300]!r}")
    return match.group(1).decode()


def speakup_submitter(url: str, workdir: Path, count: int) -> Callable[[int], None]:
    migrate.upgrade(url)
    _, tokens = open_round_with_tokens(url, count)
    settings = Settings(database_url=url, secret_key=SECRET, instance_path=workdir / "inst",
                        secure_cookies=False)
    client = create_app(settings).test_client()

    def submit(number: int) -> None:
        path = f"/s/{tokens[number]}"
        page = client.get(path)
        answer = client.post(path, data={"csrf_token": _csrf(page.data), **_answers(number)})
        if answer.status_code != 302 or "thanks" not in answer.headers.get("Location", ""):
            raise SystemExit(f"submission {number} failed: {answer.status_code} "
                             f"{answer.data[:300]!r}")

    return submit


def floor_submitter(url: str) -> Callable[[int], None]:
    floor.create_schema(url)
    os.environ["FLOOR_DATABASE_URL"] = url
    client = floor.create_app().test_client()

    def submit(number: int) -> None:
        page = client.get("/new")
        answer = client.post("/new", data={"csrf_token": _csrf(page.data),
                                           "category": str(number % 4 + 1),
                                           "what_happened": f"Something happened (#{number})",
                                           "what_wanted": "A fair process."})
        if answer.status_code != 200:
            raise SystemExit(f"floor submission {number} failed: {answer.status_code}")

    return submit


def cpu_ms_per_submission(submit: Callable[[int], None], n: int, first: int = 0) -> float:
    """Median over BLOCKS blocks of CPU milliseconds per submission (after a warm-up)."""
    for number in range(first, first + 10):
        submit(number)
    block = max(1, n // BLOCKS)
    figures = []
    number = first + 10
    for _ in range(BLOCKS):
        started = time.process_time()
        for _ in range(block):
            submit(number)
            number += 1
        figures.append((time.process_time() - started) * 1000 / block)
    return statistics.median(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--n", type=int, default=300, help="timed submissions per app")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--sort", default="cumulative", help="cProfile order (e.g. tottime)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="speakup-bench-cpu-"))
    try:
        print("CPU per submission (GET + POST), in process, one thread; median of "
              f"{BLOCKS} blocks of {max(1, args.n // BLOCKS)}")
        for backend in args.backends.split(","):
            with fresh_database(backend, pg_url(), workdir) as url, \
                    fresh_database(backend, pg_url(), workdir) as floor_url:
                ours = speakup_submitter(url, workdir, args.n + 20 + args.n)
                base = floor_submitter(floor_url)
                floor_ms = cpu_ms_per_submission(base, args.n)
                ours_ms = cpu_ms_per_submission(ours, args.n)
                print(f"  {backend}: Speak Up {ours_ms:.2f} ms, floor {floor_ms:.2f} ms "
                      f"-> at most {floor_ms / ours_ms:.0%} of the floor's throughput")
                if args.profile:
                    profile = cProfile.Profile()
                    for number in range(args.n + 20, 2 * args.n + 20):
                        profile.runcall(ours, number)
                    out = io.StringIO()
                    stats = pstats.Stats(profile, stream=out).sort_stats(args.sort)
                    stats.print_stats(args.profile)
                    print(out.getvalue())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
