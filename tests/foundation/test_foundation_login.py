"""Staff sign-in: passwords, TOTP, lockout with back-off, sessions and their end."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
from argon2 import Type
from argon2.exceptions import VerifyMismatchError
from conftest import PASSWORD, SHIPPED_DUMMY_HASH, SHIPPED_HASHER, csrf_token_from, post_form
from sqlalchemy import select

from speakup import accounts
from speakup.clock import as_utc
from speakup.models import AuditEntry

NEW_PASSWORD = "a brand new passphrase for testing"


def sign_in(client, email, password, totp=""):  # type: ignore[no-untyped-def]
    return post_form(client, "/login", {"email": email, "password": password, "totp": totp})


def is_signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/staff").status_code == 200


def actions(session, subject=None):  # type: ignore[no-untyped-def]
    query = select(AuditEntry.action).order_by(AuditEntry.id)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    return list(session.scalars(query))


def test_reviewer_without_totp_signs_in_with_password_only(client, make_user, session):
    account = make_user("reviewer")
    assert account.user.totp_secret is None
    response = sign_in(client, account.user.email, PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/review/"  # reviewers land on their own pages
    assert is_signed_in(client)
    assert actions(session, account.user.email)[-1] == "login"


@pytest.mark.parametrize("role", ["admin", "handler"])
def test_admin_and_handler_need_a_totp_code(client, make_user, clock, role):
    account = make_user(role)
    assert account.user.totp_secret, "admins and handlers always get a second factor"
    assert sign_in(client, account.user.email, PASSWORD).status_code == 401
    assert not is_signed_in(client)
    response = sign_in(client, account.user.email, PASSWORD, account.totp_now(clock))
    assert response.status_code == 302
    assert is_signed_in(client)


def test_admin_cannot_be_created_without_totp(session, clock):
    user = accounts.create_user(session, clock, email="a@example.org", role="admin",
                                password=PASSWORD, actor="test", with_totp=None)
    assert user.needs_totp and user.totp_secret


def test_reviewer_may_opt_in_to_totp_and_then_needs_it(client, make_user, clock):
    account = make_user("reviewer", with_totp=True)
    assert sign_in(client, account.user.email, PASSWORD).status_code == 401
    assert sign_in(client, account.user.email, PASSWORD, account.totp_now(clock)).status_code == 302


def test_wrong_totp_code_is_refused_and_counted(client, make_user, clock, session):
    account = make_user("handler")
    good = account.totp_now(clock)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    response = sign_in(client, account.user.email, PASSWORD, wrong)
    assert response.status_code == 401
    assert "Those details are not right." in response.get_data(as_text=True)
    session.refresh(account.user)
    # A wrong code after the right password: only someone with the password can do that.
    assert account.user.factor_failures == 1 and account.user.failed_logins == 0


def test_code_from_a_neighbouring_step_is_accepted_but_not_older(client, make_user, clock):
    account = make_user("admin")
    totp = pyotp.TOTP(account.user.totp_secret)
    too_old = totp.at(clock.now() - dt.timedelta(seconds=90))
    assert sign_in(client, account.user.email, PASSWORD, too_old).status_code == 401
    drifted = totp.at(clock.now() - dt.timedelta(seconds=30))
    assert sign_in(client, account.user.email, PASSWORD, drifted).status_code == 302


def test_totp_code_cannot_be_replayed(app, make_user, clock):
    account = make_user("admin")
    code = account.totp_now(clock)
    first, second = app.test_client(), app.test_client()
    assert sign_in(first, account.user.email, PASSWORD, code).status_code == 302
    # Same code, same 30-second window, another browser: refused.
    assert sign_in(second, account.user.email, PASSWORD, code).status_code == 401
    clock.advance(seconds=30)
    fresh = account.totp_now(clock)
    assert sign_in(second, account.user.email, PASSWORD, fresh).status_code == 302


def test_wrong_password_is_refused(client, make_user, session):
    account = make_user("reviewer")
    response = sign_in(client, account.user.email, "not the password at all")
    assert response.status_code == 401
    assert not is_signed_in(client)
    assert actions(session, account.user.email)[-1] == "login.failed"


def _without_tokens(html: str) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', html)


def test_unknown_email_gets_the_same_response_as_a_wrong_password(app, make_user, session):
    account = make_user("reviewer")
    known, unknown = app.test_client(), app.test_client()
    wrong_password = sign_in(known, account.user.email, "not the password at all")
    no_such_user = sign_in(unknown, "nobody@example.org", "not the password at all")
    assert wrong_password.status_code == no_such_user.status_code == 401
    # The pages differ only in the e-mail address typed back into the form.
    a = _without_tokens(wrong_password.get_data(as_text=True))
    b = _without_tokens(no_such_user.get_data(as_text=True))
    assert a == b
    # The audit log does not keep what was typed for an unknown account.
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (last.action, last.subject) == ("login.failed", "unknown")
    assert "nobody@example.org" not in last.detail


def test_lockout_after_threshold_and_its_expiry(client, make_user, clock, session, settings):
    account = make_user("reviewer")
    email = account.user.email
    assert settings.lockout_threshold == 5 and settings.lockout_base_seconds == 60
    for _ in range(4):
        assert sign_in(client, email, "wrong password here").status_code == 401
    assert sign_in(client, email, "wrong password here").status_code == 401  # the 5th locks
    # Locked (a password-only account): even the right password is refused, with the
    # same answer as any failure, which mentions that accounts lock.
    response = sign_in(client, email, PASSWORD)
    assert response.status_code == 401
    assert "locked for a while" in response.get_data(as_text=True)
    assert not is_signed_in(client)
    clock.advance(seconds=59)
    assert sign_in(client, email, PASSWORD).status_code == 401
    clock.advance(seconds=2)
    assert sign_in(client, email, PASSWORD).status_code == 302
    session.refresh(account.user)
    assert account.user.failed_logins == 0 and account.user.locked_until is None
    assert "login.locked" in actions(session, email)


def test_lockout_backs_off_doubling_per_further_failure(client, make_user, clock, session):
    account = make_user("reviewer")
    email = account.user.email
    for _ in range(5):
        sign_in(client, email, "wrong password here")
    session.refresh(account.user)
    assert as_utc(account.user.locked_until) - clock.now() == dt.timedelta(seconds=60)
    clock.advance(seconds=61)
    sign_in(client, email, "wrong password here")  # 6th failure: twice as long
    session.refresh(account.user)
    assert as_utc(account.user.locked_until) - clock.now() == dt.timedelta(seconds=120)
    clock.advance(seconds=121)
    sign_in(client, email, "wrong password here")  # 7th: twice again
    session.refresh(account.user)
    assert as_utc(account.user.locked_until) - clock.now() == dt.timedelta(seconds=240)
    clock.advance(seconds=239)
    assert sign_in(client, email, PASSWORD).status_code == 401
    clock.advance(seconds=2)
    assert sign_in(client, email, PASSWORD).status_code == 302


def test_lockout_policy_is_capped_at_a_day():
    policy = accounts.LockoutPolicy(threshold=5, base_seconds=60)
    assert [policy.lock_seconds(n) for n in range(1, 8)] == [0, 0, 0, 0, 60, 120, 240]
    assert policy.lock_seconds(100) == 24 * 3600


def test_lockout_is_per_account_not_per_client(app, make_user):
    locked, other = make_user("reviewer"), make_user("reviewer")
    client = app.test_client()
    for _ in range(5):
        sign_in(client, locked.user.email, "wrong password here")
    # The same browser (and address) can still sign in to another account.
    assert sign_in(client, other.user.email, PASSWORD).status_code == 302


def test_disabled_account_cannot_sign_in(client, make_user, session, clock):
    account = make_user("reviewer")
    account.user.disabled = True
    session.commit()
    response = sign_in(client, account.user.email, PASSWORD)
    assert response.status_code == 401
    assert "disabled" in response.get_data(as_text=True)
    assert not is_signed_in(client)
    # Wrong password on a disabled account reveals nothing about it being disabled.
    response = sign_in(client, account.user.email, "wrong password here")
    assert "disabled" not in response.get_data(as_text=True)


def test_password_change_ends_other_sessions(app, login_as, client, clock, session):
    account = login_as("reviewer")
    other = app.test_client()
    assert sign_in(other, account.user.email, PASSWORD).status_code == 302
    assert is_signed_in(other)
    old_token = account.user.session_token

    response = post_form(client, "/account/password",
                         {"current": PASSWORD, "new": NEW_PASSWORD})
    assert response.status_code == 302
    session.refresh(account.user)
    assert account.user.session_token != old_token
    assert is_signed_in(client), "the session that changed the password carries on"
    assert not is_signed_in(other), "every other session has ended"
    assert sign_in(other, account.user.email, PASSWORD).status_code == 401
    assert sign_in(other, account.user.email, NEW_PASSWORD).status_code == 302
    assert "account.password" in actions(session, account.user.email)


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("not my password at all", NEW_PASSWORD, "current password is not right"),
        (PASSWORD, "short", "password of at least 12 characters"),
        (PASSWORD, PASSWORD, "different from the current one"),
    ],
)
def test_password_change_refusals(login_as, client, session, current, new, message):
    account = login_as("reviewer")
    response = post_form(client, "/account/password", {"current": current, "new": new})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    session.refresh(account.user)
    assert accounts.password_matches(account.user.password_hash, PASSWORD)
    assert is_signed_in(client)


def test_idle_timeout_signs_out(login_as, client, clock, settings):
    login_as("reviewer")
    limit = settings.idle_timeout_minutes
    clock.advance(minutes=limit - 1)
    assert is_signed_in(client), "activity within the limit keeps the session"
    clock.advance(minutes=limit - 1)
    assert is_signed_in(client), "each request restarts the idle timer"
    clock.advance(minutes=limit, seconds=1)
    response = client.get("/staff")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    clock.advance(seconds=1)
    assert not is_signed_in(client), "the session does not come back"


def test_logout_is_post_only_with_csrf(login_as, client, session):
    account = login_as("reviewer")
    assert client.get("/logout").status_code == 405
    assert is_signed_in(client)
    assert client.post("/logout").status_code == 400
    assert is_signed_in(client)
    token = csrf_token_from(client.get("/staff").get_data(as_text=True))
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert not is_signed_in(client)
    assert actions(session, account.user.email)[-1] == "logout"


def test_signed_in_user_visiting_login_goes_home(login_as, client):
    login_as("admin")
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_login_session_cookie_carries_no_client_fingerprint(login_as, client, app):
    login_as("reviewer")
    cookie = client.get_cookie("speakup_session")
    data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert data.get("_id", "") == "", "Flask-Login's address/user-agent hash must not be kept"



def test_the_shipped_password_hasher_is_argon2id_at_the_recommended_cost():
    """Tests hash with a cheap hasher (tests/conftest.py); the one that ships stays strong."""
    # RFC 9106's second recommended option: t = 3, m = 64 MiB, p = 4.
    assert SHIPPED_HASHER.type is Type.ID
    assert SHIPPED_HASHER.time_cost >= 3
    assert SHIPPED_HASHER.memory_cost >= 64 * 1024
    assert SHIPPED_HASHER.parallelism >= 1
    assert SHIPPED_HASHER.hash("x").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_an_unknown_address_costs_what_a_wrong_password_costs():
    """The hash an unknown e-mail is checked against has the shipped hasher's cost.

    It is written out in speakup/accounts.py (hashing one at import cost every process
    about a second): if the library's recommended parameters change, this fails until it
    is made again with them.
    """
    assert not SHIPPED_HASHER.check_needs_rehash(SHIPPED_DUMMY_HASH)
    assert SHIPPED_DUMMY_HASH.split("$")[3] == SHIPPED_HASHER.hash("x").split("$")[3]
    for guess in ("", "x", PASSWORD):
        with pytest.raises(VerifyMismatchError):
            SHIPPED_HASHER.verify(SHIPPED_DUMMY_HASH, guess)
