"""Requests that only read take no write lock; writers, and reads that write, still queue.

speakup/db.py: a GET's session begins DEFERRED on SQLite and cannot write; a view
marked `@writes`, or a transaction begun with `begin_writing`, takes the lock up front.
These tests use a real database committed to for real, as a server does (the usual
fixtures roll one outer transaction back, which would hide how transactions begin).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from concern_fixtures import CHEAP_ARGON2, make_handler, recovery_key
from conftest import TEST_SECRET, csrf_token_from
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from concerns import services
from concerns.config import ConcernConfig
from concerns.models import Concern, ConcernCategory
from speakup import audit
from speakup.db import DATABASE_FAULTS, begin_writing, make_engine, make_session_factory
from speakup.derived_keys import session_keys
from speakup.models import AuditEntry
from speakup.settings import Settings
from speakup.web import clock, db, writes
from speakup.web import services as app_services

__all__ = ["make_handler", "recovery_key"]

THREADS = 6
ROUNDS = 4
LABEL = "Read-only test category"


@pytest.fixture
def session_factory(fresh_database_url: str) -> Iterator[sessionmaker[Session]]:
    """The app's own kind of factory, bound to an engine (overrides conftest's)."""
    engine = make_engine(fresh_database_url)
    yield make_session_factory(engine, session_keys(TEST_SECRET))
    engine.dispose()


@pytest.fixture
def concern_config(settings: Settings) -> ConcernConfig:
    return ConcernConfig.from_settings(settings).with_changes(argon2=CHEAP_ARGON2,
                                                              concerns_per_minute=100_000)


@pytest.fixture
def app(app: Flask, concern_config: ConcernConfig) -> Flask:  # type: ignore[override]
    app_services(app).extras["concerns"] = concern_config

    def audited_read() -> str:
        count = db().scalar(select(func.count()).select_from(AuditEntry))
        audit.record(db(), clock(), actor="test", action="test.read", subject=str(count))
        db().commit()
        return "ok"

    def read_then_begin_writing() -> str:
        # As the sign-in's user loader does: read, then say the transaction writes.
        count = db().scalar(select(func.count()).select_from(AuditEntry))
        begin_writing(db())
        audit.record(db(), clock(), actor="test", action="test.read", subject=str(count))
        db().commit()
        return "ok"

    app.add_url_rule("/test/audited-read", "audited_read", writes(audited_read))
    app.add_url_rule("/test/read-then-write", "read_then_write", read_then_begin_writing)
    return app


@pytest.fixture
def category_id(session: Session, clock, recovery_key, make_handler) -> int:  # noqa: ANN001
    make_handler()
    category = services.add_category(session, clock, label=LABEL, actor="test")
    session.commit()
    return category.id


def _hold_write_lock(session_factory: sessionmaker[Session]):  # noqa: ANN202
    """Another connection's open transaction that has written (holds SQLite's lock)."""
    holder = session_factory.kw["bind"].connect()
    holder.begin()
    holder.execute(update(ConcernCategory).values(position=ConcernCategory.position))
    return holder


def _submit(client, category: int, number: int) -> int:  # noqa: ANN001
    page = client.get("/concerns/new").get_data(as_text=True)
    response = client.post("/concerns/new", data={
        "csrf_token": csrf_token_from(page), "category": str(category),
        "what_happened": f"Concern number {number}, sent while others were sent too.",
        "what_wanted": ""})
    assert "receipt" in response.get_data(as_text=True).lower()
    return response.status_code


def _concerns(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as fresh:
        return fresh.scalar(select(func.count()).select_from(Concern))


def test_the_form_is_served_while_another_connection_holds_the_write_lock(
    app, client, category_id, session_factory
):
    # Given another connection in the middle of a write transaction
    holder = _hold_write_lock(session_factory)
    try:
        # When a reporter opens the form
        result: dict[str, object] = {}
        worker = threading.Thread(target=lambda: result.update(
            page=client.get("/concerns/new")))
        worker.start()
        worker.join(timeout=120)

        # Then it is served, categories read from the database, while the lock is held
        # (with BEGIN IMMEDIATE it waited out busy_timeout and came back without them)
        assert not worker.is_alive()
        page = result["page"]
        assert page.status_code == 200
        assert LABEL in page.get_data(as_text=True)
        assert holder.in_transaction()
    finally:
        holder.rollback()
        holder.close()


def test_a_get_that_writes_unannounced_fails_at_once_and_begin_writing_lets_it(
    app, category_id, session_factory, backend
):
    with app.test_request_context("/concerns/new", method="GET"):
        # Given a GET's session that has read
        assert db().scalar(select(func.count()).select_from(AuditEntry)) >= 1
        # When it writes without saying so, SQLite refuses at once (PostgreSQL, which
        # has no write lock to spare, is left as it is)
        if backend == "sqlite":
            with pytest.raises(DATABASE_FAULTS):
                audit.record(db(), clock(), actor="test", action="test.sneaky", subject="x")
                db().flush()
        db().rollback()
        # And once the transaction says it writes, the same write is kept
        db().scalar(select(func.count()).select_from(AuditEntry))
        begin_writing(db())
        audit.record(db(), clock(), actor="test", action="test.announced", subject="x")
        db().commit()
    with app.test_request_context("/concerns/new", method="POST"):
        # A POST's session writes without asking
        audit.record(db(), clock(), actor="test", action="test.posted", subject="x")
        db().commit()
    with session_factory() as fresh:
        actions = Counter(fresh.scalars(select(AuditEntry.action)))
    assert (actions["test.sneaky"], actions["test.announced"], actions["test.posted"]) == (
        0, 1, 1)


def test_a_submission_waits_for_another_writer_instead_of_failing(
    app, client, category_id, session_factory
):
    # Given another connection holding the write lock, and a reporter sending a concern
    before = _concerns(session_factory)
    holder = _hold_write_lock(session_factory)
    result: dict[str, int] = {}
    worker = threading.Thread(target=lambda: result.update(
        status=_submit(client, category_id, 0)))
    worker.start()
    worker.join(timeout=0.5)
    # When the other writer commits
    holder.commit()
    holder.close()
    worker.join(timeout=120)
    # Then the submission went through after it, not into SQLITE_BUSY
    assert not worker.is_alive()
    assert result["status"] == 200
    assert _concerns(session_factory) == before + 1


def test_forms_submissions_and_reads_that_write_all_succeed_under_concurrency(
    app, category_id, session_factory
):
    # Given several reporters and readers at once, each with their own browser
    before = _concerns(session_factory)
    barrier = threading.Barrier(THREADS)
    statuses: Counter[tuple[str, int]] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(number: int) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=60)
            for round_ in range(ROUNDS):
                got = [("submit", _submit(client, category_id, number * ROUNDS + round_)),
                       ("audited", client.get("/test/audited-read").status_code),
                       ("begin", client.get("/test/read-then-write").status_code),
                       ("form", client.get("/concerns/new").status_code)]
                with lock:
                    statuses.update(got)
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)

    # When each sends concerns, opens forms and makes audited reads, all at once
    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    # Then every request succeeded and every write was kept exactly once
    assert errors == [], errors
    done = THREADS * ROUNDS
    assert statuses == Counter({("submit", 200): done, ("audited", 200): done,
                                ("begin", 200): done, ("form", 200): done})
    assert _concerns(session_factory) == before + done
    with session_factory() as fresh:
        assert fresh.scalar(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action == "test.read")) == 2 * done
