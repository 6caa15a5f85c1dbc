"""The professional group is never stored beside its concern (DESIGN.md rule 2).

Seen from the attacker's side (a copy of the database, SQLite's files included): no
table can hold a concern next to a group, no row tied to a concern names a group, and
the unlinked marks name no concern. Seen from the handler's side: the group is read in
the encrypted report, and the return's per-group figures leave out spam and duplicates
once a handler who can read the concern marks it so."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import struct
from pathlib import Path

import pyotp
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_fixtures import CHEAP_ARGON2
from concern_helpers import hidden_fields, post_form, receipt_from, submit
from conftest import TEST_SECRET
from sqlalchemy import inspect, select, text

from concerns import (
    group_marks,
    guardian_return,
    keys,
    professional_groups,
    publication,
    services,
)
from concerns.config import ConcernConfig
from concerns.models import Concern, ConcernGroupMark, ConcernStatsPublication
from speakup import accounts
from speakup.app import create_app
from speakup.db import make_engine
from speakup.settings import Settings
from speakup.web import services as app_services

MEDICAL, NURSES, STUDENTS = ("Medical and dental", "Registered nurses and midwives",
                             "Students")
MARK_COLUMNS = {"id", "quarter", "group_id", "counted"}
PASSWORD = "a long handler password"
TEXT = "The consultant shouts at the junior doctors from minority groups."


def _group_ids(session):
    return {g.label: g.id for g in professional_groups.list_groups(session, active_only=False)}


# --- the schema ----------------------------------------------------------------------------


def test_no_table_can_hold_a_concern_beside_a_group(session, backend):
    inspector = inspect(session.get_bind())
    for name in inspector.get_table_names():
        columns = {c["name"] for c in inspector.get_columns(name)}
        tied = name == "concerns" or "concern_id" in columns or "receipt_hash" in columns
        if tied:
            assert not any("group" in c for c in columns), name
    assert {c["name"] for c in inspector.get_columns("concern_group_marks")} == MARK_COLUMNS
    assert [fk["referred_table"] for fk in inspector.get_foreign_keys(
        "concern_group_marks")] == ["concern_professional_groups"]
    if backend == "sqlite":
        sql = session.scalar(text(
            "SELECT sql FROM sqlite_master WHERE name='concern_group_marks'"))
        assert "WITHOUT ROWID" in sql.upper()  # stored in the random id's order


# --- a copy of the database ------------------------------------------------------------------


@pytest.fixture
def committed_app(fresh_database_url, tmp_path, clock):
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET, secure_cookies=False, testing=True)
    app = create_app(settings)
    svc = app_services(app)
    svc.clock = clock
    svc.extras["concerns"] = ConcernConfig.from_settings(settings).with_changes(
        argon2=CHEAP_ARGON2)
    yield app
    svc.engine.dispose()


def _sqlite_pages(url):
    """Every page of the SQLite database file and every frame of its -wal, as bytes."""
    path = Path(url.removeprefix("sqlite:///"))
    main = path.read_bytes()
    size = struct.unpack(">H", main[16:18])[0]
    size = 65536 if size == 1 else size
    pages = [main[i:i + size] for i in range(0, len(main), size)]
    wal = Path(f"{path}-wal")
    if wal.exists():
        raw = wal.read_bytes()
        frame = 24 + size
        pages += [raw[i:i + frame] for i in range(32, len(raw), frame)]
    return pages


def test_a_database_copy_links_no_concern_to_its_group(committed_app, fresh_database_url,
                                                      clock):
    svc = app_services(committed_app)
    config = svc.extras["concerns"]
    with svc.session_factory() as session:
        keys.create_recovery_key(session, clock, config, actor="test")
        handler = accounts.create_user(session, clock, email="h@example.org", role="handler",
                                       password=PASSWORD, actor="test")
        session.commit()
        totp, ids = handler.totp_secret, _group_ids(session)
    staff = committed_app.test_client()
    assert post_form(staff, "/login", {"email": "h@example.org", "password": PASSWORD,
                                       "totp": pyotp.TOTP(totp).at(clock.now())}
                     ).status_code == 302
    chosen = [MEDICAL, NURSES, STUDENTS, None]
    receipts = []
    for group in chosen:
        extra = {"professional_group": str(ids[group])} if group else {}
        response = submit(committed_app.test_client(), text=TEXT, extra=extra)
        receipts.append(receipt_from(response.get_data(as_text=True)))
    with svc.session_factory() as session:
        concerns = {c.id: c.receipt_hash for c in session.scalars(select(Concern))}
        marks = list(session.scalars(select(ConcernGroupMark)))
    # What the handler sees on each concern's page: the group, read from the report.
    seen = set()
    for concern_id in concerns:
        page = html.unescape(staff.get(f"/handle/{concern_id}").get_data(as_text=True))
        assert TEXT in page
        seen.add(next((g for g in chosen[:3] if f"<dd>{g} <span" in page), None))
    assert seen == set(chosen)
    assert sorted(m.group_id for m in marks) == sorted(ids[g] for g in chosen if g)
    svc.engine.dispose()

    labels = [g for g in chosen if g]
    mark_ids = [m.id for m in marks]
    concern_needles = [*(i.encode() for i in concerns), *concerns.values(),
                       *(h.hex().encode() for h in concerns.values())]
    engine = make_engine(fresh_database_url)
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{name}"')).mappings():
                values = [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                          for v in row.values()]
                blob = b"\x00".join(values)
                tied = any(n in blob for n in concern_needles)
                if name == "concern_group_marks":
                    # A mark: its quarter and group; no concern, no receipt, no date.
                    assert set(row.keys()) == MARK_COLUMNS and not tied
                    assert b"2026-03-02" not in blob and b"2026-03" not in blob
                    continue
                for mark_id in mark_ids:  # no other table names a mark
                    assert mark_id.encode() not in blob, name
                    assert bytes.fromhex(mark_id) not in blob, name
                if tied:  # a row about a concern names no group
                    assert not any("group" in column for column in row), name
                    for label in labels:
                        assert label.encode() not in blob, (name, label)
    engine.dispose()

    if fresh_database_url.startswith("sqlite:///"):
        pages = _sqlite_pages(fresh_database_url)
        raw = b"".join(pages)
        # The report's plain text (and with it the mark's id beside the group) never
        # reaches the disk: it is sealed.
        assert b'"group_mark"' not in raw and b'"professional_group"' not in raw
        assert TEXT.encode() not in raw
        for mark_id in mark_ids:
            assert mark_id.encode() in raw  # sanity: the scan below sees the marks
            for page in pages:
                if mark_id.encode() in page:
                    # No page that holds a mark holds a concern id or a receipt hash.
                    assert not any(n in page for n in concern_needles)


# --- the handler's side ----------------------------------------------------------------------


def _figures(client, quarter="2026-Q1"):
    response = client.get(f"/handle/return.csv?quarter={quarter}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    return {r[2]: r[3] for r in rows[1:] if r[1] in (guardian_return.CASES,
                                                     guardian_return.GROUPS)}


def _form(client, concern_id, prefix):
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    return page, {k: v for k, v in hidden_fields(page).items() if k.startswith(prefix)}


def test_spam_and_duplicates_leave_the_group_figures_and_reopening_counts_them_again(
        client, login_as, session, clock, concern_config, recovery_key):
    login_as("handler")
    ids = _group_ids(session)
    made = [services.submit_concern(session, clock, concern_config, category_id=1,
                                    what_happened=TEXT, professional_group=str(ids[group]))[1]
            for group in (MEDICAL, MEDICAL, NURSES)]
    services.submit_concern(session, clock, concern_config, category_id=1,
                            what_happened=TEXT)  # not answered
    session.commit()
    before = _figures(client)
    assert (before["Cases raised"], before[MEDICAL], before[NURSES],
            before["Not answered"]) == ("4", "2", "1", "1")
    page, fields = _form(client, made[0], "exclude-")
    assert "<dd>Medical and dental <span" in html.unescape(page)
    response = client.post(f"/handle/{made[0]}/exclude",
                           data={**fields, "exclude-reason": "spam"}, follow_redirects=True)
    assert "Closed, and left out of the statistics." in response.get_data(as_text=True)
    _, fields = _form(client, made[2], "exclude-")
    assert client.post(f"/handle/{made[2]}/exclude",
                       data={**fields, "exclude-reason": "duplicate"}).status_code == 302
    after = _figures(client)
    assert (after["Cases raised"], after[MEDICAL], after[NURSES],
            after["Not answered"]) == ("2", "1", "0", "1")
    _, fields = _form(client, made[0], "reopen-")
    assert client.post(f"/handle/{made[0]}/reopen", data=fields).status_code == 302
    again = _figures(client)
    assert (again["Cases raised"], again[MEDICAL], again["Not answered"]) == ("3", "2", "1")


def test_a_handler_whose_key_cannot_open_it_leaves_the_group_counted(
        client, login_as, session, clock, concern_config, recovery_key):
    login_as("handler")
    medical = _group_ids(session)[MEDICAL]
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT,
                                            professional_group=str(medical))
    session.commit()
    _, fields = _form(client, concern_id, "exclude-")
    with client.session_transaction() as browser:  # the key session lapses
        browser.pop("concern_key", None)
    response = client.post(f"/handle/{concern_id}/exclude",
                           data={**fields, "exclude-reason": "spam"}, follow_redirects=True)
    page = html.unescape(response.get_data(as_text=True))
    assert "its professional-group answer, if any, still counts" in page
    session.expire_all()
    assert session.get(Concern, concern_id).outcome == "spam"
    figures = _figures(client)
    # The documented edge: the case is gone, its answer stays; "Not answered" never < 0.
    assert (figures["Cases raised"], figures[MEDICAL], figures["Not answered"]) == (
        "0", "1", "0")
    # The publication then shows no group table for the quarter (no partition holds it).
    published = publication.publish_quarter(session, clock, "2026-Q1", dt.date(2026, 5, 1),
                                            k=5, grace_days=14, actor="test")
    assert published is not None
    payload = session.get(ConcernStatsPublication, "2026-Q1").payload
    assert payload["withheld"]["groups"] == []
    assert payload["published"]["figures"]["received_by_group"] is None


def test_purging_a_concern_keeps_its_unlinked_mark_and_the_figures(
        session, clock, concern_config, recovery_key, make_handler):
    handler = make_handler()
    nurses = _group_ids(session)[NURSES]
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT, professional_group=nurses)
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="closed", outcome="resolved", expected_status="new")
    session.commit()
    clock.advance(days=concern_config.retention_days + 1)
    assert services.purge_expired(session, clock, concern_config, actor="test") == 1
    session.commit()
    session.expire_all()
    assert session.get(Concern, concern_id).purged_on is not None
    (mark,) = session.scalars(select(ConcernGroupMark))
    assert (mark.group_id, mark.quarter, mark.counted) == (nurses, "2026-Q1", True)
    result = guardian_return.guardian_return(session, "2026-Q1", dt.date(2026, 3, 2))
    assert (result.value("Cases raised"), result.value(NURSES)) == (1, 1)


def test_the_report_carries_the_group_and_its_mark_only_when_answered():
    answered = services.validate_report(category_id="1", what_happened=TEXT,
                                        what_wanted="", professional_group="3")
    body = json.loads(answered.plaintext)
    assert body[group_marks.GROUP_FIELD] == "3"
    assert re.fullmatch(r"[0-9a-f]{32}", body[group_marks.MARK_FIELD])
    assert body[group_marks.MARK_FIELD] == answered.group_mark
    skipped = services.validate_report(category_id="1", what_happened=TEXT, what_wanted="")
    assert skipped.group_mark is None
    assert group_marks.MARK_FIELD not in json.loads(skipped.plaintext)


def test_the_stated_limit_one_write_leaves_its_traces_together(
        session, backend, clock, concern_config, recovery_key, make_handler):
    """The README's stated limit, kept true: a physical copy can still link them."""
    make_handler()
    medical = _group_ids(session)[MEDICAL]
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT, professional_group=medical)
    session.commit()
    if backend == "postgresql":
        # Each row carries the id of the transaction that wrote it (not in a pg_dump).
        written = session.scalar(text(
            "SELECT xmin::text FROM concern_messages WHERE concern_id = :c AND seq = 1"),
            {"c": concern_id})
        assert session.scalar(text("SELECT xmin::text FROM concern_group_marks")) == written
    else:
        # The -wal file (until checkpointed) is where one submission's pages sit together.
        assert session.scalar(text("PRAGMA journal_mode")).lower() == "wal"
