"""After a full conversation, committed for real: no table, and no byte of the SQLite
file, holds the report, a reply, a note, the receipt or a handler's private key."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from concern_fixtures import CHEAP_ARGON2
from concern_helpers import hidden_fields, post_form, receipt_from, submit
from conftest import TEST_SECRET
from sqlalchemy import select

from concerns import crypto, keys
from concerns.config import ConcernConfig
from concerns.models import Concern, HandlerKey
from speakup import accounts
from speakup.app import create_app
from speakup.db import Base, make_engine
from speakup.settings import Settings
from speakup.web import services

REPORT = "Zebra-violet: the rota manager told me people like me do not get promoted."
WANTED = "Quokka-amber: a fair promotion panel."
REPLY = "Narwhal-teal: thank you, we have opened a case."
NOTE = "Axolotl-ochre: check the rota history before speaking to him."
ANSWER = "Pangolin-lilac: it happened again on Friday."
PASSWORD = "a long handler password"


@pytest.fixture
def committed_app(fresh_database_url, tmp_path, clock):
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET, secure_cookies=False, testing=True)
    app = create_app(settings)
    svc = services(app)
    svc.clock = clock
    svc.extras["concerns"] = ConcernConfig.from_settings(settings).with_changes(
        argon2=CHEAP_ARGON2)
    yield app
    svc.engine.dispose()


def _needles(receipt: str, private_raw: bytes) -> list[bytes]:
    compact = receipt.replace("-", "")
    texts = [REPORT, WANTED, REPLY, NOTE, ANSWER]
    needles = [t.encode() for t in texts] + [t.split(":")[0].encode() for t in texts]
    needles += [t.encode("utf-16-le") for t in texts]
    needles += [receipt.encode(), compact.encode(), compact.lower().encode(), private_raw]
    return needles


def test_nothing_readable_at_rest(committed_app, fresh_database_url, clock):
    svc = services(committed_app)
    config = svc.extras["concerns"]
    with svc.session_factory() as session:
        keys.create_recovery_key(session, clock, config, actor="test")
        handler = accounts.create_user(session, clock, email="h@example.org", role="handler",
                                       password=PASSWORD, actor="test")
        session.commit()
        totp, handler_id = handler.totp_secret, handler.id

    # The handler signs in first (their key pair is made), then a concern arrives.
    staff = committed_app.test_client()
    assert post_form(staff, "/login", {"email": "h@example.org", "password": PASSWORD,
                                       "totp": pyotp.TOTP(totp).at(clock.now())}
                     ).status_code == 302
    reporter = committed_app.test_client()
    receipt = receipt_from(submit(reporter, text=REPORT, wanted=WANTED).get_data(as_text=True))
    with svc.session_factory() as session:
        concern_id = session.scalar(select(Concern.id))
    page = f"/handle/{concern_id}"
    for url, field, text in ((f"{page}/reply", "reply-text", REPLY),
                             (f"{page}/note", "note-text", NOTE)):
        fields = hidden_fields(staff.get(page).get_data(as_text=True))
        assert staff.post(url, data={**fields, field: text}).status_code == 302
    html = reporter.get("/concerns/check").get_data(as_text=True)
    shown = reporter.post("/concerns/check", data={
        "csrf_token": hidden_fields(html)["csrf_token"], "receipt": receipt}).get_data(
        as_text=True)
    assert REPLY in shown and NOTE not in shown
    answered = reporter.post("/concerns/reply", data={**hidden_fields(shown), "text": ANSWER})
    assert ANSWER in answered.get_data(as_text=True)
    assert ANSWER in staff.get(page).get_data(as_text=True)

    with svc.session_factory() as session:
        locked = session.get(HandlerKey, handler_id).locked_private_key
    private_raw = crypto.unlock_private_key(locked, PASSWORD).private_bytes_raw()
    svc.engine.dispose()

    engine = make_engine(fresh_database_url)
    dump = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                dump += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    engine.dispose()
    everything = b"\n".join(dump)
    assert b"promoted" not in everything  # sanity: the needles below are specific
    for needle in _needles(receipt, private_raw):
        assert needle not in everything, needle

    if fresh_database_url.startswith("sqlite:///"):
        path = fresh_database_url.removeprefix("sqlite:///")
        files = [Path(p) for p in (path, path + "-wal", path + "-shm")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert len(raw) > 10_000
        for needle in _needles(receipt, private_raw):
            assert needle not in raw, needle
