"""Reporter pages through the test client: raise, receipt, check, reply; bad input."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from, submit
from sqlalchemy import func, select

from concerns import crypto
from concerns.models import Concern, ConcernKeyWrap, ConcernMessage
from speakup.db import Base
from speakup.models import AuditEntry
from speakup.web import services as app_services

TEXT = "The charge nurse called me a slur in front of patients."


def _count(session, model=Concern):
    return session.scalar(select(func.count()).select_from(model))


def _check(client, receipt):
    html = client.get("/concerns/check").get_data(as_text=True)
    return client.post("/concerns/check", data={"csrf_token": hidden_fields(html)["csrf_token"],
                                                "receipt": receipt})


def _session_cookie(client, app):
    cookie = client.get_cookie("speakup_session")
    if cookie is None:
        return {}
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_form_explains_what_is_recorded_and_lists_categories(client, recovery_key):
    response = client.get("/concerns/new")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "What is recorded, and what is not" in html and "IP address" in html
    assert len(re.findall(r'<input[^>]*name="category" type="radio"', html)) == 4
    assert 'enctype="multipart/form-data"' in html
    assert "<legend>What is it about?</legend>" in html


def test_submit_shows_receipt_once_and_stores_only_ciphertext(client, session, recovery_key):
    response = submit(client, text=TEXT)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"].startswith("no-store")
    receipt = receipt_from(response.get_data(as_text=True))
    assert re.fullmatch(r"([0-9A-Z]{4}-){4}[0-9A-Z]{4}", receipt)
    assert _count(session) == 1
    message = session.scalar(select(ConcernMessage))
    assert b"slur" not in message.ciphertext
    kinds = {w.reader_kind for w in session.scalars(select(ConcernKeyWrap))}
    assert kinds == {"reporter", "handler", "recovery"}  # the standby reader's handler


def test_only_the_csrf_cookie_is_set_and_the_receipt_is_in_no_cookie_or_url(client, app,
                                                                           recovery_key):
    response = submit(client, text=TEXT)
    receipt = receipt_from(response.get_data(as_text=True))
    assert "Location" not in response.headers
    # The used token is forgotten; nothing else was ever in the cookie.
    assert {c.key for c in client._cookies.values()} <= {"speakup_session"}
    assert set(_session_cookie(client, app)) <= {"csrf_token"}
    checked = _check(client, receipt)
    reply = client.post("/concerns/reply", data={**hidden_fields(checked.get_data(as_text=True)),
                                                 "text": "more"})
    assert reply.status_code == 200
    for resp in (response, checked, reply):
        assert "Location" not in resp.headers
        assert receipt not in " ".join(resp.headers.getlist("Set-Cookie"))
    assert set(_session_cookie(client, app)) <= {"csrf_token"}
    assert {c.key for c in client._cookies.values()} <= {"speakup_session"}


def test_check_and_reply_round_trip(client, recovery_key):
    receipt = receipt_from(submit(client, text="First message").get_data(as_text=True))
    response = _check(client, receipt.lower().replace("-", " "))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "First message" in page and "2 March 2026" in page
    assert not re.search(r"\d{1,2}:\d{2}", page)  # dates only, never times
    fields = hidden_fields(page)
    assert fields["receipt"] == receipt and fields["seen_seq"] == "1"
    response = client.post("/concerns/reply", data={**fields, "text": "More detail"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "More detail" in page and "Your reply has been sent" in page
    assert hidden_fields(page)["seen_seq"] == "2"


def test_wrong_receipts_get_the_same_page(client, recovery_key):
    submit(client)
    pages = []
    for _ in range(3):
        response = _check(client, crypto.new_receipt())
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        html = re.sub(r'value="[^"]*"', 'value=""', html)  # the token and what was typed
        pages.append(html)
    assert pages[0] == pages[1] == pages[2]
    assert "could not find a concern with that receipt" in pages[0]


def test_malformed_receipt_explains_the_format(client):
    response = _check(client, "not a receipt")
    assert response.status_code == 400
    assert "20 letters and numbers" in response.get_data(as_text=True)


def test_validation_error_keeps_everything_typed(client, session, recovery_key):
    response = submit(client, text="   ", category="2", wanted="Please keep this text")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Please keep this text" in html
    assert re.search(r'value="2"[^>]*checked|checked[^>]*value="2"', html)
    assert "What happened? This cannot be empty." in html  # the label is said once
    assert _count(session) == 0


@pytest.mark.parametrize("category", ["99", "x", "", "1; DROP TABLE concerns"])
def test_unknown_category_is_refused_with_text_kept(client, session, recovery_key, category):
    response = submit(client, text=TEXT, category=category)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose one of the listed categories" in html and TEXT in html
    assert _count(session) == 0


def test_forged_fields_are_ignored(client, session, recovery_key, clock):
    response = submit(client, text=TEXT, extra={
        "status": "closed", "outcome": "resolved", "received_on": "2020-01-01",
        "receipt_hash": "00" * 32, "id": "AAAAA-AAAAA", "last_seq": "99"})
    assert response.status_code == 200
    concern = session.scalar(select(Concern))
    assert (concern.status, concern.outcome, concern.received_on, concern.last_seq) == (
        "new", None, clock.today(), 1)
    assert concern.id != "AAAAA-AAAAA"


def _form_token(client):
    html = client.get("/concerns/new").get_data(as_text=True)
    return hidden_fields(html)["csrf_token"]


def test_oversized_body_gets_413_and_stores_nothing(client, session, recovery_key):
    token = _form_token(client)
    response = client.post("/concerns/new", data={"csrf_token": token, "category": "1",
                                                  "what_happened": "x" * 300_000})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert _count(session) == 0


def test_text_over_the_limit_is_refused_and_kept(client, session, recovery_key):
    response = submit(client, text="y" * 20_001)
    assert response.status_code == 400
    assert "at most 20,000 characters" in response.get_data(as_text=True)
    assert _count(session) == 0


def test_bad_encodings_get_a_clear_answer(client, session, recovery_key):
    token = _form_token(client)
    # Raw bytes that are not UTF-8 in a URL-encoded body: the form cannot be read at all.
    raw = client.post("/concerns/new", data=b"csrf_token=" + token.encode() +
                      b"&category=1&what_happened=\xff\xfe",
                      content_type="application/x-www-form-urlencoded")
    assert raw.status_code == 400
    # The same inside multipart/form-data: the parser substitutes U+FFFD; we refuse it.
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
            f"{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"category\"\r\n"
            f"\r\n1\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f"name=\"what_happened\"\r\n\r\n").encode() + b"caf\xe9 \xff" + (
            f"\r\n--{boundary}--\r\n").encode()
    multi = client.post("/concerns/new", data=body,
                        content_type=f"multipart/form-data; boundary={boundary}")
    assert multi.status_code == 400
    assert "Some characters could not be read" in multi.get_data(as_text=True)
    assert _count(session) == 0


def test_missing_or_replayed_csrf_token_is_refused(client, session, recovery_key):
    assert client.post("/concerns/new", data={"category": "1", "what_happened": TEXT}
                       ).status_code == 400
    token = _form_token(client)
    data = {"csrf_token": token, "category": "1", "what_happened": TEXT}
    assert client.post("/concerns/new", data=data).status_code == 200
    replay = client.post("/concerns/new", data=data)
    assert replay.status_code == 400
    html = replay.get_data(as_text=True)
    assert "receipt was shown only that once" in html and TEXT in html  # explained, kept
    assert _count(session) == 1


def test_over_the_limit_gets_429_with_text_kept(client, app, session, recovery_key):
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(concerns_per_minute=1)
    assert submit(client, text="first").status_code == 200
    response = submit(client, text="Second, please keep me", wanted="and me")
    html = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "Second, please keep me" in html and "and me" in html
    assert "Please wait" in html and "Send now" in html
    assert _count(session) == 1


def test_receipt_checks_over_the_limit_get_429(client, app, recovery_key):
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(
        checks_per_receipt_per_minute=1)
    receipt = receipt_from(submit(client).get_data(as_text=True))
    assert _check(client, receipt).status_code == 200
    response = _check(client, receipt)
    assert response.status_code == 429
    assert receipt in response.get_data(as_text=True)  # kept in the form, not lost


def test_not_ready_without_recovery_key_keeps_text(client, session):
    response = submit(client, text=TEXT)
    assert response.status_code == 503
    assert TEXT in response.get_data(as_text=True)
    assert _count(session) == 0


def test_reply_refusals_keep_the_text(client, session, recovery_key):
    receipt = receipt_from(submit(client).get_data(as_text=True))
    fields = hidden_fields(_check(client, receipt).get_data(as_text=True))
    stale = client.post("/concerns/reply", data={**fields, "seen_seq": "0",
                                                 "text": "Keep me please"})
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "Keep me please" in html and "A new message arrived" in html
    empty = client.post("/concerns/reply", data={**hidden_fields(html), "text": " "})
    assert empty.status_code == 400 and "cannot be empty" in empty.get_data(as_text=True)
    forged = client.post("/concerns/reply", data={**hidden_fields(html),
                                                  "receipt": crypto.new_receipt(), "text": "x"})
    assert forged.status_code == 400
    assert "Enter your receipt again" in forged.get_data(as_text=True)
    assert _count(session, ConcernMessage) == 1


def test_no_address_agent_or_time_is_stored(client, session, recovery_key, clock):
    audit_before = session.scalar(select(func.count()).select_from(AuditEntry))
    clock.set(dt.datetime(2026, 3, 2, 14, 37, 52, tzinfo=dt.UTC))
    environ = {"REMOTE_ADDR": "203.0.113.77", "HTTP_USER_AGENT": "DistinctiveAgent/9.9",
               "HTTP_X_FORWARDED_FOR": "198.51.100.23"}
    client.environ_base.update(environ)
    receipt = receipt_from(submit(client, text=TEXT).get_data(as_text=True))
    fields = hidden_fields(_check(client, receipt).get_data(as_text=True))
    client.post("/concerns/reply", data={**fields, "text": "reply"})
    dump = _dump(session)
    # Random ids, hashes and ciphertext can hold any short digit run by chance (a bare
    # "1437" did, once), so the time-of-day needles are long enough not to collide.
    for needle in (b"203.0.113.77", b"DistinctiveAgent", b"198.51.100.23", b"14:37",
                   b"143752", str(int(clock.now().timestamp()) // 60).encode()):
        assert needle not in dump
    # The tables a reporter's actions write to hold dates, never datetimes.
    for model in (Concern, ConcernMessage, ConcernKeyWrap):
        for column in model.__table__.columns:
            assert column.type.python_type is not dt.datetime, column
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before


def _dump(session) -> bytes:
    out = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            for value in row:
                out.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(out)
