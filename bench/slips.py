"""Benchmark the printed slips' PDF: print its size and the time to make it.

    .venv/bin/python bench/slips.py [--slips 500] [--runs 3] [--language en|cy|both]
       [--keep FILE]

Opens a round of a survey in a fresh SQLite database, then, as the print page does,
makes the codes and the PDF in memory (the median of `--runs`) and stores the codes'
keyed hashes. Prints the PDF's size and pages and each step's time; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/surveys.py would shadow the surveys package: drop this folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from speakup import migrate  # noqa: E402
from speakup.app import create_app  # noqa: E402
from speakup.clock import SystemClock  # noqa: E402
from speakup.settings import Settings  # noqa: E402
from speakup.web import db  # noqa: E402
from surveys import admin_services, rounds, slips  # noqa: E402
from surveys.invitations import token_key  # noqa: E402
from surveys.round_keys import RoundKeyFolder  # noqa: E402
from surveys.slip_pdf import bilingual, page_count, slips_pdf  # noqa: E402
from surveys.slip_views import slip_text  # noqa: E402

SPEC = {"title": "Pulse check: speaking up and psychological safety",
        "instruments": ["psafe", "speak"], "demographics": [],
        "schedule": "monthly, first Monday 09:00", "timezone": "Europe/London",
        "open_days": 14, "reminder_offsets_days": [], "min_group_size": 5}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slips", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--language", choices=("en", "cy", "both"), default="en")
    parser.add_argument("--keep", type=Path, help="write the last PDF here, to look at")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        migrate.upgrade(url)
        settings = Settings(instance_path=Path(tmp) / "instance", database_url=url,
                            secret_key="bench-" + "x" * 40, secure_cookies=False,  # noqa: S106
                            base_url="https://speakup.example.nhs.uk")
        app = create_app(settings)
        clock = SystemClock()
        with app.app_context():
            session = db()
            spec = admin_services.check_spec(SPEC, settings, now=clock.now())
            survey = admin_services.create_survey(session, clock, spec, actor="bench")
            round_ = rounds.add_round(session, survey, clock.now())
            rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
            session.commit()
            # Four piles, as an admin might type them: the PDF starts each on a new page.
            share = args.slips // 4
            sizes = [share, share, share, args.slips - 3 * share]
            requests = [slips.PileRequest(f"Site {i + 1}", n) for i, n in enumerate(sizes)]
            texts = {code: slip_text(app.jinja_env, settings, round_, survey, results_on=True,
                                     language=code) for code in ("cy", "en")}
            text = (bilingual(texts["cy"], texts["en"], texts["en"].pile_heading)
                    if args.language == "both" else texts[args.language])
            times, cpu, body = [], [], b""
            for _ in range(args.runs):
                started, started_cpu = time.perf_counter(), time.process_time()
                piles = slips.new_piles(requests)
                body = slips_pdf(text, piles, settings.base_url)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            started = time.perf_counter()
            slips.record_slips(session, clock, round_, piles, token_key(settings),
                               actor="bench")
            session.commit()
            stored = time.perf_counter() - started
    if args.keep:
        args.keep.write_bytes(body)
    pages = page_count(sizes, text.bilingual)
    print(f"{args.slips} slips ({args.language}) in {len(sizes)} piles: {pages} A4 pages, "
          f"{len(body):,} bytes ({len(body) / 1024 / 1024:.2f} MiB, "
          f"{len(body) / args.slips / 1024:.1f} KiB a slip)")
    print(f"making the codes and the PDF: median {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)}); CPU time median "
          f"{statistics.median(cpu):.2f} s (the wall time grows with the machine's load)")
    print(f"storing the codes' keyed hashes and counting them: {stored * 1000:.0f} ms")


if __name__ == "__main__":
    main()
