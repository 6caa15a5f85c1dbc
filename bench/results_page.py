"""Benchmark the public staff results page: print figures, assert nothing about time.

    .venv/bin/python bench/results_page.py [--rounds 6] [--requests 50]

Publishes the demo survey's synthetic rounds (about 250 people each) into a fresh
SQLite database, then serves `/results/` through Flask's test client (no sign-in, as
any member of staff) and prints the median and 95th-percentile time per page, the
time to build the page's data alone, and the page's size. The page needs no sign-in,
so its cost per request is what an anonymous visitor can make the server spend.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/surveys.py would shadow the surveys package: drop this folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from review import demo  # noqa: E402
from review.results import results_page  # noqa: E402
from speakup import migrate  # noqa: E402
from speakup.app import create_app  # noqa: E402
from speakup.clock import SystemClock  # noqa: E402
from speakup.settings import Settings  # noqa: E402
from speakup.web import services  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        settings = Settings(instance_path=Path(tmp) / "instance", database_url=url,
                            secret_key="bench-" + "x" * 40, secure_cookies=False)  # noqa: S106
        app = create_app(settings)
        clock = SystemClock()
        rng = random.Random(1)  # noqa: S311 - made-up answers
        started = time.perf_counter()
        with services(app).session_factory() as session:
            survey = demo.create_demo_survey(session, settings, clock)
            sizes = [rng.randint(180, 300) for _ in range(args.rounds)]
            demo.publish_synthetic_rounds(session, settings, survey, clock.today(), sizes, rng)
            session.commit()
            print(f"published {args.rounds} rounds ({sum(sizes)} responses) in "
                  f"{time.perf_counter() - started:.1f} s")
            data_times = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                results_page(session, settings.min_group_size, clock.today())
                data_times.append(time.perf_counter() - t0)
        client = app.test_client()
        client.get("/results/")  # templates compiled once
        times, size = [], 0
        for _ in range(args.requests):
            t0 = time.perf_counter()
            response = client.get("/results/")
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200
            size = len(response.data)
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(f"page data alone: median {statistics.median(data_times) * 1000:.1f} ms")
        print(f"GET /results/: median {statistics.median(times) * 1000:.1f} ms, "
              f"95th percentile {p95 * 1000:.1f} ms over {args.requests} requests; "
              f"{size / 1024:.1f} KB of HTML")
        services(app).engine.dispose()


if __name__ == "__main__":
    main()
