"""Benchmark signed publications: print figures, assert nothing about time.

    .venv/bin/python bench/signing.py [--responses 100000] [--years 5] [--repeat 20]

1. A round of `--responses` answers publishes aggregates, not answers: every item and
   scale of the shipped item bank, overall and for each group of three breakdowns
   (20 teams, 3 ethnicity groups, 8 professions), each cell with n, mean, favourable
   share and the full distribution. This builds that payload with counts summing to
   the response count, then times canonical serialisation (RFC 8785), signing and
   appending it to the publication log (SQLite), and verifying the downloaded file
   with the single-file verifier's checks.
2. The log after `--years` of monthly rounds, quarterly concern snapshots and
   quarterly progress reports (plus one key rotation a year): rows, the table's bytes
   in SQLite, and the size of /results/log.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/surveys.py would shadow the surveys package: drop this folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from sqlalchemy import text  # noqa: E402

from speakup import migrate, publication_log, signing, verify_report  # noqa: E402
from speakup.clock import FrozenClock  # noqa: E402
from speakup.db import make_engine, make_session_factory  # noqa: E402
from speakup.derived_keys import session_keys  # noqa: E402
from surveys.itembank import load_item_bank  # noqa: E402
from surveys.published import Cell, Dimension, Group, PublishedRound, Row  # noqa: E402

BREAKDOWNS = {"team": 20, "ethnicity": 3, "profession": 8}


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _cell(n: int, points: int, rng: random.Random) -> Cell:
    distribution = dict(zip((str(v) for v in range(1, points + 1)), _split(n, points, rng),
                            strict=True))
    mean = sum(int(v) * c for v, c in distribution.items()) / n if n else None
    top = sum(c for v, c in distribution.items() if int(v) > points - 2)
    return Cell(n=n, mean=mean, favourable=top / n if n else None, distribution=distribution)


def synthetic_round(responses: int, rng: random.Random) -> PublishedRound:
    bank = load_item_bank()
    dimensions = [Dimension(d, d.title(), [Group(f"{d}_{i}", f"{d} {i}") for i in range(count)])
                  for d, count in BREAKDOWNS.items()]
    sizes = {d.id: dict(zip((g.id for g in d.groups), _split(responses, len(d.groups), rng),
                            strict=True)) for d in dimensions}
    rows = []
    for item in bank.items.values():
        points = len(item.scale.options)
        rows.append(Row(
            id=item.id, label=item.text, response_scale=item.scale.id,
            overall=_cell(responses, points, rng), instrument_id=item.instrument_id,
            by_group={d: {g: _cell(n, points, rng) for g, n in groups.items()}
                      for d, groups in sizes.items()},
        ))
    scales = [Row(id=i.id, label=i.title, response_scale=i.scale.id,
                  overall=_cell(responses, len(i.scale.options), rng), instrument_id=i.id,
                  by_group={d: {g: _cell(n, len(i.scale.options), rng)
                                for g, n in groups.items()} for d, groups in sizes.items()})
              for i in bank.instruments.values()]
    return PublishedRound(
        round_id=1, survey_id=1, survey_title="Bench", label="January 2027",
        opens_on="2027-01-04", closes_on="2027-01-18", published_on="2027-01-19", k=5,
        invited=int(responses * 1.6), responses=responses, response_rate=1 / 1.6,
        dimensions=dimensions, group_counts=sizes, scales=scales, items=rows, comments=None,
    )


def _timed(repeat: int, work) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(22)
    payload = synthetic_round(args.responses, rng).to_payload()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        migrate.upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine, session_keys("bench-secret-" + "x" * 40))
        with factory() as session:
            publication_log.init_signing_key(session, FrozenClock())
            session.commit()
            canon = _timed(args.repeat, lambda: signing.canonical(payload))
            refs = iter(range(10**6))

            def sign() -> None:
                publication_log.record(session, kind=publication_log.SURVEY_ROUND,
                                       ref=f"b{next(refs)}", payload=payload,
                                       published_on=dt.date(2027, 1, 19))
                session.flush()

            sign_ms = _timed(args.repeat, sign)
            session.rollback()
            entry = publication_log.record(session, kind=publication_log.SURVEY_ROUND, ref="1",
                                           payload=payload, published_on=dt.date(2027, 1, 19))
            session.commit()
            document = json.loads(json.dumps(publication_log.signed_file(session, entry)))
            file_bytes = len(json.dumps(document, indent=1, ensure_ascii=False).encode())
            verify_ms = _timed(args.repeat, lambda: verify_report.verify_publication(document))
        print(f"Aggregates of {args.responses:,} responses: {len(payload['items'])} items and "
              f"{len(payload['scales'])} scales x {sum(BREAKDOWNS.values())} groups; signed "
              f"file {file_bytes / 1024:.0f} KiB")
        print(f"  canonical JSON (RFC 8785): {canon:.1f} ms (median of {args.repeat})")
        print(f"  canonicalise + sign + append to the log: {sign_ms:.1f} ms")
        print(f"  verify the downloaded file (JSON parse excluded): {verify_ms:.1f} ms")
        engine.dispose()
    _log_size(args.years, payload)


def _log_size(years: int, round_payload: dict) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/log.sqlite3"
        migrate.upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine, session_keys("bench-secret-" + "x" * 40))
        clock = FrozenClock()
        quarter = {"figures": {"received": 41, "acknowledged_within_7_days": 0.93,
                               "feedback_within_3_months": 0.81, "closed_share": 0.66},
                   "categories": [{"label": f"Category {i}", "active": True} for i in range(8)]}
        report = {"headlines": [{"label": f"Scale {i}", "favourable": 0.6} for i in range(6)],
                  "goals": [{"label": f"Goal {i}", "latest": 0.7} for i in range(6)],
                  "actions": [{"title": "An action " * 8, "description": "What was done " * 20}
                              for _ in range(12)]}
        start = time.perf_counter()
        with factory() as session:
            publication_log.init_signing_key(session, clock)
            for month in range(12 * years):
                day = dt.date(2027 + month // 12, month % 12 + 1, 20)
                publication_log.record(session, kind=publication_log.SURVEY_ROUND,
                                       ref=str(month), payload=round_payload, published_on=day)
                if month % 3 == 2:
                    label = f"{day.year}-Q{month % 12 // 3 + 1}"
                    publication_log.record(session, kind=publication_log.CONCERN_QUARTER,
                                           ref=label, payload=quarter, published_on=day)
                    publication_log.record(session, kind=publication_log.PROGRESS_REPORT,
                                           ref=day.isoformat(), payload=report, published_on=day)
                if month % 12 == 11:
                    publication_log.rotate_signing_key(session, clock)
            session.commit()
            rows = len(publication_log.entries(session))
            table = session.execute(text(
                "SELECT SUM(LENGTH(header) + LENGTH(signature) + LENGTH(payload) + 64) "
                "FROM publication_log")).scalar()
            log_json = len(json.dumps(publication_log.log_document(session), indent=1).encode())
            document = json.loads(json.dumps(publication_log.log_document(session)))
            verify_start = time.perf_counter()
            verify_report.verify_log(document)
            verify_s = time.perf_counter() - verify_start
        engine.dispose()
        print(f"Log after {years} years (monthly rounds, quarterly concern snapshots and "
              f"progress reports, a key rotation a year): {rows} entries")
        print(f"  in the database (payloads included): {table / 1024 / 1024:.1f} MiB")
        print(f"  /results/log.json (headers and signatures): {log_json / 1024:.0f} KiB; "
              f"verified end to end in {verify_s * 1000:.0f} ms")
        print(f"  (building it took {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
