"""Invitations through a real SMTP server: one each, unlinkable, resumable."""

from __future__ import annotations

import datetime as dt
import re
import socket

import pytest
from sqlalchemy import func, select, update
from surveys_testlib import (
    LINK_RE,
    RecordingMailer,
    addresses,
    body_of,
    every_row,
    make_survey,
    open_round_now,
    row_text,
    smtp_server,
)

from speakup.mail import (
    MailError,
    OutboxMailer,
    SmtpConfig,
    SmtpMailer,
    build_message,
    make_mailer,
)
from speakup.settings import Settings, SettingsError
from surveys import rounds
from surveys.invitations import STALE_CLAIM, hash_token, send_pending_mail, token_key
from surveys.models import MailJob, MailStatus, Round, TokenHash
from surveys.responses import LinkState, look_up

AUDIENCE = addresses(25)


def send(session_factory, mailer, settings, clock, **kwargs):
    return send_pending_mail(session_factory, mailer, settings, clock,
                             key=token_key(settings), **kwargs)


def statuses(session) -> dict[str, int]:
    session.expire_all()
    return dict(session.execute(
        select(MailJob.status, func.count()).group_by(MailJob.status)
    ).all())


def test_every_address_gets_exactly_one_invitation_and_nothing_links_it_to_its_token(
    session, session_factory, settings, clock
):
    survey = make_survey(session, clock, settings, AUDIENCE)
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()

    with smtp_server() as server:
        mailer = SmtpMailer(SmtpConfig.from_url(server.url))
        report = send(session_factory, mailer, settings, clock)
        assert report.total_sent == len(AUDIENCE) and report.error is None

        # One invitation per address, each with its own working link.
        recipients = sorted(m["X-Envelope-To"] for m in server.messages)
        assert recipients == AUDIENCE
        tokens = {}
        for message in server.messages:
            # The link, and the same link for the page in the other language.
            found = LINK_RE.findall(body_of(message))
            assert len(found) == 2 and len(set(found)) == 1
            tokens[message["X-Envelope-To"]] = found[0]
        assert len(set(tokens.values())) == len(AUDIENCE)
        key = token_key(settings)
        for token in tokens.values():
            assert look_up(session, key, token).state is LinkState.OPEN
        body = body_of(server.messages[0])
        assert f"{settings.base_url}/s/" in body and "at least 3 people" in body

        # Reminders go to everyone invited, carry no link and thank those who answered.
        clock.set(dt.datetime.fromisoformat(round_.reminder_times[0]))
        assert rounds.queue_due_reminders(session, clock) == len(AUDIENCE)
        session.commit()
        send(session_factory, SmtpMailer(SmtpConfig.from_url(server.url)), settings, clock)
        reminders = server.messages[len(AUDIENCE):]
        assert sorted(m["X-Envelope-To"] for m in reminders) == AUDIENCE
        for message in reminders:
            text = body_of(message)
            assert "If you have already answered" in text and "thank you" in text
            assert not LINK_RE.search(text)

    # No stored row holds a token, and none holds an address next to a token hash.
    hashes = {hash_token(key, t).hex() for t in tokens.values()}
    session.expire_all()
    assert {bytes(h).hex() for h in session.scalars(select(TokenHash.token_hash))} == hashes
    for table, row in every_row(session):
        text = row_text(row)
        assert not any(token in text for token in tokens.values()), table
        if any(address in text.lower() for address in AUDIENCE):
            assert not any(h in text for h in hashes), table
    assert set(MailJob.__table__.columns.keys()) == {
        "id", "round_id", "kind", "email", "language", "status", "claimed_at"}
    assert set(TokenHash.__table__.columns.keys()) == {"token_hash", "round_id", "used"}


def test_sending_resumes_after_the_mail_server_fails(session, session_factory, settings, clock):
    survey = make_survey(session, clock, settings, AUDIENCE)
    open_round_now(session, clock, survey, settings)
    session.commit()

    failing = RecordingMailer(fail_after=7)
    report = send(session_factory, failing, settings, clock)
    assert report.error and report.total_sent == 7
    assert statuses(session) == {"sent": 7, "pending": 18}
    # Tokens made for the unsent messages were dropped: only the 7 sent links exist.
    assert session.scalar(select(func.count()).select_from(TokenHash)) == 7

    working = RecordingMailer()
    send(session_factory, working, settings, clock)
    everyone = [m["To"] for m in failing.messages + working.messages]
    assert sorted(everyone) == AUDIENCE  # nobody twice, nobody skipped
    assert statuses(session) == {"sent": 25}
    assert session.scalar(select(func.count()).select_from(TokenHash)) == 25
    assert send(session_factory, RecordingMailer(), settings, clock).total_sent == 0


class Killed(BaseException):
    """Stands for the process dying mid-send (not an error the sender can handle)."""


class DiesAfter(RecordingMailer):
    def send(self, message, *, label=None):  # type: ignore[no-untyped-def]
        if len(self.messages) >= 5:
            raise Killed
        super().send(message, label=label)


def test_a_crashed_sender_leaves_one_uncertain_message_that_is_retried_later(
    session, session_factory, settings, clock
):
    survey = make_survey(session, clock, settings, AUDIENCE)
    open_round_now(session, clock, survey, settings)
    session.commit()

    dying = DiesAfter()
    with pytest.raises(Killed):
        send(session_factory, dying, settings, clock)
    assert statuses(session) == {"sent": 5, "sending": 1, "pending": 19}

    # Restarted at once: the pending ones go, the claimed one waits (it may be in flight).
    restarted = RecordingMailer()
    send(session_factory, restarted, settings, clock)
    assert statuses(session) == {"sent": 24, "sending": 1}
    # Once its claim is stale it is sent: here it never reached the server, so
    # every address ends up with exactly one invitation.
    clock.advance(seconds=STALE_CLAIM.total_seconds() + 1)
    later = RecordingMailer()
    report = send(session_factory, later, settings, clock)
    assert report.requeued_stale == 1 and report.total_sent == 1
    everyone = [m["To"] for m in dying.messages + restarted.messages + later.messages]
    assert sorted(everyone) == AUDIENCE


def test_mail_for_a_closed_round_is_not_sent(session, session_factory, settings, clock):
    survey = make_survey(session, clock, settings, AUDIENCE)
    round_ = open_round_now(session, clock, survey, settings)
    assert statuses(session) == {"pending": 25}
    rounds.close_round(session, round_, clock)
    session.commit()
    assert send(session_factory, RecordingMailer(), settings, clock).total_sent == 0
    # Closing cancelled the unsent invitations and forgot their addresses at once.
    assert statuses(session) == {}
    assert session.get(Round, round_.id).invited_count == 25


def test_outbox_is_used_without_smtp_url(session, session_factory, settings, clock):
    mailer = make_mailer(settings)
    assert isinstance(mailer, OutboxMailer)
    survey = make_survey(session, clock, settings, AUDIENCE[:3])
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()
    send(session_factory, mailer, settings, clock)
    files = sorted(settings.outbox_path.glob("*.eml"))
    assert len(files) == 3
    # The round, then random: not times or addresses.
    assert all(re.fullmatch(rf"round-{round_.id}-[0-9a-f]{{24}}", f.stem) for f in files)
    assert all(LINK_RE.search(f.read_text()) for f in files)


def test_smtp_url_parsing_and_unreachable_server():
    cfg = SmtpConfig.from_url("smtp://user%40org:p%3Ass@mail.example.org:587?starttls=1")
    assert (cfg.host, cfg.port, cfg.username, cfg.password, cfg.starttls) == (
        "mail.example.org", 587, "user@org", "p:ss", True)
    assert SmtpConfig.from_url("smtps://mail.example.org").port == 465
    with pytest.raises(SettingsError):
        SmtpConfig.from_url("http://mail.example.org")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mailer = SmtpMailer(SmtpConfig.from_url(f"smtp://127.0.0.1:{port}?timeout=2"))
    with pytest.raises(MailError):
        mailer.send(build_message(Settings(), "a@example.org", "hi", "body"))


def test_a_stale_claim_is_only_requeued_after_the_timeout(session, session_factory, settings,
                                                          clock):
    survey = make_survey(session, clock, settings, AUDIENCE[:2])
    open_round_now(session, clock, survey, settings)
    session.execute(update(MailJob).values(status=MailStatus.SENDING.value,
                                           claimed_at=clock.now()))
    session.commit()
    assert send(session_factory, RecordingMailer(), settings, clock).total_sent == 0
    clock.advance(seconds=STALE_CLAIM.total_seconds() + 1)
    assert send(session_factory, RecordingMailer(), settings, clock).total_sent == 2
