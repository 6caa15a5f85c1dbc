"""Every concern readable by someone, or loudly not (issue 19, findings 1 and 2).

Refused before the form until a recovery key exists and an active handler has keys;
a concern no active handler can read is counted in the inbox, the daily summary, the
admin status page and /healthz, and the admins are mailed (real SMTP, aiosmtpd).
"""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import smtp_server
from conftest import PASSWORD, csrf_token_from, post_form
from sqlalchemy import func, select

from concerns import conflicts, digest, readers, services
from concerns.models import Concern
from concerns.wiring import run_unread_alert
from speakup.mail import SmtpConfig, SmtpMailer
from speakup.web import services as app_services

REPORT = "My team leader mocks my accent in every meeting."
LONDON_8AM_MARCH = dt.datetime(2026, 3, 11, 8, 0, tzinfo=dt.UTC)  # the summary hour


def _refused_page(response) -> str:  # type: ignore[no-untyped-def]
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html
    assert 'name="what_happened"' not in html  # no form to fill in and lose
    assert "Send my concern" not in html
    return html


def test_form_is_refused_before_it_is_shown_without_a_recovery_key(client):
    html = _refused_page(client.get("/concerns/new"))
    assert "its recovery key has not been set up" in html


def test_form_is_refused_before_it_is_shown_until_an_active_handler_has_keys(
        client, session, recovery_key, make_user, make_handler):
    html = _refused_page(client.get("/concerns/new"))
    assert "no case handler has signed in for the first time" in html
    make_user("handler")  # an account that never signed in has no key pair
    _refused_page(client.get("/concerns/new"))
    gone = make_handler()
    gone.user.disabled = True  # keys, but disabled: cannot read either
    session.commit()
    _refused_page(client.get("/concerns/new"))
    make_handler()
    page = client.get("/concerns/new")
    assert page.status_code == 200
    assert 'name="what_happened"' in page.get_data(as_text=True)


def test_sending_is_refused_when_the_last_reader_went_after_the_form_was_shown(
        client, session, clock, concern_config, recovery_key, make_handler):
    handler = make_handler()
    html = client.get("/concerns/new").get_data(as_text=True)
    handler.user.disabled = True
    session.commit()
    response = client.post("/concerns/new", data={
        "csrf_token": csrf_token_from(html), "category": "1", "what_happened": REPORT})
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "nobody could read a concern sent now" in page
    assert REPORT in page  # the text is kept
    assert session.scalar(select(func.count()).select_from(Concern)) == 0
    with pytest.raises(services.NotReadyError):
        services.submit_concern(session, clock, concern_config, category_id=1,
                                what_happened=REPORT)


def _admin_page(client) -> str:  # type: ignore[no-untyped-def]
    response = client.get("/admin/concern-handlers/readers")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _sign_in(client, user, clock) -> None:  # type: ignore[no-untyped-def]
    data = {"email": user.email, "password": PASSWORD}
    if user.totp_secret:
        data["totp"] = pyotp.TOTP(user.totp_secret).at(clock.now())
    assert post_form(client, "/login", data).status_code == 302
    clock.advance(seconds=30)  # the next sign-in needs a fresh code


def _waiting_in_inbox(client) -> str:  # type: ignore[no-untyped-def]
    html = client.get("/handle/").get_data(as_text=True)
    start = html.index("<dt>Waiting for a reader</dt>")
    return html[start:start + 200].split("<strong>")[1].split("</strong>")[0]


def test_a_concern_whose_only_reader_is_disabled_is_flagged_everywhere_until_recovered(
        app, client, session, clock, settings, concern_config, recovery_key, make_handler,
        make_user, login_as):
    # Given a concern readable by one handler only, and a second handler who signed in
    # after it arrived (keys, but no wrap of it).
    only = make_handler()
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=REPORT)
    session.commit()
    later = app.test_client()  # the newcomer's own browser
    admin = login_as("admin")
    assert "Concerns nobody can read" in client.get("/admin/").get_data(as_text=True)
    assert 'id="waiting-count"><strong>0</strong>' in _admin_page(client)
    newcomer = make_user("handler", email="newcomer@example.org").user
    _sign_in(later, newcomer, clock)  # their key pair is made now
    assert _waiting_in_inbox(later) == "0"

    with smtp_server() as (url, sink):
        app_services(app).extras["mailer"] = lambda: SmtpMailer(SmtpConfig.from_url(url))
        # When an admin disables the only handler who could read it.
        page = post_form(client, f"/admin/accounts/{only.user.id}",
                         {"role": "handler", "disabled": "y"}, follow_redirects=True)
        assert page.status_code == 200
        assert "1 concerns now have no active case handler who can read them" in \
            page.get_data(as_text=True)
        # Then the admins are mailed at once: a count and the fix, nothing of the concern.
        assert [m["X-Envelope-To"] for m in sink.messages] == [admin.user.email]
        body = sink.messages[0].get_payload(decode=True).decode()
        assert sink.messages[0]["Subject"] == readers.ALERT_SUBJECT
        assert "Concerns waiting for a reader: 1" in body
        assert "speakup keys recover" in body
        for secret in (REPORT, concern_id, "Racism", str(clock.now().date())):
            assert secret not in body

        # And every counter says so: inbox, admin page, /healthz, the daily summary.
        assert _waiting_in_inbox(later) == "1"
        admin_html = _admin_page(client)
        assert 'id="waiting-count"><strong>1</strong>' in admin_html
        assert f"--handler {newcomer.email}" in admin_html
        # What to do when the handler chosen was kept out by the reporter (never who was).
        assert "is never given to them" in admin_html and "another handler" in admin_html
        assert only.user.email in admin_html  # re-enabling them is the other way out
        assert REPORT not in admin_html and concern_id not in admin_html
        response = client.get("/healthz")
        health = response.get_json()
        assert response.status_code == 200 and health["status"] == "ok"
        assert health["concerns"] == {"receiving": True, "waiting_for_a_reader": 1}

        mailer = SmtpMailer(SmtpConfig.from_url(url))
        clock.set(LONDON_8AM_MARCH)
        sink.messages.clear()
        assert digest.send_due_digests(session, clock, concern_config, settings, mailer) == 1
        summary = sink.messages[0].get_payload(decode=True).decode()
        assert "Waiting for a reader (no active handler can read them): 1" in summary
        # The admins' daily reminder goes at the summary hour, once a day.
        sink.messages.clear()
        clock.set(LONDON_8AM_MARCH - dt.timedelta(minutes=1))
        assert run_unread_alert(app_services(app)) == 0
        clock.set(LONDON_8AM_MARCH)
        assert run_unread_alert(app_services(app)) == 1
        assert run_unread_alert(app_services(app)) == 0
        assert "Concerns waiting for a reader: 1" in \
            sink.messages[0].get_payload(decode=True).decode()

        # When the recovery key gives the newcomer access, every count is 0 again.
        services.recover_access(session, clock, concern_config, recovery_key,
                                newcomer.email, actor="test")
        session.commit()
        _sign_in(later, newcomer, clock)  # days have passed: their session has ended
        assert _waiting_in_inbox(later) == "0"
        login_as("admin")
        assert 'id="waiting-count"><strong>0</strong>' in _admin_page(client)
        assert client.get("/healthz").get_json()["concerns"]["waiting_for_a_reader"] == 0
        clock.advance(days=1)
        sink.messages.clear()
        assert digest.send_due_digests(session, clock, concern_config, settings, mailer) == 1
        assert "Waiting for a reader (no active handler can read them): 0" in \
            sink.messages[0].get_payload(decode=True).decode()
        assert run_unread_alert(app_services(app)) == 0  # nothing waits: no mail
        mailer.close()


def test_a_concern_arriving_sends_no_mail_to_anyone(app, client, session, clock,
                                                   recovery_key, make_handler, login_as):
    """The arrival of a concern is never told by a mail's timing (DESIGN.md rule 1)."""
    make_handler()
    login_as("admin")
    clock.set(LONDON_8AM_MARCH)  # even at the summary hour
    with smtp_server() as (url, sink):
        app_services(app).extras["mailer"] = lambda: SmtpMailer(SmtpConfig.from_url(url))
        reporter = app.test_client()
        html = reporter.get("/concerns/new").get_data(as_text=True)
        sent = reporter.post("/concerns/new", data={
            "csrf_token": csrf_token_from(html), "category": "1", "what_happened": REPORT})
        assert sent.status_code == 200 and "receipt" in sent.get_data(as_text=True)
        assert run_unread_alert(app_services(app)) == 0  # it has a reader: nothing to say
    assert sink.messages == []
    assert readers.count_waiting_for_a_reader(session) == 0


def test_a_concern_that_keeps_a_handler_out_is_not_in_their_waiting_count(
        session, clock, concern_config, recovery_key, make_handler):
    kept_out, only, other = make_handler(), make_handler(), make_handler()
    for number, handler in enumerate((kept_out, only, other)):
        conflicts.set_display_name(session, clock, handler.user.id, f"Handler {number}",
                                   actor="admin@example.org")
    session.commit()
    _, concern_id = services.submit_concern(
        session, clock, concern_config.with_changes(exclusions_offered=True), category_id=1,
        what_happened=REPORT, excluded=[str(kept_out.user.id), str(other.user.id)])
    only.user.disabled = True
    session.commit()
    assert readers.count_waiting_for_a_reader(session) == 1  # the admins see it
    # The handler it keeps out is not told it exists; a handler it does not is.
    assert readers.waiting_shown_to_handler(session, concern_config, kept_out.user.id) == 0
    newcomer = make_handler()
    assert readers.waiting_shown_to_handler(session, concern_config, newcomer.user.id) == 1
