"""Handler and admin pages through the test client: key sessions, workflow, access."""

from __future__ import annotations

import base64

import pyotp
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, post_form, receipt_from, submit
from sqlalchemy import func, select

from concerns.handler_views import KEY_SESSION
from concerns.models import Concern, ConcernCategory, ConcernMessage, HandlerKeySession
from speakup.models import AuditEntry
from speakup.web import services

TEXT = "My manager mocks my name in meetings."


@pytest.fixture
def reporter(app):
    return app.test_client()


def _concern_id(session):
    return session.scalar(select(Concern.id))


def _actions(session):
    return [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _flask_session(client, app):
    cookie = client.get_cookie("speakup_session")
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def _post(client, url, page_url, **data):
    """Post one form of a page that has several (their fields carry prefixes)."""
    fields = hidden_fields(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={**fields, **data})


def test_sign_in_keeps_the_unlocked_key_server_side(client, app, session, login_as, recovery_key):
    handler = login_as("handler")
    rows = session.scalars(select(HandlerKeySession)).all()
    assert [r.user_id for r in rows] == [handler.user.id]
    value = _flask_session(client, app)[KEY_SESSION]
    row_id, session_key = value.split(".")
    assert row_id == rows[0].id
    # The cookie holds only the per-session key; the private key is in neither half.
    stored = session.get(HandlerKeySession, row_id).sealed_private_key
    assert len(base64.urlsafe_b64decode(session_key)) == 32
    assert base64.urlsafe_b64decode(session_key) not in stored
    client.post("/logout", data={"csrf_token": hidden_fields(
        client.get("/handle/").get_data(as_text=True))["csrf_token"]})
    assert session.scalars(select(HandlerKeySession)).all() == []


def test_handler_reads_replies_and_reporter_sees_it(client, reporter, session, login_as,
                                                   recovery_key):
    login_as("handler")
    receipt = receipt_from(submit(reporter, text=TEXT).get_data(as_text=True))
    concern_id = _concern_id(session)

    inbox = client.get("/handle/").get_data(as_text=True)
    assert concern_id in inbox and "Racism or discrimination" in inbox and TEXT not in inbox
    page = client.get(f"/handle/{concern_id}")
    assert page.status_code == 200 and TEXT in page.get_data(as_text=True)
    assert _actions(session).count("concern.read") == 1

    response = _post(client, f"/handle/{concern_id}/reply", f"/handle/{concern_id}",
                     **{"reply-text": "Thank you for telling us."})
    assert response.status_code == 302
    response = _post(client, f"/handle/{concern_id}/note", f"/handle/{concern_id}",
                     **{"note-text": "Speak to HR first."})
    assert response.status_code == 302

    html = reporter.get("/concerns/check").get_data(as_text=True)
    shown = reporter.post("/concerns/check", data={
        "csrf_token": hidden_fields(html)["csrf_token"], "receipt": receipt}).get_data(
        as_text=True)
    assert "Thank you for telling us." in shown and "Speak to HR first." not in shown
    assert "Acknowledged" in shown
    assert {"concern.reply", "concern.note"} <= set(_actions(session))


def test_status_exclusion_and_concurrent_replies(client, session, login_as, reporter,
                                                recovery_key):
    login_as("handler")
    submit(reporter, text=TEXT)
    concern_id = _concern_id(session)
    page_url = f"/handle/{concern_id}"

    # Two tabs load the page; the first reply wins, the second is refused, text kept.
    first_tab = hidden_fields(client.get(page_url).get_data(as_text=True))
    second_tab = dict(first_tab)
    assert client.post(f"{page_url}/reply", data={**first_tab, "reply-text": "One"}
                       ).status_code == 302
    refused = client.post(f"{page_url}/reply", data={**second_tab, "reply-text": "Two, kept"})
    assert refused.status_code == 409
    assert "Two, kept" in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ConcernMessage)) == 2

    closing = _post(client, f"{page_url}/status", page_url, **{"status-status": "closed"})
    assert closing.status_code == 400
    assert "choose its outcome" in closing.get_data(as_text=True)
    moved = _post(client, f"{page_url}/status", page_url,
                  **{"status-status": "in_progress"})
    assert moved.status_code == 302
    stale = client.post(f"{page_url}/status", data={**first_tab, "status-status": "closed",
                                                    "status-outcome": "resolved"})
    assert stale.status_code == 409
    spam = _post(client, f"{page_url}/exclude", page_url, **{"exclude-reason": "spam"})
    assert spam.status_code == 302
    concern = session.get(Concern, concern_id)
    session.refresh(concern)
    assert (concern.status, concern.outcome) == ("closed", "spam")


def test_sharing_through_the_page(client, app, session, login_as, reporter, make_handler,
                                  recovery_key):
    login_as("handler")
    submit(reporter, text=TEXT)
    concern_id = _concern_id(session)
    newcomer = make_handler()
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert newcomer.user.email in page
    response = _post(client, f"/handle/{concern_id}/share", f"/handle/{concern_id}",
                     **{"share-handler": str(newcomer.user.id)})
    assert response.status_code == 302
    other = app.test_client()
    response = post_form(other, "/login", {"email": newcomer.user.email,
                                           "password": newcomer.password,
                                           "totp": _totp(newcomer.user, app)})
    assert response.status_code == 302
    assert TEXT in other.get(f"/handle/{concern_id}").get_data(as_text=True)


def _totp(user, app):
    clock = services(app).clock
    clock.advance(seconds=30)
    return pyotp.TOTP(user.totp_secret).at(clock.now())


def test_locked_key_asks_for_the_password(client, session, login_as, reporter, recovery_key):
    handler = login_as("handler")
    submit(reporter, text=TEXT)
    concern_id = _concern_id(session)
    session.query(HandlerKeySession).delete()
    session.commit()
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert "Unlock your key" in page and TEXT not in page
    assert "concern.read" not in _actions(session)
    fields = hidden_fields(page)
    wrong = client.post("/handle/unlock", data={**fields, "password": "not my password!!"})
    assert wrong.status_code == 302 and "handler_key.unlock_failed" in _actions(session)
    right = client.post("/handle/unlock", data={**fields, "password": handler.password})
    assert right.status_code == 302 and right.headers["Location"].endswith(concern_id)
    assert TEXT in client.get(f"/handle/{concern_id}").get_data(as_text=True)


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_other_roles_cannot_reach_handler_pages(client, login_as, role):
    login_as(role)
    assert client.get("/handle/").status_code == 403
    assert client.get("/handle/ABCDE-FGHJK").status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/handle/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unknown_concern_is_404(client, login_as):
    login_as("handler")
    assert client.get("/handle/ZZZZZ-ZZZZZ").status_code == 404


def test_inbox_filters_without_javascript(client, session, login_as, reporter, recovery_key):
    login_as("handler")
    submit(reporter)
    html = client.get("/handle/?status=closed&sort=category&order=desc").get_data(as_text=True)
    assert "No concerns match" in html
    html = client.get("/handle/?status=bogus&sort=bogus").get_data(as_text=True)
    assert _concern_id(session) in html


def test_admin_maintains_categories(client, session, login_as):
    login_as("admin")
    page = client.get("/admin/concern-categories/")
    assert page.status_code == 200 and "Patient or service-user safety" in page.get_data(
        as_text=True)
    added = post_form(client, "/admin/concern-categories/", {"label": "Pay and grading"})
    assert added.status_code == 302
    duplicate = post_form(client, "/admin/concern-categories/", {"label": "pay and grading"})
    assert duplicate.status_code == 400
    category = session.scalar(select(ConcernCategory).where(
        ConcernCategory.label == "Pay and grading"))
    edited = post_form(client, f"/admin/concern-categories/{category.id}",
                       {"label": "Pay, grading and promotion"})  # unticked: closed
    assert edited.status_code == 302
    session.refresh(category)
    assert (category.label, category.active) == ("Pay, grading and promotion", False)
    assert {"category.create", "category.update"} <= set(_actions(session))
    assert "Concern categories" in client.get("/admin/").get_data(as_text=True)


def test_handler_navigation_and_public_links(client, login_as):
    assert "Raise a concern" in client.get("/").get_data(as_text=True)
    login_as("handler")
    assert ">Inbox<" in client.get("/staff").get_data(as_text=True)
