"""The administrators' account pages: create, change role, disable; one admin always stays."""

from __future__ import annotations

import pyotp
import pytest
from conftest import PASSWORD, post_form
from sqlalchemy import select

from speakup import accounts
from speakup.models import AuditEntry


def last_audit(session) -> AuditEntry:  # type: ignore[no-untyped-def]
    return session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()


def edit(client, user, role: str, disabled: bool = False):  # type: ignore[no-untyped-def]
    data = {"role": role}
    if disabled:
        data["disabled"] = "y"
    return post_form(client, f"/admin/accounts/{user.id}", data)


def test_admin_home_and_account_list(login_as, client, make_user):
    admin = login_as("admin")
    other = make_user("handler")
    home = client.get("/admin/").get_data(as_text=True)
    assert "/admin/accounts" in home
    listing = client.get("/admin/accounts").get_data(as_text=True)
    assert admin.user.email in listing and other.user.email in listing
    assert f"/admin/accounts/{other.user.id}" in listing


@pytest.mark.parametrize(("role", "needs_totp"), [("admin", True), ("handler", True),
                                                   ("reviewer", False)])
def test_create_account(login_as, client, session, role, needs_totp):
    admin = login_as("admin")
    response = post_form(client, "/admin/accounts/new",
                         {"email": "Someone@Example.org", "role": role, "password": PASSWORD})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    user = accounts.find_user(session, "someone@example.org")
    assert user is not None and user.role == role
    assert ("otpauth://" in html) is needs_totp
    if needs_totp:
        assert f"secret={user.totp_secret}" in html
    entry = last_audit(session)
    assert (entry.actor, entry.action, entry.subject) == (
        admin.user.email, "account.create", "someone@example.org")
    # The set-up link is not shown anywhere afterwards.
    assert "otpauth://" not in client.get("/admin/accounts").get_data(as_text=True)
    assert "otpauth://" not in client.get(f"/admin/accounts/{user.id}").get_data(as_text=True)


@pytest.mark.parametrize(("data", "message"), [
    ({"email": "bad", "role": "reviewer", "password": PASSWORD}, "valid e-mail address"),
    ({"email": "x@example.org", "role": "reviewer", "password": "short"}, "at least 12"),
    ({"email": "x@example.org", "role": "owner", "password": PASSWORD}, "Not a valid choice"),
])
def test_create_account_refusals(login_as, client, session, data, message):
    login_as("admin")
    response = post_form(client, "/admin/accounts/new", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert accounts.find_user(session, "x@example.org") is None


def test_create_duplicate_account_is_refused(login_as, client, make_user):
    login_as("admin")
    existing = make_user("reviewer")
    response = post_form(client, "/admin/accounts/new",
                         {"email": existing.user.email, "role": "admin", "password": PASSWORD})
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


def test_change_role_to_handler_sets_up_totp_and_shows_it_once(login_as, client, make_user,
                                                              session, app, clock):
    admin = login_as("admin")
    reviewer = make_user("reviewer")
    response = edit(client, reviewer.user, "handler")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    session.refresh(reviewer.user)
    assert reviewer.user.role == "handler" and reviewer.user.totp_secret
    assert f"secret={reviewer.user.totp_secret}" in html
    entry = last_audit(session)
    assert (entry.actor, entry.action, entry.subject) == (
        admin.user.email, "account.update", reviewer.user.email)
    assert '"role": ["reviewer", "handler"]' in entry.detail
    # The new handler now needs the code from that link.
    other = app.test_client()
    data = {"email": reviewer.user.email, "password": PASSWORD}
    assert post_form(other, "/login", data).status_code == 401
    data["totp"] = pyotp.TOTP(reviewer.user.totp_secret).at(clock.now())
    assert post_form(other, "/login", data).status_code == 302


def test_change_role_between_totp_roles_keeps_the_factor(login_as, client, make_user, session):
    login_as("admin")
    handler = make_user("handler")
    secret = handler.user.totp_secret
    response = edit(client, handler.user, "admin")
    assert response.status_code == 302
    session.refresh(handler.user)
    assert handler.user.role == "admin" and handler.user.totp_secret == secret


def test_role_change_takes_effect_on_the_next_request(app, login_as, client, make_user, clock):
    login_as("admin")
    handler = make_user("handler")
    theirs = app.test_client()
    post_form(theirs, "/login", {"email": handler.user.email, "password": PASSWORD,
                                 "totp": handler.totp_now(clock)})
    assert theirs.get("/admin/").status_code == 403
    edit(client, handler.user, "admin")
    assert theirs.get("/admin/").status_code == 200


def test_promotion_to_a_role_needing_totp_ends_existing_sessions(app, login_as, client,
                                                                 make_user):
    login_as("admin")
    reviewer = make_user("reviewer")
    theirs = app.test_client()
    post_form(theirs, "/login", {"email": reviewer.user.email, "password": PASSWORD})
    assert theirs.get("/staff").status_code == 200
    edit(client, reviewer.user, "admin")
    # That session never proved the new second factor.
    response = theirs.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_disabling_an_account_ends_its_session(app, login_as, client, make_user, session):
    admin = login_as("admin")
    reviewer = make_user("reviewer")
    theirs = app.test_client()
    assert post_form(theirs, "/login", {"email": reviewer.user.email,
                                        "password": PASSWORD}).status_code == 302
    assert theirs.get("/staff").status_code == 200
    response = edit(client, reviewer.user, "reviewer", disabled=True)
    assert response.status_code == 302
    follow = theirs.get("/staff")
    assert follow.status_code == 302 and follow.headers["Location"].startswith("/login")
    entry = last_audit(session)
    assert (entry.actor, entry.action, entry.subject) == (
        admin.user.email, "account.update", reviewer.user.email)
    assert '"disabled": [false, true]' in entry.detail
    listing = client.get("/admin/accounts").get_data(as_text=True)
    assert "disabled" in listing
    # Re-enabling lets them sign in again (with a fresh session).
    edit(client, reviewer.user, "reviewer", disabled=False)
    assert post_form(theirs, "/login", {"email": reviewer.user.email,
                                        "password": PASSWORD}).status_code == 302


@pytest.mark.parametrize(("role", "disabled"), [("reviewer", False), ("handler", False),
                                                ("admin", True)])
def test_the_last_admin_cannot_be_removed(login_as, client, session, role, disabled):
    admin = login_as("admin")
    assert accounts.count_active_admins(session) == 1
    before = last_audit(session).id
    response = edit(client, admin.user, role, disabled=disabled)
    assert response.status_code == 400
    assert "At least one active administrator must remain" in response.get_data(as_text=True)
    session.refresh(admin.user)
    assert admin.user.role == "admin" and not admin.user.disabled
    assert last_audit(session).id == before, "a refused change is not audited"
    assert client.get("/admin/").status_code == 200


def test_an_admin_can_be_removed_while_another_remains(login_as, client, make_user, session):
    login_as("admin")
    second = make_user("admin")
    assert edit(client, second.user, "admin", disabled=True).status_code == 302
    assert accounts.count_active_admins(session) == 1


def test_editing_an_unknown_account_is_404(login_as, client):
    login_as("admin")
    assert client.get("/admin/accounts/999999").status_code == 404


def test_saving_without_changes_writes_no_audit_entry(login_as, client, make_user, session):
    login_as("admin")
    reviewer = make_user("reviewer")
    before = last_audit(session).id
    assert edit(client, reviewer.user, "reviewer").status_code == 302
    assert last_audit(session).id == before
