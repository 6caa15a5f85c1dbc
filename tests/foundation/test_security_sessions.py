"""Issue 13, findings 1, 5 and 6: sessions end server-side; lockouts help no stranger."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD, csrf_token_from, post_form
from sqlalchemy import select

from concerns.models import HandlerKeySession
from speakup.models import AuditEntry, StaffSession
from speakup.settings import Settings


def sign_in(client, email, password, totp=""):  # type: ignore[no-untyped-def]
    return post_form(client, "/login", {"email": email, "password": password, "totp": totp})


def is_signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/staff").status_code == 200


def copy_of(client, app):  # type: ignore[no-untyped-def]
    """A second browser holding the very same cookie (as a thief would)."""
    thief = app.test_client()
    thief.set_cookie("speakup_session", client.get_cookie("speakup_session").value)
    return thief


def test_a_copied_cookie_is_dead_after_sign_out(app, client, login_as, session):
    login_as("reviewer")
    thief = copy_of(client, app)
    assert is_signed_in(thief), "before sign-out the copy works (it is the same cookie)"
    token = csrf_token_from(client.get("/staff").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert not is_signed_in(thief)
    assert session.scalar(select(StaffSession)) is None, "the session row is gone"


def test_a_handler_cookie_copy_cannot_post_after_sign_out(app, client, login_as):
    login_as("admin")
    thief = copy_of(client, app)
    page = thief.get("/admin/accounts/new").get_data(as_text=True)
    token = csrf_token_from(client.get("/staff").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": token})
    response = thief.post("/admin/accounts/new", data={
        "csrf_token": csrf_token_from(page), "email": "x@example.org", "role": "reviewer",
        "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_idle_timeout_is_kept_server_side(app, client, login_as, clock, settings):
    login_as("reviewer")
    thief = copy_of(client, app)
    clock.advance(minutes=settings.idle_timeout_minutes + 1)
    # The idle session is gone for every copy of the cookie, not just for this browser.
    assert not is_signed_in(thief)
    assert not is_signed_in(client)


def test_absolute_lifetime_ends_even_a_busy_session(client, login_as, clock, settings):
    assert settings.session_max_hours == 12
    login_as("reviewer")
    for _ in range(12 * 60 // 20 - 1):  # a request every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert is_signed_in(client)
    clock.advance(minutes=21)  # 12 h 01 min after sign-in
    assert not is_signed_in(client)


def test_session_max_hours_is_configurable():
    assert Settings.from_env({"SPEAKUP_SESSION_MAX_HOURS": "2"}).session_max_hours == 2


def test_disabling_an_account_ends_its_sessions(client, login_as, session):
    account = login_as("reviewer")
    account.user.disabled = True
    session.commit()
    assert not is_signed_in(client)


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r'value="[^"]*"', 'value=""', response.get_data(as_text=True))


def test_a_locked_account_answers_exactly_like_an_unknown_address(app, make_user):
    account = make_user("handler")
    for _ in range(6):
        sign_in(app.test_client(), account.user.email, "wrong password here")
    locked = sign_in(app.test_client(), account.user.email, "wrong password here")
    unknown = sign_in(app.test_client(), "nobody@example.org", "wrong password here")
    assert locked.status_code == unknown.status_code == 401
    assert _page(locked).replace(account.user.email, "") == _page(unknown).replace(
        "nobody@example.org", "")


def test_right_password_and_code_pass_a_lock_strangers_caused(app, make_user, clock, session):
    account = make_user("handler")
    stranger = app.test_client()
    for _ in range(8):  # a stranger who knows only the address
        sign_in(stranger, account.user.email, "wrong password here")
    session.refresh(account.user)
    assert account.user.locked_until is not None
    owner = app.test_client()
    response = sign_in(owner, account.user.email, PASSWORD, account.totp_now(clock))
    assert response.status_code == 302
    assert is_signed_in(owner)
    actions = list(session.scalars(select(AuditEntry.action)))
    assert "login.through_lock" in actions


def test_right_password_alone_does_not_pass_a_lock(app, make_user, clock):
    account = make_user("handler")
    for _ in range(5):
        sign_in(app.test_client(), account.user.email, "wrong password here")
    assert sign_in(app.test_client(), account.user.email, PASSWORD).status_code == 401
    # A reviewer without a second factor has nothing else to prove: the lock holds.
    reviewer = make_user("reviewer")
    for _ in range(5):
        sign_in(app.test_client(), reviewer.user.email, "wrong password here")
    assert sign_in(app.test_client(), reviewer.user.email, PASSWORD).status_code == 401


def test_guessing_codes_with_the_password_locks_the_account_entirely(app, make_user, clock):
    account = make_user("handler")
    good = account.totp_now(clock)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(5):
        sign_in(app.test_client(), account.user.email, PASSWORD, wrong)
    response = sign_in(app.test_client(), account.user.email, PASSWORD, good)
    assert response.status_code == 401


@pytest.fixture
def unlock_page(client, login_as, session):  # type: ignore[no-untyped-def]
    """A signed-in handler whose key needs unlocking again."""
    handler = login_as("handler")
    session.query(HandlerKeySession).delete()
    session.commit()
    return handler


def test_unlock_failures_count_and_lock_like_sign_in(app, client, unlock_page, session, clock):
    handler = unlock_page
    thief = copy_of(client, app)
    token = csrf_token_from(thief.get("/handle/").get_data(as_text=True))
    for attempt in range(5):
        response = thief.post("/handle/unlock", data={"csrf_token": token,
                                                      "password": f"guess number {attempt}!"})
        assert response.status_code == 302
    session.refresh(handler.user)
    assert handler.user.factor_failures == 5 and handler.user.factor_locked_until
    # Locked: the cookie is signed out, and even the right password no longer unlocks.
    assert response.headers["Location"].startswith("/login")
    assert not is_signed_in(thief) and not is_signed_in(client)
    owner = app.test_client()
    assert sign_in(owner, handler.user.email, PASSWORD,
                   handler.totp_now(clock)).status_code == 401
