"""Survey benchmarks: print figures, assert nothing about time.

    .venv/bin/python bench/surveys.py                      # both parts, default sizes
    .venv/bin/python bench/surveys.py publish --sizes 10000,100000 --backends sqlite
    .venv/bin/python bench/surveys.py submit

(2) ``publish``: synthetic closed rounds of N respondents x 10 items x 3 demographic
questions are sealed (four sealers, as four web processes) and bulk-loaded (PostgreSQL:
COPY; SQLite: executemany in big transactions) into a fresh, migrated database; then,
in its own subprocess so that peak memory (ru_maxrss) belongs to it only,
``surveys.publish.publish_round`` + commit, with its phases (aggregate = open the
sealed responses and count them, store, delete raw rows) timed by wrapping the
module's step functions. The comparison with the pre-0014 plaintext GROUP BY queries
is ``bench/publish_sealed.py``.

PostgreSQL comes from ``SPEAKUP_BENCH_DATABASE_URL`` (or ``SPEAKUP_TEST_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``); a throw-away database is
created and dropped per size.

(1) ``submit``: an open round with one invitation link per submission (hashes stored
as the collection code does), Speak Up under gunicorn with the shipped
``gunicorn.conf.py``, and the bare floor app of ``bench/floor.py`` beside it; each of
16 and 64 concurrent clients (``bench/loadgen.py``) GETs ``/s/<token>``, takes the
CSRF token and POSTs a full response (10 answers, 3 groups, a comment every tenth),
expecting the redirect to the thank-you page. Prints throughput, POST p50/p99, errors,
our throughput as a share of the floor's (measured in the same run), and afterwards
the responses stored against the links used (zero duplicates, zero lost). ``--quick``
submits a quarter as many.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import re
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

# Run as `python bench/surveys.py`, Python puts bench/ first on the path, where this very
# file would shadow the `surveys` package: _common imports from the repository root instead.
from _common import (  # first, before any import of the surveys package
    DEMOGRAPHICS,
    ITEMS,
    REPO,
    add_closed_round,
    benchmark_survey,
    fresh_postgres,
    pg_url,
    start_gunicorn,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import floor, loadgen
from speakup import db as db_module
from speakup import migrate
from speakup.clock import FrozenClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys import invitations
from surveys import publish as publish_module
from surveys.itembank import load_item_bank
from surveys.models import Round
from surveys.round_keys import RoundKeyFolder
from surveys.sealed_answers import Sealer

SIZES = (10_000, 100_000, 1_000_000)
BATCH = 50_000  # respondents per load batch


# --- synthetic data ------------------------------------------------------------------


def synthetic_batches(n: int, round_id: int, public: bytes, comment_share: float,
                      seed: int = 7) -> Iterator[list[tuple[str, int, bytes]]]:
    """Yield sealed response rows (id, round id, blob), BATCH respondents at a time."""
    rng = random.Random(seed)
    bank = load_item_bank()
    values = {item: sorted(bank.item(item).scale.valid_values) for item in ITEMS}
    options = [[o["id"] for o in d["options"]] + ["prefer_not"] for d in DEMOGRAPHICS]
    sealers = [Sealer(round_id, public) for _ in range(4)]
    for start in range(0, n, BATCH):
        rows = []
        for index in range(min(BATCH, n - start)):
            comment = "Synthetic comment text." if rng.random() < comment_share else None
            answers = {item: rng.choice(values[item]) for item in ITEMS if rng.random() < 0.9}
            groups = {dim["id"]: rng.choice(opts)
                      for dim, opts in zip(DEMOGRAPHICS, options, strict=True)
                      if rng.random() < 0.95}
            rows.append((secrets.token_hex(16), round_id,
                         sealers[index % 4].seal(answers, groups, comment)))
        yield rows


def create_round(url: str, n: int, keys: Path) -> tuple[int, bytes]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            round_ = add_closed_round(session, RoundKeyFolder(keys), n)
            return round_.id, round_.public_key
    finally:
        engine.dispose()


def load_postgres(url: str, n: int, round_id: int, public: bytes, comment_share: float
                  ) -> None:
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        for rows in synthetic_batches(n, round_id, public, comment_share):
            with conn.cursor() as cur:
                with cur.copy("COPY responses (id, round_id, sealed) FROM STDIN") as copy:
                    copy.write("".join(f"{rid}\t{rnd}\t\\\\x{blob.hex()}\n"
                                       for rid, rnd, blob in rows))
                tokens = "".join(f"\\\\x{secrets.token_hex(32)}\t{round_id}\tt\n"
                                 for _ in rows)
                with cur.copy("COPY token_hashes (token_hash, round_id, used) FROM STDIN") as copy:
                    copy.write(tokens)
            conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # what autovacuum would have done by closing time


def load_sqlite(url: str, n: int, round_id: int, public: bytes, comment_share: float) -> None:
    import sqlite3

    conn = sqlite3.connect(make_url(url).database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for rows in synthetic_batches(n, round_id, public, comment_share):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO responses (id, round_id, sealed) VALUES (?, ?, ?)", rows)
        conn.executemany("INSERT INTO token_hashes (token_hash, round_id, used) VALUES (?, ?, 1)",
                         [(secrets.token_bytes(32), round_id) for _ in rows])
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


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


def run_publish(url: str, round_id: int, keys: str) -> dict[str, Any]:
    phases: dict[str, float] = {}
    for name, phase in (("_aggregate", "aggregate"), ("_store", "store"),
                        ("delete_raw_responses", "delete_raw")):
        setattr(publish_module, name, timed(phases, phase, getattr(publish_module, name)))
    # The erasure after commit (checkpoint or VACUUM) runs from speakup.db's listener.
    db_module.erase_deleted_rows = timed(phases, "erase", db_module.erase_deleted_rows)
    engine = make_engine(url)
    settings = Settings(database_url=url, secret_key="bench",  # noqa: S106
                        round_keys_path=Path(keys))
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
        n, comment_share, keys = int(args[1]), float(args[2]), Path(args[3])
        started = time.perf_counter()
        round_id, public = create_round(url, n, keys)
        (load_sqlite if url.startswith("sqlite") else load_postgres)(
            url, n, round_id, public, comment_share
        )
        result = {"round_id": round_id, "seconds": time.perf_counter() - started}
    elif step == "publish":
        result = run_publish(url, int(args[1]), args[2])
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
    with fresh_postgres(pg_url) as url:
        yield url


def bench_publish(sizes: list[int], backends: list[str], pg_url: str,
                  comment_share: float) -> None:
    print("(2) Publication of a closed round: N respondents x 10 items x 3 questions")
    print(f"    items: {', '.join(ITEMS)}; ~90% answer each item, ~95% each question; "
          f"{comment_share:.0%} leave a comment")
    header = (f"{'backend':<10} {'N':>9} {'load s':>8} {'publish s':>9} "
              f"{'aggr':>7} {'store':>6} {'delete':>7} {'erase':>6} "
              f"{'rss MB':>7} {'+MB':>6}")
    print(header)
    workdir = Path(tempfile.mkdtemp(prefix="speakup-bench-"))
    try:
        for backend in backends:
            for n in sizes:
                with fresh_database(backend, pg_url, workdir) as url:
                    migrate.upgrade(url)
                    keys = str(workdir / f"keys-{backend}-{n}")
                    load = child("load", url, str(n), str(comment_share), keys)
                    pub = child("publish", url, str(load["round_id"]), keys)
                    phases = pub["phases"]
                    print(
                        f"{backend:<10} {n:>9,} {load['seconds']:>8.1f} "
                        f"{pub['seconds']:>9.2f} {phases.get('aggregate', 0):>7.2f} "
                        f"{phases.get('store', 0):>6.2f} {phases.get('delete_raw', 0):>7.2f} "
                        f"{phases.get('erase', 0):>6.2f} "
                        f"{pub['maxrss_mb']:>7.0f} {pub['maxrss_mb'] - pub['baseline_mb']:>6.1f}",
                        flush=True,
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("    publish s = publish_round + commit (one transaction): aggr = open the sealed")
    print("    responses, count them, disclosure control; store = payload insert; delete =")
    print("    raw rows; token hashes are deleted in the remainder; erase = after commit,")
    print("    SQLite's WAL checkpoint (TRUNCATE) or PostgreSQL's VACUUM of the raw tables")
    print("    (part of publish s).")
    print("    rss MB = peak RSS of the publishing process;")
    print("    +MB = growth during publication (what scales with N, if anything).")


# --- (1) submission under load -------------------------------------------------------

SUBMIT_LEVELS = ((16, 800), (64, 1280))
SMOKE_LEVELS = ((2, 8),)  # --smoke: only that the bench still runs (tests/foundation)
SECRET = "bench-secret-" + "s" * 40
CSRF_FIELD = re.compile(rb'name="csrf_token" value="([^"]+)"')
TOKENS: list[str] = []  # one invitation link per submission; set before the load forks


class _Respondent(loadgen._Client):
    """A respondent's browser: GET ``/s/<token>``, POST it; the redirect to thanks is success.

    bench/loadgen.py posts to one fixed path and wants a 200; a survey link is
    different per person and answers with a redirect, so this client maps that one
    redirect to what loadgen counts as a success.
    """

    def submit(self, number: int) -> tuple[int, bytes, float, float]:
        path = f"/s/{TOKENS[number]}"
        started = time.perf_counter()
        status, page = self.request("GET", path)
        match = CSRF_FIELD.search(page)
        if status != 200 or not match:
            return status, page, 0.0, time.perf_counter() - started
        fields = {"csrf_token": match.group(1).decode(), **_answers(number)}
        body, content_type = loadgen._encode(fields, self.spec.multipart)
        posted = time.perf_counter()
        status, page = self.request("POST", path, body, content_type)
        done = time.perf_counter()
        if status == 302:
            status, page = 200, self.spec.expect
        return status, page, done - posted, done - started


def _answers(number: int) -> dict[str, str]:
    """A full response: every item, every group question, a comment now and then."""
    rng = random.Random(number)
    bank = load_item_bank()
    fields = {f"item-{item}": str(rng.choice(sorted(bank.item(item).scale.valid_values)))
              for item in ITEMS}
    for question in DEMOGRAPHICS:
        options = [o["id"] for o in question["options"]] + ["prefer_not"]
        fields[f"group-{question['id']}"] = rng.choice(options)
    if number % 10 == 0:
        fields["comment"] = "More time for training would help our team."
    return fields


def _floor_fields(number: int) -> dict[str, str]:
    return {"category": str(number % 4 + 1), "what_happened": f"Something happened (#{number})",
            "what_wanted": "A fair process."}


def open_round_with_tokens(url: str, count: int) -> tuple[int, list[str]]:
    """Create a survey with an open round and `count` invitation links (hashes stored)."""
    settings = Settings(database_url=url, secret_key=SECRET)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            survey = benchmark_survey(dt.date.today())
            session.add(survey)
            session.flush()
            now = dt.datetime.now(dt.UTC)
            round_ = Round(
                survey_id=survey.id, status="open", opens_at=now - dt.timedelta(hours=1),
                closes_at=now + dt.timedelta(days=14), reminder_times=[], reminders_sent=0,
                min_group_size=5, invited_count=count, opened_at=now, raw_deleted=False,
            )
            session.add(round_)
            session.flush()
            keys = Path(tempfile.mkdtemp(prefix="speakup-bench-keys-"))
            round_.public_key = RoundKeyFolder(keys).create(round_.id).public_key
            tokens = invitations.issue_tokens(session, round_.id, count,
                                              invitations.token_key(settings))
            session.commit()
            return round_.id, tokens
    finally:
        engine.dispose()


def count_rows(url: str, round_id: int) -> tuple[int, int]:
    """Return (responses stored, links marked used) for the round."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            responses = conn.execute(text("SELECT count(*) FROM responses WHERE round_id = :r"),
                                     {"r": round_id}).scalar_one()
            used = conn.execute(text("SELECT count(*) FROM token_hashes WHERE round_id = :r "
                                     "AND used = :t"), {"r": round_id, "t": True}).scalar_one()
            return responses, used
    finally:
        engine.dispose()


def bench_submit(backends: list[str], pg_url: str, quick: bool, smoke: bool = False) -> None:
    print("(1) Response submission through gunicorn (shipped gunicorn.conf.py) vs the floor app")
    levels = tuple((c, n // 4) for c, n in SUBMIT_LEVELS) if quick else SUBMIT_LEVELS
    if smoke:
        levels = SMOKE_LEVELS
    workdir = Path(tempfile.mkdtemp(prefix="speakup-bench-submit-"))
    try:
        for backend in backends:
            with fresh_database(backend, pg_url, workdir) as url, \
                    fresh_database(backend, pg_url, workdir) as floor_url:
                migrate.upgrade(url)
                floor.create_schema(floor_url)
                warm_up = 4 if smoke else 32
                total = sum(n for _, n in levels) + warm_up
                round_id, tokens = open_round_with_tokens(url, total)
                TOKENS[:] = tokens
                env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
                app_env = {**env, "SPEAKUP_DATABASE_URL": url, "SPEAKUP_SECRET_KEY": SECRET,
                           "SPEAKUP_INSTANCE_PATH": str(workdir / "instance"),
                           "SPEAKUP_SECURE_COOKIES": "false"}
                # The shipped gunicorn.conf.py checks the Speak Up database before serving,
                # also for the floor: it gets this run's (migrated) one for that check.
                floor_env = {**app_env, "FLOOR_DATABASE_URL": floor_url,
                             "PYTHONPATH": str(REPO)}
                app = start_gunicorn("speakup.app:create_app()", app_env, workdir)
                floor_server = start_gunicorn("bench.floor:create_app()", floor_env, workdir,
                                              health="/new")
                app_url, floor_url_http = app.url, floor_server.url
                try:
                    survey_spec = loadgen.LoadSpec(
                        base_url=app_url, form_path="", post_path="", fields=_answers,
                        expect=b"thanks", token_pattern=CSRF_FIELD)
                    floor_spec = loadgen.LoadSpec(
                        base_url=floor_url_http, form_path="/new", post_path="/new",
                        fields=_floor_fields, expect=b'id="receipt"')
                    # Warm both up (imports, connections) with a few untimed submissions.
                    _run(survey_spec, 4, warm_up, 0)
                    loadgen.run_load(floor_spec, clients=4, submissions=warm_up)
                    first = warm_up
                    print(f"  {backend}")
                    for clients, submissions in levels:
                        ours = _run(survey_spec, clients, submissions, first)
                        first += submissions
                        base = loadgen.run_load(floor_spec, clients=clients,
                                                submissions=submissions)
                        ratio = ours.throughput / base.throughput if base.throughput else 0
                        print(f"    surveys {ours.summary()}")
                        print(f"    floor   {base.summary()}")
                        print(f"    -> {ratio:.0%} of the floor's throughput", flush=True)
                        for sample in ours.error_samples:
                            print(f"       error: {sample[:160]}")
                finally:
                    app.stop()
                    floor_server.stop()
                stored, used = count_rows(url, round_id)
                expected = first  # every submission, warm-up included, used one link
                print(f"    rows: {stored} responses, {used} links used, {expected} submitted "
                      f"({stored - used} duplicates; {expected - stored} lost or failed)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(spec: loadgen.LoadSpec, clients: int, submissions: int, first: int
         ) -> loadgen.LoadResult:
    # loadgen builds its clients from its module's _Client; forked children see this swap.
    original = loadgen._Client
    loadgen._Client = _Respondent
    try:
        return loadgen.run_load(spec, clients=clients, submissions=submissions,
                                first_number=first)
    finally:
        loadgen._Client = original


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        child_main(argv[1], argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", nargs="?", choices=["all", "publish", "submit"], default="all")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="submit: a quarter of the load")
    parser.add_argument("--smoke", action="store_true",
                        help="submit: a handful of submissions, to check the bench runs")
    parser.add_argument("--comment-share", type=float, default=0.01)
    args = parser.parse_args(argv)
    url = pg_url()
    if args.part in ("all", "publish"):
        bench_publish([int(s) for s in args.sizes.split(",")], args.backends.split(","),
                      url, args.comment_share)
    if args.part in ("all", "submit"):
        bench_submit(args.backends.split(","), url, args.quick, args.smoke)


if __name__ == "__main__":
    main()
