"""Deadlines in the inbox and the handlers' daily summary e-mail (aiosmtpd)."""

from __future__ import annotations

import datetime as dt

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import closed_port_url, hidden_fields, smtp_server
from sqlalchemy import select

from concerns import digest, services
from concerns.models import HandlerProfile
from concerns.wiring import run_digest
from speakup.mail import SmtpConfig, SmtpMailer
from speakup.models import AuditEntry
from speakup.settings import Settings, SettingsError
from speakup.web import services as app_services

LONDON_8AM_MARCH = dt.datetime(2026, 3, 11, 8, 0, tzinfo=dt.UTC)  # GMT: 08:00 local


def _submit(session, clock, config, text="They mock my accent in every meeting."):
    receipt, concern_id = services.submit_concern(
        session, clock, config, category_id=1, what_happened=text, what_wanted="")
    session.commit()
    return receipt, concern_id


@pytest.fixture
def four_concerns(session, clock, concern_config, recovery_key, make_handler):
    """A: received 2 March, never acknowledged (acknowledge by 9 March).
    B: received 6 March, not acknowledged (acknowledge by 13 March).
    C: received 6 March, replied to by the handler, then the reporter answered.
    D: received 6 March, closed.
    """
    handler = make_handler()
    _, a = _submit(session, clock, concern_config)
    clock.set(dt.datetime(2026, 3, 6, 10, 0, tzinfo=dt.UTC))
    _, b = _submit(session, clock, concern_config)
    receipt_c, c = _submit(session, clock, concern_config)
    services.handler_message(session, clock, concern_config, handler.user, c,
                             text="Thank you, we are looking into it.", seen_seq=1, note=False)
    services.reporter_reply(session, clock, concern_config,
                            services.receipt_keys(concern_config, receipt_c),
                            text="It happened again today.", seen_seq=2)
    _, d = _submit(session, clock, concern_config)
    services.change_status(session, clock, concern_config, handler.user, d,
                           new_status="closed", outcome="resolved", expected_status="new")
    session.commit()
    return handler, {"A": a, "B": b, "C": c, "D": d}


def test_counts_match_hand_computed_figures(session, clock, four_concerns, make_handler):
    handler, _ = four_concerns
    # On 11 March: A is overdue (9 March passed) and unacknowledged; B is unacknowledged
    # and due on 13 March = today + 2, so due soon; C's reporter wrote last; D is closed.
    counts = digest.handler_counts(session, dt.date(2026, 3, 11), handler.user.id)
    assert counts == digest.HandlerCounts(awaiting_acknowledgement=2, due_soon=1, overdue=1,
                                          replies_waiting=1)
    # On 8 March nothing is overdue yet; A (9 March) is due soon, B (13 March) not yet.
    counts = digest.handler_counts(session, dt.date(2026, 3, 8), handler.user.id)
    assert counts == digest.HandlerCounts(2, 1, 0, 1)
    # A handler who can read none of them (added later, nothing shared) counts nothing.
    newcomer = make_handler()
    assert digest.handler_counts(session, dt.date(2026, 3, 11), newcomer.user.id) == (
        digest.HandlerCounts(0, 0, 0, 0))


def test_inbox_sorts_by_next_deadline_and_flags_it(session, clock, concern_config,
                                                   four_concerns):
    handler, ids = four_concerns
    clock.set(LONDON_8AM_MARCH)
    rows = services.inbox(session, clock, concern_config, handler.user)
    assert [r.summary.id for r in rows] == [ids["A"], ids["B"], ids["C"]]
    assert [r.next_deadline for r in rows] == [dt.date(2026, 3, 9), dt.date(2026, 3, 13), None]
    assert [r.acknowledgement_overdue for r in rows] == [True, False, False]
    assert [r.due_soon for r in rows] == [False, True, False]
    newest_deadline_first = services.inbox(session, clock, concern_config, handler.user,
                                           descending=True)
    # Concerns with no deadline left stay last whichever way the deadline is ordered.
    assert [r.summary.id for r in newest_deadline_first] == [ids["B"], ids["A"], ids["C"]]
    everything = services.inbox(session, clock, concern_config, handler.user, status="all")
    assert [r.summary.id for r in everything][-2:] == sorted([ids["C"], ids["D"]])


def test_digest_goes_daily_at_the_hour_once_to_each_handler_who_wants_it(
        session, clock, concern_config, settings, four_concerns, make_handler, make_user):
    handler, ids = four_concerns
    newcomer = make_handler()  # no profile row yet: gets it by default
    quiet = make_handler()
    digest.set_digest(session, clock, quiet.user, enabled=False)
    gone = make_handler()
    gone.user.disabled = True
    make_user("admin")
    session.commit()

    with smtp_server() as (url, sink):
        mailer = SmtpMailer(SmtpConfig.from_url(url))
        clock.set(LONDON_8AM_MARCH - dt.timedelta(minutes=1))
        assert digest.send_due_digests(session, clock, concern_config, settings, mailer) == 0
        clock.set(LONDON_8AM_MARCH)
        assert digest.send_due_digests(session, clock, concern_config, settings, mailer) == 2
        # Later the same day (or a second scheduler) sends nothing again.
        clock.advance(hours=5)
        assert digest.send_due_digests(session, clock, concern_config, settings, mailer) == 0
        # Next day: again, although nothing changed.
        clock.advance(days=1)
        assert digest.send_due_digests(session, clock, concern_config, settings, mailer) == 2
        mailer.close()

    assert sorted(m["X-Envelope-To"] for m in sink.messages) == sorted(
        [handler.user.email, newcomer.user.email] * 2)
    first = next(m for m in sink.messages if m["X-Envelope-To"] == handler.user.email)
    body = first.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert first["Subject"] == digest.DIGEST_SUBJECT
    assert "Awaiting acknowledgement: 2\n" in body
    assert "Due within 2 days: 1\n" in body
    assert "Overdue: 1\n" in body
    assert "Reporter replies waiting: 1\n" in body
    assert f"{settings.base_url}/handle/" in body
    # Counts only: no reference, category or date of any concern.
    category = session.scalar(select(services.ConcernCategory.label).where(
        services.ConcernCategory.id == 1))
    for leak in [*ids.values(), category, "2026", "March", "Mar"]:
        assert leak not in body and leak not in first["Subject"]
    newcomers = next(m for m in sink.messages if m["X-Envelope-To"] == newcomer.user.email)
    newcomer_body = newcomers.get_payload(decode=True).decode().replace("\r", "")
    assert "Awaiting acknowledgement: 0\n" in newcomer_body


def test_digest_after_downtime_goes_once_and_a_failed_send_is_retried(
        session, clock, concern_config, settings, recovery_key, make_handler):
    handler = make_handler()
    # The scheduler was down at 08:00; the mail server is down at 09:00.
    clock.set(LONDON_8AM_MARCH + dt.timedelta(hours=1))
    down = SmtpMailer(SmtpConfig.from_url(closed_port_url()))
    assert digest.send_due_digests(session, clock, concern_config, settings, down) == 0
    assert session.get(HandlerProfile, handler.user.id) is None  # nothing half-written
    with smtp_server() as (url, sink):
        mailer = SmtpMailer(SmtpConfig.from_url(url))
        clock.advance(minutes=5)
        assert digest.send_due_digests(session, clock, concern_config, settings, mailer) == 1
        assert digest.send_due_digests(session, clock, concern_config, settings, mailer) == 0
        mailer.close()
    assert len(sink.messages) == 1
    assert session.get(HandlerProfile, handler.user.id).last_digest_on == dt.date(2026, 3, 11)


def test_scheduler_job_uses_the_configured_mailer(app, session, clock, recovery_key,
                                                  make_handler):
    handler = make_handler()
    clock.set(LONDON_8AM_MARCH)
    with smtp_server() as (url, sink):
        app_services(app).extras["mailer"] = lambda: SmtpMailer(SmtpConfig.from_url(url))
        assert run_digest(app_services(app)) == 1
        assert run_digest(app_services(app)) == 0
    assert [m["X-Envelope-To"] for m in sink.messages] == [handler.user.email]


def test_digest_hour_follows_the_setting():
    assert Settings.from_env({"SPEAKUP_HANDLER_DIGEST_AT": "06:30"}).handler_digest_at == "06:30"
    for bad in ("8", "24:00", "08:60", "eight"):
        with pytest.raises(SettingsError, match="SPEAKUP_HANDLER_DIGEST_AT"):
            Settings.from_env({"SPEAKUP_HANDLER_DIGEST_AT": bad})


# --------------------------------------------------------------------------- pages


def test_handler_lands_on_the_inbox_summary(client, login_as, session, clock, concern_config,
                                            recovery_key):
    login_as("handler")
    response = client.get("/login")
    assert response.status_code == 302 and response.location.endswith("/handle/")
    _submit(session, clock, concern_config)
    html = client.get("/handle/").get_data(as_text=True)
    assert "What waits for you" in html
    assert "Acknowledge by" in html and "Feedback by" in html
    assert "9 Mar 2026" in html  # received 2 March: acknowledge by 9 March
    for sentence in digest.DEFINITIONS.values():
        assert sentence in html
    assert '<option selected value="deadline">' in html or 'value="deadline" selected' in html


def test_handler_switches_the_summary_off_without_javascript(client, login_as, session):
    account = login_as("handler")
    page = client.get("/handle/settings").get_data(as_text=True)
    assert 'checked' in page  # on by default
    response = client.post("/handle/settings", data={**hidden_fields(page)})  # box unticked
    assert response.status_code == 302
    assert session.get(HandlerProfile, account.user.id).digest_enabled is False
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "handler.digest")).one()
    assert entry.subject == account.user.email
    assert 'checked' not in client.get("/handle/settings").get_data(as_text=True)
