"""Publication on sealed responses vs the old plaintext GROUP BY path: print figures only.

    .venv/bin/python bench/publish_sealed.py                       # 100 k, both engines
    .venv/bin/python bench/publish_sealed.py --size 20000 --backends sqlite

For each engine, a fresh migrated database gets one closed round of N respondents
(10 items: psafe with three reverse-scored items, speak, two yes/no; 3 demographic
questions of 2, 12 and 7 options; 90 % of items and 95 % of groups answered; a
comment every tenth) stored twice, from the same synthetic people:

* **old**: the pre-0014 plaintext tables (``responses`` + ``response_answers`` +
  ``response_groups``, the keys and indexes migration 0013 left them with, ``WITHOUT
  ROWID`` on SQLite) under ``bench_old_*`` names, queried with the GROUP BY statements
  publication ran before migration 0014 (respondents, groups, items, items x groups,
  one per scale), run twice and the second (warm) run reported — the *bare queries*;
* **new**: ``responses.sealed`` blobs sealed as four web processes would (four
  sealers), read back and counted by publication's own code
  (``surveys.publish._aggregates``: stream, decrypt, tally) — the *decrypt-and-aggregate*
  step — and then the whole ``publish_round`` + commit (aggregate, disclosure
  decision and audit, store, delete, key destruction).

It also prints, without a database: the cost of opening N blobs when every response
has a sealer of its own (one X25519 each) against one sealer per process, and the
submission-side cost per response (sealing; a sealer's one-off X25519), and the insert
cost per response of one sealed row vs the old 1 + answers + groups rows.

PostgreSQL comes from ``SPEAKUP_BENCH_DATABASE_URL`` (or ``SPEAKUP_TEST_DATABASE_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import (  # first: puts the repository, not bench/, on the import path
    DEMOGRAPHICS,
    ITEMS,
    add_closed_round,
    fresh_postgres,
    pg_url,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    null,
    select,
    text,
    union_all,
)

from speakup import migrate
from speakup.clock import FrozenClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys import publish as publish_module
from surveys.itembank import load_item_bank
from surveys.models import Response, Round, Survey
from surveys.round_keys import RoundKeyFolder, public_bytes
from surveys.sealed_answers import Sealer, _Opener

BATCH = 20_000
SEALERS = 4  # web processes

# --- the pre-0014 plaintext tables and their GROUP BY queries -------------------------

OLD = MetaData()
old_responses = Table("bench_old_responses", OLD,
                      Column("id", String(32), primary_key=True),
                      Column("round_id", Integer, nullable=False),
                      Column("comment", Text), sqlite_with_rowid=False)
old_answers = Table("bench_old_answers", OLD,
                    Column("response_id", String(32), primary_key=True),
                    Column("item_id", String(32), primary_key=True),
                    Column("round_id", Integer, nullable=False),
                    Column("value", SmallInteger, nullable=False),
                    Index("bench_old_answers_round_item", "round_id", "item_id"),
                    sqlite_with_rowid=False)
old_groups = Table("bench_old_groups", OLD,
                   Column("response_id", String(32), primary_key=True),
                   Column("dimension", String(32), primary_key=True),
                   Column("round_id", Integer, nullable=False),
                   Column("option", String(64), nullable=False),
                   Index("bench_old_groups_round_dimension", "round_id", "dimension"),
                   sqlite_with_rowid=False)


def old_queries(plan, round_id: int) -> list[tuple[str, object]]:  # noqa: ANN001
    """The statements surveys/publish.py ran before migration 0014, on the bench tables."""
    a, g = old_answers.c, old_groups.c
    item_ids = [i.id for i in plan.items]
    queries: list[tuple[str, object]] = [
        ("respondents", select(func.count()).select_from(old_responses)
         .where(old_responses.c.round_id == round_id)),
        ("groups", select(g.dimension, g.option, func.count()).where(g.round_id == round_id)
         .group_by(g.dimension, g.option)),
        ("items", select(a.item_id, a.value, func.count())
         .where(a.round_id == round_id, a.item_id.in_(item_ids)).group_by(a.item_id, a.value)),
        ("items x groups", select(g.dimension, g.option, a.item_id, a.value, func.count())
         .join(old_groups, g.response_id == a.response_id)
         .where(a.round_id == round_id, g.round_id == round_id, a.item_id.in_(item_ids))
         .group_by(g.dimension, g.option, a.item_id, a.value)),
    ]
    for scale in plan.scales:
        top = scale.instrument.scale.max_value
        reversed_ids = [i.id for i in scale.asked if i.reverse]
        scored = case((a.item_id.in_(reversed_ids), top + 1 - a.value), else_=a.value) \
            if reversed_ids else a.value
        scores = (select(a.response_id.label("response_id"), func.sum(scored).label("total"),
                         func.count().label("answered"))
                  .where(a.round_id == round_id, a.item_id.in_([i.id for i in scale.asked]),
                         a.value.between(scale.instrument.scale.min_value, top))
                  .group_by(a.response_id).having(func.count() >= scale.min_answered)
                  .cte(f"scores_{scale.row_id.replace('.', '_')}"))
        none = cast(null(), String(64))
        overall = select(none, none, scores.c.total, scores.c.answered, func.count()) \
            .group_by(scores.c.total, scores.c.answered)
        by_group = (select(g.dimension, g.option, scores.c.total, scores.c.answered, func.count())
                    .join(old_groups, and_(g.response_id == scores.c.response_id,
                                           g.round_id == round_id))
                    .group_by(g.dimension, g.option, scores.c.total, scores.c.answered))
        queries.append((f"{scale.row_id} scores", union_all(overall, by_group)))
    return queries


# --- data --------------------------------------------------------------------------


def people(n: int, seed: int = 7) -> Iterator[tuple[dict[str, int], dict[str, str], str | None]]:
    rng = random.Random(seed)
    bank = load_item_bank()
    values = {item: sorted(bank.item(item).scale.valid_values) for item in ITEMS}
    options = [[o["id"] for o in d["options"]] + ["prefer_not"] for d in DEMOGRAPHICS]
    for _ in range(n):
        answers = {item: rng.choice(values[item]) for item in ITEMS if rng.random() < 0.9}
        groups = {d["id"]: rng.choice(opts) for d, opts in zip(DEMOGRAPHICS, options, strict=True)
                  if rng.random() < 0.95}
        comment = "Synthetic comment text, a sentence or two long." if rng.random() < 0.1 \
            else None
        yield answers, groups, comment


def load(url: str, n: int, folder: RoundKeyFolder) -> tuple[int, Survey]:
    engine = make_engine(url)
    try:
        OLD.create_all(engine)
        with make_session_factory(engine)() as session:
            round_ = add_closed_round(session, folder, n)
            survey = session.get(Survey, round_.survey_id)
            sealers = [Sealer(round_.id, round_.public_key) for _ in range(SEALERS)]
            rows: dict[str, list[dict]] = {"new": [], "r": [], "a": [], "g": []}

            def flush() -> None:
                for table, key in ((Response.__table__, "new"), (old_responses, "r"),
                                   (old_answers, "a"), (old_groups, "g")):
                    if rows[key]:
                        session.execute(insert(table), rows[key])
                    rows[key] = []
                session.commit()

            for index, (answers, groups, comment) in enumerate(people(n)):
                rid = secrets.token_hex(16)
                rows["new"].append({"id": secrets.token_hex(16), "round_id": round_.id,
                                    "sealed": sealers[index % SEALERS].seal(answers, groups,
                                                                            comment)})
                rows["r"].append({"id": rid, "round_id": round_.id, "comment": comment})
                rows["a"] += [{"response_id": rid, "item_id": i, "round_id": round_.id,
                               "value": v} for i, v in answers.items()]
                rows["g"] += [{"response_id": rid, "dimension": d, "round_id": round_.id,
                               "option": o} for d, o in groups.items()]
                if (index + 1) % BATCH == 0:
                    flush()
            flush()
            session.expunge(survey)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))  # as autovacuum would by closing time
        return round_.id, survey
    finally:
        engine.dispose()


# --- timing -------------------------------------------------------------------------


def seconds(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_engine(url: str, n: int, workdir: Path) -> None:
    folder = RoundKeyFolder(workdir / "round-keys")
    start = time.perf_counter()
    round_id, survey = load(url, n, folder)
    t_load = time.perf_counter() - start
    plan = publish_module._plan(survey, load_item_bank())
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        with engine.connect() as conn:
            statements = old_queries(plan, round_id)
            runs = []
            for _ in range(2):
                runs.append({name: seconds(lambda q=q: conn.execute(q).all())
                             for name, q in statements})
            bare = sum(runs[-1].values())
        with factory() as session:
            agg_runs = [seconds(lambda: publish_module._aggregates(session, round_id, plan,
                                                                   folder))
                        for _ in range(2)]
        settings = Settings(instance_path=workdir, database_url=url, secret_key="b" * 48,
                            round_keys_path=folder.path)
        with factory() as session:
            round_ = session.get(Round, round_id)
            start = time.perf_counter()
            published = publish_module.publish_round(session, round_, settings, FrozenClock())
            session.commit()
            t_publish = time.perf_counter() - start
        assert published.responses == n, published.responses
        assert not list(folder.path.iterdir()), "key file left behind"
    finally:
        engine.dispose()
    print(f"  load (both copies): {t_load:.1f} s")
    print("  old bare GROUP BY queries (warm run): "
          + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in runs[-1].items()))
    print(f"  old bare queries, total:              {bare:8.2f} s")
    print(f"  new decrypt + aggregate (warm run):   {agg_runs[-1]:8.2f} s   "
          f"(first run {agg_runs[0]:.2f} s)  = {agg_runs[-1] / bare:.2f} x the bare queries")
    print(f"  new publish_round + commit (whole):   {t_publish:8.2f} s   "
          "(aggregate, disclosure decision and audit, store, delete, key destroyed)")


def bench_crypto(n: int) -> None:
    private = X25519PrivateKey.generate()
    public = public_bytes(private)
    sample = list(people(n, seed=11))
    shared = [Sealer(1, public) for _ in range(SEALERS)]
    start = time.perf_counter()
    blobs = [shared[i % SEALERS].seal(*p) for i, p in enumerate(sample)]
    t_seal = (time.perf_counter() - start) / n
    t_sealer = seconds(lambda: [Sealer(1, public) for _ in range(200)]) / 200
    few = min(n, 20_000)
    own = [Sealer(1, public).seal(*p) for p in sample[:few]]
    t_open_shared = seconds(lambda: _open_all(private, blobs))
    t_open_own = seconds(lambda: _open_all(private, own)) * n / few
    print(f"  seal one response: {t_seal * 1e6:.1f} us; a new sealer (one X25519 + HKDF, once "
          f"per web process and round): {t_sealer * 1e6:.0f} us")
    print(f"  open {n:,} blobs, {SEALERS} sealers: {t_open_shared:.2f} s; one sealer per "
          f"response (one X25519 each; {few:,} measured, scaled): {t_open_own:.2f} s")


def _open_all(private: X25519PrivateKey, blobs: list[bytes]) -> None:
    # The reader's opener: one derived key per sealer it meets, as publication uses it.
    opener = _Opener(1, private)
    for blob in blobs:
        opener.open(blob)


def bench_inserts(url: str, workdir: Path, count: int = 5_000) -> None:
    """Per-response insert cost: one sealed row vs the old 1 + answers + groups rows."""
    engine = make_engine(url)
    try:
        OLD.create_all(engine)
        with make_session_factory(engine)() as session:
            round_ = add_closed_round(session, RoundKeyFolder(workdir / "insert-keys"), count)
            sealer = Sealer(round_.id, round_.public_key)
            sample = list(people(count, seed=3))
            start = time.perf_counter()
            for answers, groups, comment in sample:
                session.execute(insert(Response.__table__).values(
                    id=secrets.token_hex(16), round_id=round_.id,
                    sealed=sealer.seal(answers, groups, comment)))
                session.commit()
            t_new = (time.perf_counter() - start) / count
            start = time.perf_counter()
            for answers, groups, comment in sample:
                rid = secrets.token_hex(16)
                session.execute(insert(old_responses).values(id=rid, round_id=round_.id,
                                                             comment=comment))
                if answers:
                    session.execute(insert(old_answers), [
                        {"response_id": rid, "item_id": i, "round_id": round_.id, "value": v}
                        for i, v in answers.items()])
                if groups:
                    session.execute(insert(old_groups), [
                        {"response_id": rid, "dimension": d, "round_id": round_.id, "option": o}
                        for d, o in groups.items()])
                session.commit()
            t_old = (time.perf_counter() - start) / count
    finally:
        engine.dispose()
    print(f"  store one response, own transaction: sealed {t_new * 1000:.2f} ms, "
          f"old plaintext rows {t_old * 1000:.2f} ms")


@contextmanager
def fresh_database(backend: str, server_url: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        migrate.upgrade(url)
        yield url
        return
    with fresh_postgres(server_url) as url:
        migrate.upgrade(url)
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--inserts", type=int, default=5_000,
                        help="responses inserted one by one, as answers arrive")
    args = parser.parse_args(argv)
    server_url = pg_url()
    print(f"Sealed responses: {args.size:,} respondents x {len(ITEMS)} items x "
          f"{len(DEMOGRAPHICS)} questions")
    print("crypto only (no database):")
    bench_crypto(args.size)
    for backend in args.backends.split(","):
        print(f"{backend}:")
        with tempfile.TemporaryDirectory() as tmp, \
                fresh_database(backend, server_url, Path(tmp)) as url:
            bench_engine(url, args.size, Path(tmp))
        with tempfile.TemporaryDirectory() as tmp, \
                fresh_database(backend, server_url, Path(tmp)) as url:
            bench_inserts(url, Path(tmp), args.inserts)


if __name__ == "__main__":
    main()
