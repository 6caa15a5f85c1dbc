"""Over the global limit a reporter waits and sends again; one client cannot lock
everyone out, and nothing about the client is stored or logged (issue 13, finding 3)."""

from __future__ import annotations

import html as html_lib
import io
import logging
import re

from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from, submit
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from concerns import ratelimit
from concerns.models import Concern, UsedStamp
from speakup.web import services as app_services

TEXT = "The night shift lead shouts at new starters.\nEvery week."
WANTED = "Someone to talk to them & stop it"
ADDRESS = "10.9.8.7"


def _count(session, model=Concern):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def _limits(app, **changes):
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(**changes)
    return svc.extras["concerns"]


def _textarea(page: str, name: str) -> str:
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, f"no {name} textarea"
    return html_lib.unescape(match.group(1)).replace("\r\n", "\n").lstrip("\n")


def _kept(page: str) -> dict[str, str]:
    """What pressing 'Send now' on the wait page posts (no files)."""
    return {**hidden_fields(page), "what_happened": _textarea(page, "what_happened"),
            "what_wanted": _textarea(page, "what_wanted")}


def _send_now(client, page: str, **override: str):
    return client.post("/concerns/new", data={**_kept(page), **override},
                       environ_base={"REMOTE_ADDR": ADDRESS})


def _waiting(client, app):
    """Fill the global bucket, then get the wait page for TEXT."""
    _limits(app, concerns_per_minute=1)
    assert submit(client, text="first").status_code == 200
    return submit(client, text=TEXT, wanted=WANTED, environ_base={"REMOTE_ADDR": ADDRESS})


def test_over_the_limit_gets_a_wait_page_with_everything_kept(client, app, session,
                                                              recovery_key):
    response = _waiting(client, app)
    page = response.get_data(as_text=True)
    assert response.status_code == 429 and response.headers["Retry-After"] == "15"
    assert "Please wait 15 seconds" in page and "Send now" in page
    assert _textarea(page, "what_happened") == TEXT and _textarea(page, "what_wanted") == WANTED
    fields = hidden_fields(page)
    assert fields["category"] == "1" and fields["stamp"] and fields["csrf_token"]
    assert "choose them here" in page  # files are never kept: the page says so
    assert '<meta http-equiv="refresh"' not in page and "<script" not in page
    assert _count(session) == 1


def test_files_chosen_before_are_asked_for_again(client, app, recovery_key):
    _limits(app, concerns_per_minute=1)
    assert submit(client, text="first").status_code == 200
    page = submit(client, text=TEXT, extra={"attachments": (io.BytesIO(b"evidence\n"), "note.txt")},
                  content_type="multipart/form-data").get_data(as_text=True)
    assert "Files you chose were not kept: choose them again here." in page


def test_stamp_used_too_early_is_refused_then_sends_once(client, app, clock, session,
                                                        recovery_key):
    page = _waiting(client, app).get_data(as_text=True)
    stamp = hidden_fields(page)["stamp"]
    clock.advance(seconds=10)
    early = _send_now(client, page)
    early_page = early.get_data(as_text=True)
    assert early.status_code == 429 and "before the wait was over" in early_page
    assert early.headers["Retry-After"] == "5" and "Please wait 5 seconds" in early_page
    assert hidden_fields(early_page)["stamp"] == stamp  # the same wait, not a new one
    assert _textarea(early_page, "what_happened") == TEXT
    assert _count(session) == 1
    clock.advance(seconds=5)  # still the same minute: the global bucket is still full
    sent = _send_now(client, early_page)
    assert sent.status_code == 200 and receipt_from(sent.get_data(as_text=True))
    assert _count(session) == 2
    # Replayed with a fresh form token: refused, text kept, a new stamp offered.
    fresh = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    replay = _send_now(client, early_page, csrf_token=fresh)
    replay_page = replay.get_data(as_text=True)
    assert replay.status_code == 429 and "had already been used" in replay_page
    assert _textarea(replay_page, "what_happened") == TEXT
    assert hidden_fields(replay_page)["stamp"] != stamp
    assert _count(session) == 2


def test_forged_or_expired_stamps_are_refused_with_text_kept(client, app, clock, session,
                                                             recovery_key):
    page = _waiting(client, app).get_data(as_text=True)
    stamp = hidden_fields(page)["stamp"]
    clock.advance(seconds=20)
    forged_stamp = URLSafeSerializer(b"not the server key", salt=ratelimit.STAMP_SALT).dumps(
        {"n": "x", "t": 0, "w": 0})
    for bad in (forged_stamp, stamp[:-2] + ("AA" if not stamp.endswith("AA") else "BB"), "junk"):
        refused = _send_now(client, page, stamp=bad)
        refused_page = refused.get_data(as_text=True)
        assert refused.status_code == 429 and "too old or had been changed" in refused_page
        assert _textarea(refused_page, "what_happened") == TEXT
    clock.advance(minutes=31)
    expired = _send_now(client, page)
    assert expired.status_code == 429
    assert "too old or had been changed" in expired.get_data(as_text=True)
    assert _count(session) == 1


def test_waited_submissions_have_their_own_ceiling(client, app, clock, session, recovery_key):
    _limits(app, stamped_concerns_per_minute=1)
    first = _waiting(client, app).get_data(as_text=True)
    second = submit(client, text="another").get_data(as_text=True)
    clock.advance(seconds=15)
    assert _send_now(client, first).status_code == 200
    fresh = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    # The ceiling is handed out as places when stamps are issued (issue 18): the second
    # stamp's place is in the next minute, so it is early now and stored once there.
    early = _send_now(client, second, csrf_token=fresh)
    assert early.status_code == 429 and "before the wait was over" in early.get_data(as_text=True)
    clock.advance(seconds=int(early.headers["Retry-After"]))
    fresh = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    assert _send_now(client, second, csrf_token=fresh).status_code == 200
    assert _count(session) == 3


def test_nothing_about_the_client_is_kept(client, app, clock, session, recovery_key, caplog):
    caplog.set_level(logging.DEBUG)
    page = _waiting(client, app).get_data(as_text=True)
    stamp = hidden_fields(page)["stamp"]
    # The stamp holds a random nonce, the second it was issued, the wait and that it
    # holds a reserved place: no more.
    payload = URLSafeSerializer(app_services(app).extras["concerns"].stamp_key,
                                salt=ratelimit.STAMP_SALT).loads(stamp)
    assert set(payload) == {"n", "t", "w", "r"}
    clock.advance(seconds=15)
    assert _send_now(client, page).status_code == 200
    rows = session.execute(select(UsedStamp.nonce_hash, UsedStamp.window)).all()
    assert len(rows) == 1
    cookie = client.get_cookie("session")
    secrets_of_client = [ADDRESS, payload["n"], str(payload["t"])]
    if cookie is not None:
        secrets_of_client.append(cookie.value)
    for value in rows[0]:
        assert re.fullmatch(r"[0-9a-f]+", value)
        assert not any(s in value for s in secrets_of_client)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(s in logged for s in secrets_of_client)


def test_spent_marks_are_erased_once_expired(session, clock, concern_config):
    key = concern_config.stamp_key
    now = clock.now()
    old = ratelimit.read_stamp(key, ratelimit.issue_stamp(key, now, 15))
    assert old is not None
    assert ratelimit.spend_stamp(session, old, clock.now(), key, 30 * 60)
    assert not ratelimit.spend_stamp(session, old, clock.now(), key, 30 * 60)
    clock.advance(minutes=20)
    newer = ratelimit.read_stamp(key, ratelimit.issue_stamp(key, clock.now(), 15))
    assert newer is not None and ratelimit.spend_stamp(session, newer, clock.now(), key, 1800)
    assert _count(session, UsedStamp) == 2  # the first may still be live: kept
    clock.advance(minutes=13)
    last = ratelimit.read_stamp(key, ratelimit.issue_stamp(key, clock.now(), 15))
    assert last is not None and ratelimit.spend_stamp(session, last, clock.now(), key, 1800)
    assert _count(session, UsedStamp) == 2  # the first (33 minutes old) is gone
    session.rollback()
