"""No typed word is lost: expired or reused forms, idle sign-out, limits, all errors at once."""

from __future__ import annotations

import re

import pyotp
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from, submit
from sqlalchemy import func, select

from concerns import services
from concerns.models import Concern, ConcernMessage
from speakup.web import services as app_services

TEXT = "A colleague keeps imitating my accent at handover."
DRAFT = "Thank you for telling us. Could you say which ward?\nWe will keep it confidential."


def _count(session, model=Concern):
    return session.scalar(select(func.count()).select_from(model))


# --------------------------------------------------------------------------- reporter


def test_expired_form_keeps_everything_typed(client, session, recovery_key):
    client.get("/concerns/new")
    data = {"csrf_token": "expired-or-forged", "category": "2", "what_happened": TEXT,
            "what_wanted": "An apology."}
    response = client.post("/concerns/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert TEXT in html and "An apology." in html
    assert re.search(r'value="2"[^>]*checked|checked[^>]*value="2"', html)
    # The page carries a fresh token: sending it again works.
    retry = client.post("/concerns/new", data={**data, **{
        "csrf_token": hidden_fields(html)["csrf_token"]}})
    assert retry.status_code == 200 and receipt_from(retry.get_data(as_text=True))
    assert _count(session) == 1


def test_reloading_the_receipt_page_explains_what_happened(client, session, recovery_key):
    first = submit(client, text=TEXT)
    assert first.status_code == 200
    # A reload sends the very same form again.
    replay = client.post("/concerns/new", data={
        "csrf_token": "reused", "category": "1", "what_happened": TEXT, "what_wanted": ""})
    html = replay.get_data(as_text=True)
    assert replay.status_code == 400
    assert "your concern was sent then" in html and "shown only that once" in html
    assert "could not be understood" not in html.lower()
    assert _count(session) == 1


def test_resent_reply_is_explained_and_the_text_kept(client, session, recovery_key):
    receipt = receipt_from(submit(client, text=TEXT).get_data(as_text=True))
    page = client.post("/concerns/check", data={
        "csrf_token": hidden_fields(client.get("/concerns/check").get_data(as_text=True))[
            "csrf_token"], "receipt": receipt}).get_data(as_text=True)
    fields = hidden_fields(page)
    sent = client.post("/concerns/reply", data={**fields, "text": "It happened again."})
    assert sent.status_code == 200
    again = client.post("/concerns/reply", data={**fields, "text": "It happened again."})
    html = again.get_data(as_text=True)
    assert again.status_code == 400
    assert "that reply was sent once" in html
    assert html.count("It happened again.") == 2  # in the conversation, and kept in the box
    assert _count(session, ConcernMessage) == 2


def test_expired_check_form_keeps_the_receipt(client, recovery_key):
    response = client.post("/concerns/check", data={"csrf_token": "old",
                                                    "receipt": "7K2Q-MX9D-4TRB-WZ1H-E6PN"})
    assert response.status_code == 400
    assert "7K2Q-MX9D-4TRB-WZ1H-E6PN" in response.get_data(as_text=True)


def test_all_validation_errors_show_at_once_without_repeating_labels(client, session,
                                                                     recovery_key):
    response = submit(client, text="  ", category="", wanted="x" * (services.MAX_WHAT_WANTED + 1))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    summary = html.split('class="error-summary"')[1].split("</ul>")[0]
    assert summary.count("<li>") == 3
    assert "What is it about? Choose one of the listed categories." in summary
    assert "What happened? This cannot be empty." in summary
    assert "What would you like to happen? (optional): Use at most 5,000 characters" in summary
    assert "x" * (services.MAX_WHAT_WANTED + 1) in html
    assert _count(session) == 0


# --------------------------------------------------------------------------- handler


def _sign_in(client, account, clock):
    token = hidden_fields(client.get("/login").get_data(as_text=True))["csrf_token"]
    data = {"csrf_token": token, "email": account.user.email, "password": account.password}
    if account.user.totp_secret:
        data["totp"] = pyotp.TOTP(account.user.totp_secret).at(clock.now())
    assert client.post("/login", data=data).status_code == 302
    clock.advance(seconds=30)


@pytest.fixture
def concern_id(session, clock, concern_config, recovery_key):
    def make():
        _, cid = services.submit_concern(session, clock, concern_config, category_id=1,
                                         what_happened=TEXT)
        session.commit()
        return cid
    return make


@pytest.mark.parametrize("kind", ["reply", "note"])
def test_handler_expired_form_keeps_the_draft(client, login_as, session, concern_id, kind):
    login_as("handler")
    cid = concern_id()
    fields = {k: v for k, v in hidden_fields(client.get(f"/handle/{cid}").get_data(
        as_text=True)).items() if k.startswith(f"{kind}-")}
    response = client.post(f"/handle/{cid}/{kind}", data={
        **fields, "csrf_token": "expired", f"{kind}-text": DRAFT})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "nothing was done just now" in html
    assert DRAFT.replace("\n", "\r\n") in html or DRAFT in html
    assert _count(session, ConcernMessage) == 1


def test_idle_sign_out_hands_the_draft_back_then_restores_it(client, login_as, session, clock,
                                                              concern_id):
    account = login_as("handler")
    cid = concern_id()
    page = client.get(f"/handle/{cid}").get_data(as_text=True)
    fields = hidden_fields(page)
    clock.advance(minutes=31)  # the idle timeout is 30 minutes
    response = client.post(f"/handle/{cid}/reply", data={**fields, "reply-text": DRAFT})
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "You were signed out" in html and DRAFT in html
    assert _count(session, ConcernMessage) == 1
    kept = hidden_fields(html)
    # Sign in again (in another tab: the same cookies), then press the button on the kept page.
    _sign_in(client, account, clock)
    back = client.post(f"/handle/{cid}/draft", data={**kept, "text": DRAFT})
    html = back.get_data(as_text=True)
    assert back.status_code == 200
    assert "has not been sent yet" in html
    textarea = re.search(r'<textarea[^>]*name="reply-text"[^>]*>(.*?)</textarea>', html, re.S)
    assert textarea and DRAFT in textarea.group(1).replace("\r\n", "\n")
    assert _count(session, ConcernMessage) == 1  # nothing was sent on the way


def test_reporter_limits_keep_text(client, app, session, recovery_key):
    app_services(app).extras["concerns"] = app_services(app).extras["concerns"].with_changes(
        concerns_per_minute=1)
    assert submit(client, text="first").status_code == 200
    limited = submit(client, text=TEXT, wanted="Keep me too")
    html = limited.get_data(as_text=True)
    assert limited.status_code == 429 and TEXT in html and "Keep me too" in html


def test_too_large_forms_say_the_text_is_back_one_page(client, login_as, session, concern_id,
                                                       recovery_key):
    token = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    reporter = client.post("/concerns/new", data={"csrf_token": token, "category": "1",
                                                  "what_happened": "x" * 300_000})
    assert reporter.status_code == 413
    assert "Your text is not lost" in reporter.get_data(as_text=True)
    login_as("handler")
    cid = concern_id()
    handler = client.post(f"/handle/{cid}/reply", data={"reply-text": "x" * 300_000})
    assert handler.status_code == 413
    assert "Your text is not lost" in handler.get_data(as_text=True)
    assert _count(session, ConcernMessage) == 1


def test_reporter_reads_their_own_wish_in_their_words(client, recovery_key):
    receipt = receipt_from(submit(client, text=TEXT, wanted="An apology.").get_data(
        as_text=True))
    token = hidden_fields(client.get("/concerns/check").get_data(as_text=True))["csrf_token"]
    page = client.post("/concerns/check", data={"csrf_token": token, "receipt": receipt})
    html = page.get_data(as_text=True)
    assert "What you would like to happen" in html and "What they would like" not in html
