"""PostgreSQL erasure after publication: how long it takes, how long answers wait meanwhile.

    .venv/bin/python bench/pg_erasure.py                       # 10 k and 100 k respondents
    .venv/bin/python bench/pg_erasure.py --sizes 10000 --submitters 8

For each size N and each erasure — ``plain`` (the plain ``VACUUM`` used before issue 25)
and ``rewrite`` (``speakup.db``'s: wait for older transactions, ``VACUUM (FULL,
ANALYZE)`` of each table, ``pg_statistic`` rewritten, WAL switch, ``CHECKPOINT``) — a
fresh, migrated database gets two rounds of N/2 respondents each: per respondent one
sealed response (10 answers, 3 groups and a comment every tenth, sealed to the round's
X25519 key by ``surveys.sealed_answers``, as schema 0014 stores them), one token hash
and one invitation mail job: the closed round about to be erased and an open round
whose answers keep arriving. Submitter threads then each insert one sealed response
(one row, one transaction) into the open round, over and over, as the collection code
does. After a quiet baseline, the closed round's sealed responses, token hashes and
mail jobs are deleted (``surveys.erase``; the mail jobs as publication deletes them)
and committed, which runs the erasure of ``responses``, ``token_hashes`` and
``mail_jobs``.

Printed per run: the erasure's total time and its parts (waiting for transactions older
than it, each table's rewrite), the answers whose transaction overlapped the erasure,
and the longest time one answer took then ("longest wait": the lock queue included),
beside the longest and median answer of the baseline. Nothing is asserted.

PostgreSQL comes from ``SPEAKUP_BENCH_DATABASE_URL`` (or ``SPEAKUP_TEST_DATABASE_URL``;
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _common import (  # first: puts the repository, not bench/, on the import path
    DEMOGRAPHIC_OPTIONS,
    ITEMS,
    fresh_postgres,
    pg_url,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import delete, insert, text
from sqlalchemy.engine import Connection, Engine

from speakup import db, migrate
from speakup.db import make_engine, make_session_factory, request_erasure
from surveys import erase
from surveys.models import MailJob, Response, TokenHash
from surveys.round_keys import public_bytes
from surveys.sealed_answers import Sealer

BASELINE_SECONDS = 2.0
AFTER_SECONDS = 1.0
RAW_TABLES = ("responses", "token_hashes", "mail_jobs")
BATCH = 5000


def sealed_body(n: int) -> tuple[dict[str, int], dict[str, str], str | None]:
    answers = {item: 1 + (n * 7 + i) % 5 for i, item in enumerate(ITEMS)}
    groups = {d: options[(n * 3 + i) % len(options)]
              for i, (d, options) in enumerate(DEMOGRAPHIC_OPTIONS.items())}
    return answers, groups, "Synthetic comment text." if n % 10 == 0 else None


def load(engine: Engine, respondents_per_round: int) -> tuple[int, int, bytes]:
    """A survey, a closed and an open round with their raw rows; return their ids and the
    open round's public key."""
    with engine.begin() as conn:
        survey = conn.scalar(text(
            "INSERT INTO surveys (title, intro, item_ids, demographics, comment_question, "
            "schedule, timezone, open_days, reminder_offsets_days, min_group_size, active, "
            "created_on) VALUES ('Bench', '', :items, '[]', 'Anything else?', "
            "'monthly, first Monday 09:00', 'Europe/London', 14, '[]', 5, true, "
            "'2026-01-01') RETURNING id"), {"items": json.dumps(ITEMS)})
        rounds = []
        for status, opens in (("closed", "2026-02-02 09:00+00"), ("open", "2026-03-02 09:00+00")):
            public = public_bytes(X25519PrivateKey.generate())  # the private key: not needed
            rounds.append((conn.scalar(text(
                "INSERT INTO rounds (survey_id, status, opens_at, closes_at, reminder_times, "
                "reminders_sent, min_group_size, invited_count, raw_deleted, public_key) "
                "VALUES (:s, :status, :o, CAST(:o AS timestamptz) + interval '14 days', '[]', "
                "0, 5, :n, false, :pk) RETURNING id"),
                {"s": survey, "status": status, "o": opens, "n": respondents_per_round,
                 "pk": public}), public))
        for round_id, public in rounds:
            sealer = Sealer(round_id, public)  # one web process's
            for first in range(0, respondents_per_round, BATCH):
                conn.execute(insert(Response), [
                    {"id": secrets.token_hex(16), "round_id": round_id,
                     "sealed": sealer.seal(*sealed_body(n))}
                    for n in range(first, min(first + BATCH, respondents_per_round))])
            conn.execute(text(
                "INSERT INTO token_hashes (token_hash, round_id, used) SELECT "
                "decode(md5(random()::text) || md5(random()::text), 'hex'), :r, true "
                "FROM generate_series(1, :n)"), {"r": round_id, "n": respondents_per_round})
            conn.execute(text(
                "INSERT INTO mail_jobs (round_id, kind, email, status) SELECT :r, "
                "'invitation', 'person-' || g || '-' || :r || '@example.org', 'sent' "
                "FROM generate_series(1, :n) g"), {"r": round_id, "n": respondents_per_round})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")  # what autovacuum would have done by then
    return rounds[0][0], rounds[1][0], rounds[1][1]


@dataclass
class Answer:
    start: float
    end: float


@dataclass
class Submitters:
    engine: Engine
    round_id: int
    public_key: bytes
    count: int
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        sealer = Sealer(self.round_id, self.public_key)
        n = 0
        while not self.stop.is_set():
            n += 1
            start = time.monotonic()
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(Response), [{
                        "id": secrets.token_hex(16), "round_id": self.round_id,
                        "sealed": sealer.seal(*sealed_body(n))}])
            except Exception as exc:  # noqa: BLE001 - a failed answer is the finding
                self.errors.append(repr(exc))
                continue
            self.answers.append(Answer(start, time.monotonic()))

    def __enter__(self) -> Submitters:
        self.threads = [threading.Thread(target=self.run) for _ in range(self.count)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def plain_vacuum(engine: Engine, table_names: list[str]) -> bool:
    """The erasure before issue 25."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM {', '.join(table_names)}")
    return True


def timed(spans: list[tuple[str, float, float]], name: Callable[..., str],
          fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            spans.append((name(*args), start, time.monotonic()))
    return wrapper


def run(server_url: str, size: int, mode: str, submitters: int) -> dict[str, Any]:
    originals = {name: getattr(db, name) for name in
                 ("erase_deleted_rows", "_postgresql_erase", "_rewrite_table",
                  "_wait_for_older_transactions", "_superuser_step")}
    spans: list[tuple[str, float, float]] = []
    try:
        if mode == "plain":
            db._postgresql_erase = plain_vacuum
        db.erase_deleted_rows = timed(spans, lambda *a: "erasure",
                                      originals["erase_deleted_rows"])
        db._rewrite_table = timed(spans, lambda conn, table, **k: table,
                                  originals["_rewrite_table"])
        db._superuser_step = timed(spans, lambda conn, statement, *a: statement,
                                   originals["_superuser_step"])
        db._wait_for_older_transactions = timed(spans, lambda *a: "wait",
                                                originals["_wait_for_older_transactions"])
        with fresh_postgres(server_url) as url:
            migrate.upgrade(url)
            engine = make_engine(url, pool_size=submitters + 4)
            try:
                erased, still_open, public = load(engine, size // 2)
                with engine.connect() as conn:
                    bytes_before = table_bytes(conn)
                with Submitters(engine, still_open, public, submitters) as crowd:
                    time.sleep(BASELINE_SECONDS)
                    baseline = [a.end - a.start for a in crowd.answers]
                    with make_session_factory(engine)() as session:
                        erase.delete_round_rows(session, TokenHash, erased)
                        erase.delete_raw_responses(session, erased)
                        request_erasure(session, MailJob.__tablename__)
                        session.execute(delete(MailJob).where(MailJob.round_id == erased))
                        started = time.monotonic()
                        session.commit()  # the erasure runs here, after the commit
                        committed = time.monotonic()
                    time.sleep(AFTER_SECONDS)
                erasure = next(s for s in spans if s[0] == "erasure")
                during = [a.end - a.start for a in crowd.answers
                          if a.start < erasure[2] and a.end > erasure[1]]
                with engine.connect() as conn:
                    bytes_after = table_bytes(conn)
            finally:
                engine.dispose()
    finally:
        for name, fn in originals.items():
            setattr(db, name, fn)
    return {
        "size": size, "mode": mode, "commit_s": erasure[1] - started,
        "erasure_s": erasure[2] - erasure[1], "total_s": committed - started,
        "parts": [(name, end - start) for name, start, end in spans if name != "erasure"],
        "during": len(during), "longest_during_ms": max(during, default=0) * 1000,
        "baseline_ms": (statistics.median(baseline) * 1000, max(baseline) * 1000),
        "errors": crowd.errors, "bytes": (bytes_before, bytes_after),
    }


def table_bytes(conn: Connection) -> int:
    return int(conn.scalar(text(
        "SELECT sum(pg_total_relation_size(c)) FROM unnest(CAST(:t AS regclass[])) c"),
        {"t": list(RAW_TABLES)}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="respondents in the table, both rounds together")
    parser.add_argument("--modes", default="plain,rewrite")
    parser.add_argument("--submitters", type=int, default=4)
    args = parser.parse_args(argv)
    server_url = pg_url()
    print(f"{args.submitters} submitters; each size: two rounds of N/2 respondents x "
          f"(1 sealed response + 1 token hash + 1 mail job), one round erased")
    for size in (int(s) for s in args.sizes.split(",")):
        for mode in args.modes.split(","):
            r = run(server_url, size, mode, args.submitters)
            parts = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in r["parts"])
            print(f"N={r['size']:>7} {r['mode']:<7} commit {r['commit_s']:.2f} s; erasure "
                  f"{r['erasure_s']:.2f} s ({parts or 'one VACUUM'}); raw tables "
                  f"{r['bytes'][0] / 2**20:.1f} -> {r['bytes'][1] / 2**20:.1f} MiB "
                  f"({', '.join(RAW_TABLES)})")
            print(f"          answers during the erasure: {r['during']}, longest "
                  f"{r['longest_during_ms']:.0f} ms (baseline median "
                  f"{r['baseline_ms'][0]:.0f} ms, longest {r['baseline_ms'][1]:.0f} ms); "
                  f"failed answers: {len(r['errors'])} {r['errors'][:1]}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
