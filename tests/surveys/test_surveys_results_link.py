"""Invitations and reminders link the staff results page while it is on, through real SMTP."""

from __future__ import annotations

import datetime as dt

import pytest
from surveys_testlib import LINK_RE, addresses, body_of, make_survey, open_round_now, smtp_server

from speakup import site_settings
from speakup.mail import SmtpConfig, SmtpMailer
from surveys import rounds
from surveys.invitations import send_pending_mail, token_key

AUDIENCE = addresses(4)
WORDS = "What happened after the last round"


def send(session_factory, settings, clock, server) -> None:  # type: ignore[no-untyped-def]
    report = send_pending_mail(session_factory, SmtpMailer(SmtpConfig.from_url(server.url)),
                               settings, clock, key=token_key(settings))
    assert report.error is None and report.total_sent == len(AUDIENCE)


@pytest.mark.parametrize("enabled", [True, False])
def test_invitations_and_reminders_link_the_results_page_only_while_it_is_on(
    session, session_factory, settings, clock, enabled
):
    if not enabled:
        site_settings.set_results_page_enabled(session, clock, "admin@example.org", False)
    survey = make_survey(session, clock, settings, AUDIENCE)
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()
    link = f"{settings.base_url}/results/"

    with smtp_server() as server:
        send(session_factory, settings, clock, server)
        clock.set(dt.datetime.fromisoformat(round_.reminder_times[0]))
        assert rounds.queue_due_reminders(session, clock) == len(AUDIENCE)
        session.commit()
        send(session_factory, settings, clock, server)
        messages = server.messages

    assert len(messages) == 2 * len(AUDIENCE)
    for message in messages:
        text = body_of(message)
        assert (WORDS in text) is enabled
        assert (link in text) is enabled
        assert "/results/" in text if enabled else "/results/" not in text
    invitations, reminders = messages[:len(AUDIENCE)], messages[len(AUDIENCE):]
    # The personal link is still the only token-bearing link (given once per language, the
    # same token both times); reminders still carry none.
    assert all(len(set(LINK_RE.findall(body_of(m)))) == 1 for m in invitations)
    assert not any(LINK_RE.search(body_of(m)) for m in reminders)
