"""Passkeys through the pages: adding, removing, the key step of sign-in, handlers' step-up."""

from __future__ import annotations

import html
import json
import re

import pytest
from conftest import PASSWORD, csrf_token_from, post_form
from soft_authenticator import SoftKey
from sqlalchemy import select

from speakup import accounts, passkeys
from speakup.models import AuditEntry, WebAuthnCredential

OPTIONS_RE = re.compile(r"data-options='([^']*)'")


def options_in(page: str) -> dict:
    match = OPTIONS_RE.search(page)
    assert match, "page has no passkey options"
    return json.loads(html.unescape(match.group(1)))


@pytest.fixture
def rp(settings) -> passkeys.RelyingParty:  # type: ignore[no-untyped-def]
    return passkeys.RelyingParty.from_base_url(settings.base_url)


def add_key(client, rp, key=None, name="work laptop"):  # type: ignore[no-untyped-def]
    key = key or SoftKey(rp.id)
    page = client.get("/account/security").get_data(as_text=True)
    response = client.post("/account/security/keys", data={
        "csrf_token": csrf_token_from(page), "name": name,
        "response": key.register(options_in(page), rp.origin)})
    return key, response


def password_step(client, email):  # type: ignore[no-untyped-def]
    return post_form(client, "/login", {"email": email, "password": PASSWORD, "with_key": "1"})


def key_step(client, rp, key, **kwargs):  # type: ignore[no-untyped-def]
    page = client.get("/login/key").get_data(as_text=True)
    return client.post("/login/key", data={
        "csrf_token": csrf_token_from(page),
        "response": key.assert_(options_in(page), rp.origin, **kwargs)})


def actions(session, email):  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(AuditEntry.action).where(
        AuditEntry.subject == email).order_by(AuditEntry.id)))


def signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/staff").status_code == 200


def test_security_page_adds_a_named_key_and_ends_other_sessions(app, client, login_as, rp,
                                                                 session, clock):
    account = login_as("admin")
    # The same person signed in on another computer.
    other = app.test_client()
    post_form(other, "/login", {"email": account.user.email, "password": PASSWORD,
                                "totp": account.totp_now(clock)})
    assert signed_in(other)
    _, response = add_key(client, rp)
    assert response.status_code == 302
    page = client.get("/account/security").get_data(as_text=True)
    assert "<td>work laptop</td>" in page and "has been added" in page
    assert signed_in(client)  # this browser carries on under a new session
    assert not signed_in(other)
    assert "passkey.register" in actions(session, account.user.email)


def test_a_key_is_not_added_without_a_name_or_with_a_bad_answer(client, login_as, rp, session):
    login_as("admin")
    _, response = add_key(client, rp, name="")
    assert response.status_code == 400 and "Give the key a name" in response.get_data(
        as_text=True)
    page = client.get("/account/security").get_data(as_text=True)
    response = client.post("/account/security/keys", data={
        "csrf_token": csrf_token_from(page), "name": "laptop",
        "response": SoftKey(rp.id).register(options_in(page), "http://evil.example")})
    assert response.status_code == 400
    assert session.scalars(select(WebAuthnCredential)).all() == []


def test_sign_in_with_password_then_key(app, client, login_as, rp, session, clock):
    account = login_as("admin")
    key, _ = add_key(client, rp)
    client.post("/logout", data={"csrf_token": csrf_token_from(
        client.get("/staff").get_data(as_text=True))})
    assert not signed_in(client)
    fresh = app.test_client()
    response = password_step(fresh, account.user.email)
    assert response.status_code == 302 and response.headers["Location"] == "/login/key"
    assert not signed_in(fresh)  # the password alone signs nothing in
    response = key_step(fresh, rp, key)
    assert response.status_code == 302
    assert signed_in(fresh)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "login").order_by(
        AuditEntry.id.desc())).first()
    assert json.loads(entry.detail) == {"via": "passkey"}


def test_the_code_still_works_for_an_account_with_a_key(app, client, login_as, rp, clock):
    account = login_as("admin")
    add_key(client, rp)
    clock.advance(seconds=30)
    fresh = app.test_client()
    post_form(fresh, "/login", {"email": account.user.email, "password": PASSWORD,
                                "totp": account.totp_now(clock)})
    assert signed_in(fresh)


def test_the_key_step_refuses_a_wrong_password_and_an_account_without_keys(
        app, client, make_user, session):
    account = make_user("admin")
    response = post_form(client, "/login", {"email": account.user.email,
                                             "password": "not the password at all",
                                             "with_key": "1"})
    assert response.status_code == 401 and accounts.LOGIN_REFUSED in html.unescape(
        response.get_data(as_text=True))
    # The right password but no key: the same refusal, no key page.
    response = password_step(client, account.user.email)
    assert response.status_code == 401
    assert client.get("/login/key").status_code == 400  # nothing is waiting


def test_a_replayed_or_foreign_answer_is_refused_at_sign_in(app, client, login_as, rp,
                                                             session, make_user):
    account = login_as("admin")
    key, _ = add_key(client, rp)
    fresh = app.test_client()
    password_step(fresh, account.user.email)
    page = fresh.get("/login/key").get_data(as_text=True)
    answer = key.assert_(options_in(page), rp.origin)
    token = csrf_token_from(page)
    assert fresh.post("/login/key", data={"csrf_token": token, "response": answer}
                      ).status_code == 302
    # The same answer again, in another sign-in: its challenge was used up.
    again = app.test_client()
    password_step(again, account.user.email)
    again.get("/login/key")
    response = again.post("/login/key", data={
        "csrf_token": csrf_token_from(again.get("/login/key").get_data(as_text=True)),
        "response": answer})
    assert response.status_code == 401 and not signed_in(again)
    # Someone else's key, answering this account's challenge.
    stranger = SoftKey(rp.id)
    third = app.test_client()
    password_step(third, account.user.email)
    assert key_step(third, rp, stranger).status_code == 401
    assert not signed_in(third)


def test_wrong_keys_lock_like_wrong_codes(app, client, login_as, rp, session, settings):
    account = login_as("admin")
    add_key(client, rp)
    fresh = app.test_client()
    password_step(fresh, account.user.email)
    for _ in range(settings.lockout_threshold):
        key_step(fresh, rp, SoftKey(rp.id))
    session.expire_all()
    assert account.user.factor_failures >= settings.lockout_threshold
    assert fresh.get("/login/key").status_code == 400  # sent back to the start


def test_removing_a_key_needs_the_password_and_is_audited(client, login_as, rp, session):
    account = login_as("reviewer")
    add_key(client, rp)
    key_id = session.scalars(select(WebAuthnCredential.id)).one()
    url = f"/account/security/keys/{key_id}/remove"
    page = client.get("/account/security").get_data(as_text=True)
    response = client.post(url, data={"csrf_token": csrf_token_from(page),
                                      "password": "not my password at all"})
    assert response.status_code == 401
    session.expire_all()
    assert session.get(WebAuthnCredential, key_id) is not None
    response = client.post(url, data={"csrf_token": csrf_token_from(page),
                                      "password": PASSWORD})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(WebAuthnCredential, key_id) is None
    assert actions(session, account.user.email)[-2:] == ["passkey.remove_failed",
                                                         "passkey.remove"]


def test_pages_say_a_key_needs_javascript_and_load_only_local_script(client, login_as, rp,
                                                                      app):
    account = login_as("admin")
    key, _ = add_key(client, rp)
    security = client.get("/account/security")
    fresh = app.test_client()
    password_step(fresh, account.user.email)
    key_page = fresh.get("/login/key")
    for response in (security, key_page):
        text = response.get_data(as_text=True)
        assert "needs JavaScript" in text.split("<noscript>")[1].split("</noscript>")[0]
        scripts = re.findall(r"<script([^>]*)>", text)
        # One local file and no inline script (CSP allows 'self' only).
        assert scripts == [' src="/static/passkey.js" defer']
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    # Without JavaScript, the way back to the code is a plain link.
    assert 'href="/login"' in key_page.get_data(as_text=True)
    script = client.get("/static/passkey.js")
    assert script.status_code == 200 and b"navigator.credentials" in script.data
    script.close()


def test_a_handler_with_a_key_touches_it_before_reading_concerns(app, client, login_as, rp,
                                                                 clock, session):
    account = login_as("handler")
    assert client.get("/handle/").status_code == 200  # no key yet, no step-up
    key, _ = add_key(client, rp)
    # Adding the key proved it: the next hour needs nothing more.
    assert client.get("/handle/").status_code == 200
    clock.advance(seconds=30)
    fresh = app.test_client()
    post_form(fresh, "/login", {"email": account.user.email, "password": PASSWORD,
                                "totp": account.totp_now(clock)})
    response = fresh.get("/handle/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/confirm-key?next=/handle/")
    # A form from a session that never proved the key is not taken either.
    page = fresh.get("/account/confirm-key?next=/handle/").get_data(as_text=True)
    assert fresh.post("/handle/settings", data={"csrf_token": csrf_token_from(page)}
                      ).status_code == 302
    response = fresh.post("/account/confirm-key?next=/handle/", data={
        "csrf_token": csrf_token_from(page),
        "response": key.assert_(options_in(page), rp.origin)})
    assert response.status_code == 302 and response.headers["Location"] == "/handle/"
    assert fresh.get("/handle/").status_code == 200
    # The same answer a second time finds no challenge waiting.
    response = fresh.post("/account/confirm-key?next=/handle/", data={
        "csrf_token": csrf_token_from(page),
        "response": key.assert_(options_in(page), rp.origin)})
    assert response.status_code == 401


def test_the_step_up_only_sends_back_to_this_site(client, login_as, rp):
    login_as("handler")
    add_key(client, rp)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        page = client.get(f"/account/confirm-key?next={target}").get_data(as_text=True)
        actions_ = re.findall(r'action="([^"]*)"', page)
        assert "/account/confirm-key?next=/handle/" in actions_
        assert not [a for a in actions_ if "evil" in a]


def test_the_step_up_is_asked_again_after_an_hour(client, login_as, rp, clock):
    login_as("handler")
    add_key(client, rp)
    for _ in range(3):  # busy all along, so the sign-in session itself stays open
        clock.advance(minutes=19)
        response = client.get("/handle/")
        assert response.status_code == 200, response.headers.get("Location")
    clock.advance(minutes=4)
    response = client.get("/handle/")
    assert response.status_code == 302 and "/account/confirm-key" in response.headers["Location"]


def test_a_key_sign_in_counts_as_the_step_up(app, client, login_as, rp):
    account = login_as("handler")
    key, _ = add_key(client, rp)
    fresh = app.test_client()
    password_step(fresh, account.user.email)
    response = key_step(fresh, rp, key)
    assert response.status_code == 302
    page = fresh.get("/handle/")
    assert page.status_code == 200
    # No password hook ran: the concerns key is unlocked with the password later.
    assert "asked for your Speak Up password once" in page.get_data(as_text=True)


def test_a_form_sent_after_the_hour_is_taken_then_the_next_page_asks(client, login_as, rp,
                                                                      clock):
    login_as("handler")
    add_key(client, rp)
    page = client.get("/handle/settings").get_data(as_text=True)
    for _ in range(4):
        clock.advance(minutes=16)
        client.get("/account/password")  # busy elsewhere, so the session stays open
    response = client.post("/handle/settings", data={"csrf_token": csrf_token_from(page)})
    assert "/account/confirm-key" not in response.headers.get("Location", "")
    response = client.get("/handle/")
    assert response.status_code == 302 and "/account/confirm-key" in response.headers["Location"]
