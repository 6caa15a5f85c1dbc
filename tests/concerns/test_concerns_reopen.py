"""Closing with a message to the reporter, and reopening (by the reporter's reply or a handler)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from, submit
from sqlalchemy import select

from concerns import publication, services
from concerns.models import Concern, Status
from speakup.models import AuditEntry
from speakup.settings import Settings

TEXT = "My shift lead keeps giving the worst rota to the Black staff."
CLOSING = "We changed how the rota is made; it is now agreed in the team meeting."


@pytest.fixture
def closed(session, clock, concern_config, recovery_key, make_handler):
    """A concern received on 2 March, closed on 5 March with a closing message."""
    handler = make_handler()
    receipt, concern_id = services.submit_concern(session, clock, concern_config,
                                                  category_id=1, what_happened=TEXT)
    clock.advance(days=3)
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="closed", outcome="resolved", expected_status="new",
                           closing_message=CLOSING)
    session.commit()
    return handler, receipt, concern_id


def _keys(config, receipt):
    return services.receipt_keys(config, receipt)


def _actions(session, action):
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_closing_message_reaches_the_reporter(session, concern_config, closed):
    _, receipt, concern_id = closed
    mine = services.open_conversation(session, _keys(concern_config, receipt))
    assert [m.body for m in mine.messages][-1] == {"text": CLOSING}
    concern = session.get(Concern, concern_id)
    assert (concern.status, concern.outcome, concern.closed_on) == (
        "closed", "resolved", dt.date(2026, 3, 5))
    # A closing message is feedback, and it acknowledged the new concern.
    assert concern.first_replied_on == concern.acknowledged_on == dt.date(2026, 3, 5)


def test_closing_message_only_when_closing(session, clock, concern_config, recovery_key,
                                           make_handler):
    handler = make_handler()
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT)
    with pytest.raises(services.FieldError) as caught:
        services.change_status(session, clock, concern_config, handler.user, concern_id,
                               new_status="acknowledged", outcome=None, expected_status="new",
                               closing_message="Bye")
    assert caught.value.field == "closing_message"


def test_reporter_reply_within_the_period_reopens(session, clock, concern_config, closed):
    _, receipt, concern_id = closed
    clock.advance(days=30)  # 4 April = closed on 5 March + 30 days: the last day
    services.reporter_reply(session, clock, concern_config, _keys(concern_config, receipt),
                            text="It has started again.", seen_seq=2)
    session.commit()
    concern = session.get(Concern, concern_id)
    assert (concern.status, concern.outcome, concern.closed_on, concern.reopened_on) == (
        Status.IN_PROGRESS, None, None, dt.date(2026, 4, 4))
    entry = _actions(session, "concern.reopen")[0]
    assert (entry.actor, entry.subject, json.loads(entry.detail)) == (
        "reporter", concern_id, {"by": "reporter"})


def test_reporter_reply_after_the_period_is_refused(session, clock, concern_config, closed):
    _, receipt, concern_id = closed
    clock.advance(days=31)
    with pytest.raises(services.ConcernClosedError):
        services.reporter_reply(session, clock, concern_config, _keys(concern_config, receipt),
                                text="Too late?", seen_seq=2)
    session.rollback()
    assert session.get(Concern, concern_id).status == Status.CLOSED


def test_a_refused_reply_reopens_nothing(session, clock, concern_config, closed):
    _, receipt, concern_id = closed
    with pytest.raises(services.FieldError):
        services.reporter_reply(session, clock, concern_config, _keys(concern_config, receipt),
                                text="   ", seen_seq=2)
    session.rollback()
    assert session.get(Concern, concern_id).status == Status.CLOSED
    assert _actions(session, "concern.reopen") == []


def test_spam_is_not_reopened_by_a_reply_but_a_handler_can(session, clock, concern_config,
                                                          recovery_key, make_handler):
    handler = make_handler()
    receipt, concern_id = services.submit_concern(session, clock, concern_config,
                                                  category_id=1, what_happened="buy pills")
    services.mark_excluded(session, clock, concern_config, handler.user, concern_id,
                           reason="spam", expected_status="new")
    session.commit()
    with pytest.raises(services.ConcernClosedError):
        services.reporter_reply(session, clock, concern_config, _keys(concern_config, receipt),
                                text="more pills", seen_seq=1)
    session.rollback()
    with pytest.raises(services.ConversationMovedOnError):
        services.reopen_concern(session, clock, concern_config, handler.user, concern_id,
                                expected_status="new")
    services.reopen_concern(session, clock, concern_config, handler.user, concern_id,
                            expected_status="closed")
    session.commit()
    assert session.get(Concern, concern_id).status == Status.IN_PROGRESS
    assert _actions(session, "concern.reopen")[0].actor == handler.user.email
    with pytest.raises(services.StatusChangeError):
        services.reopen_concern(session, clock, concern_config, handler.user, concern_id,
                                expected_status="in_progress")


def test_statistics_count_a_reopened_concern_as_open(session, clock, concern_config, closed):
    _, receipt, _ = closed
    as_of = dt.date(2026, 4, 14)
    assert publication._true_counts(session, 2026, 1, as_of)["closed"] == 1
    services.reporter_reply(session, clock, concern_config, _keys(concern_config, receipt),
                            text="Not fixed.", seen_seq=2)
    session.commit()
    counts = publication._true_counts(session, 2026, 1, as_of)
    assert counts["closed"] == 0 and counts["received"] == 1


def test_reopen_days_setting():
    assert Settings.from_env({}).reopen_days == 30
    assert Settings.from_env({"SPEAKUP_REOPEN_DAYS": "10"}).reopen_days == 10


# --------------------------------------------------------------------------- pages


def test_reporter_page_offers_reopening_until_its_last_day(client, session, clock,
                                                           concern_config, recovery_key,
                                                           make_handler):
    handler = make_handler()
    receipt = receipt_from(submit(client, text=TEXT).get_data(as_text=True))
    concern_id = session.scalar(select(Concern.id))
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="closed", outcome="resolved", expected_status="new")
    session.commit()

    def check():
        token = hidden_fields(client.get("/concerns/check").get_data(as_text=True))[
            "csrf_token"]
        return client.post("/concerns/check", data={"csrf_token": token, "receipt": receipt})

    page = check().get_data(as_text=True)
    assert "reply by <strong>1 April 2026</strong>" in page
    response = client.post("/concerns/reply", data={**hidden_fields(page),
                                                    "text": "Still happening."})
    assert response.status_code == 200
    assert session.get(Concern, concern_id).status == Status.IN_PROGRESS
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="closed", outcome="resolved",
                           expected_status="in_progress")
    session.commit()
    clock.advance(days=31)
    page = check().get_data(as_text=True)
    assert "Send reply" not in page and "cannot take more replies" in page


def test_handler_closes_with_a_message_and_reopens(client, login_as, session, clock,
                                                   concern_config, recovery_key):
    login_as("handler")
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT)
    session.commit()
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    fields = {k: v for k, v in hidden_fields(page).items() if k.startswith("status-")}
    response = client.post(f"/handle/{concern_id}/status", data={
        **fields, "status-status": "closed", "status-outcome": "resolved",
        "status-closing_message": CLOSING})
    assert response.status_code == 302
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert CLOSING in page and "Reopen this concern" in page
    fields = {k: v for k, v in hidden_fields(page).items() if k.startswith("reopen-")}
    assert client.post(f"/handle/{concern_id}/reopen", data=fields).status_code == 302
    assert session.get(Concern, concern_id).status == Status.IN_PROGRESS
