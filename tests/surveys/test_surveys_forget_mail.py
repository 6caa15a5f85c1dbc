"""No address or link outlives its use: mail jobs and outbox files of a round are forgotten."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from surveys_testlib import (
    LINK_RE,
    RecordingMailer,
    addresses,
    body_of,
    make_survey,
    open_round_now,
    smtp_server,
)

from speakup.mail import OutboxMailer, SmtpConfig, SmtpMailer, build_message
from speakup.web import Services
from surveys import jobs, rounds
from surveys.invitations import send_pending_mail, token_key
from surveys.models import MailJob, Round, RoundStatus, TokenHash
from surveys.publish import publish_round

AUDIENCE = addresses(6)


def send(session_factory, mailer, settings, clock, **kwargs):
    return send_pending_mail(session_factory, mailer, settings, clock,
                             key=token_key(settings), **kwargs)


def jobs_of(session, round_id: int) -> int:
    session.expire_all()
    return session.scalar(
        select(func.count()).select_from(MailJob).where(MailJob.round_id == round_id)) or 0


def outbox_of(settings, round_id: int) -> list[str]:
    return sorted(p.name for p in settings.outbox_path.glob(f"round-{round_id}-*.eml"))


def all_outbox(settings) -> list[str]:
    return sorted(p.name for p in settings.outbox_path.iterdir())


def test_a_cli_publication_forgets_its_rounds_addresses_and_outbox_but_no_other(
    runner, session, settings, clock
):
    # Given two open rounds whose invitations went to the outbox (reminders still due,
    # so their addresses are still needed), and a message that is no round's.
    first = make_survey(session, clock, settings, AUDIENCE, title="First")
    second = make_survey(session, clock, settings, addresses(4, "other.org"), title="Second")
    round_a = rounds.add_round(session, first, clock.now())
    round_b = rounds.add_round(session, second, clock.now())
    session.commit()
    for round_ in (round_a, round_b):
        opened = runner.invoke(args=["rounds", "open", str(round_.id), "--yes"])
        assert opened.exit_code == 0, opened.output
    OutboxMailer(settings.outbox_path).send(
        build_message(settings, "handler@example.org", "Account", "not a survey's"))
    assert (jobs_of(session, round_a.id), jobs_of(session, round_b.id)) == (6, 4)
    files_a, files_b = outbox_of(settings, round_a.id), outbox_of(settings, round_b.id)
    assert (len(files_a), len(files_b)) == (6, 4)
    links_a = {LINK_RE.search((settings.outbox_path / f).read_text()).group(1)
               for f in files_a}
    assert len(links_a) == 6

    # Closing: nothing more is sent for the round, so its addresses go at once; its
    # invitations stay in the outbox until publication.
    assert runner.invoke(args=["rounds", "close", str(round_a.id), "--yes"]).exit_code == 0
    assert jobs_of(session, round_a.id) == 0
    assert outbox_of(settings, round_a.id) == files_a

    published = runner.invoke(args=["rounds", "publish", str(round_a.id), "--yes"])
    assert published.exit_code == 0, published.output
    assert "of 6 invited" in published.output
    assert outbox_of(settings, round_a.id) == []
    assert not any(link in p.read_text() for p in settings.outbox_path.iterdir()
                   for link in links_a)
    # The other round and the other mail are untouched.
    assert jobs_of(session, round_b.id) == 4
    assert outbox_of(settings, round_b.id) == files_b
    assert len(all_outbox(settings)) == len(files_b) + 1


def test_publication_itself_deletes_mail_jobs_left_on_a_closed_round(
    session, session_factory, settings, clock
):
    # Given a closed round that still has mail jobs and outbox files (closed by an
    # earlier version, or by hand in the database), next to an open round.
    survey = make_survey(session, clock, settings, AUDIENCE)
    other = make_survey(session, clock, settings, AUDIENCE, title="Other")
    closing = open_round_now(session, clock, survey, settings)
    staying = open_round_now(session, clock, other, settings)
    session.commit()
    send(session_factory, OutboxMailer(settings.outbox_path), settings, clock)
    session.execute(update(Round).where(Round.id == closing.id)
                    .values(status=RoundStatus.CLOSED.value))
    session.commit()
    session.refresh(closing)
    assert jobs_of(session, closing.id) == 6 and len(outbox_of(settings, closing.id)) == 6

    publish_round(session, closing, settings, clock)
    session.commit()

    assert jobs_of(session, closing.id) == 0
    assert outbox_of(settings, closing.id) == []
    assert session.scalar(select(func.count()).select_from(TokenHash)
                          .where(TokenHash.round_id == closing.id)) == 0
    assert jobs_of(session, staying.id) == 6 and len(outbox_of(settings, staying.id)) == 6


def test_jobs_go_once_the_last_reminder_is_out_and_reminders_reach_everyone(
    client, login_as, session, session_factory, settings, clock
):
    survey = make_survey(session, clock, settings, AUDIENCE)  # reminders after 1 and 2 days
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()

    def admin_page(sign_in: bool = True) -> str:
        if sign_in:  # anew after the clock moved past the idle timeout
            login_as("admin")
        return client.get(f"/admin/surveys/{survey.id}").get_data(as_text=True)

    with smtp_server() as server:
        def send_now():
            mailer = SmtpMailer(SmtpConfig.from_url(server.url))
            assert send(session_factory, mailer, settings, clock).error is None

        send_now()
        # Invitations out, but reminders will go to these addresses: they stay.
        assert jobs_of(session, round_.id) == 6
        assert "invitation: 6 sent" in admin_page()

        clock.set(dt.datetime.fromisoformat(round_.reminder_times[0]))
        assert rounds.queue_due_reminders(session, clock) == 6
        session.commit()
        send_now()
        assert jobs_of(session, round_.id) == 12  # the second reminder is still to come

        clock.set(dt.datetime.fromisoformat(round_.reminder_times[1]))
        assert rounds.queue_due_reminders(session, clock) == 6
        session.commit()
        send_now()

    # Every invited address got its invitation and both reminders ...
    received = sorted(m["X-Envelope-To"] for m in server.messages)
    assert received == sorted(AUDIENCE * 3)
    reminders = [m for m in server.messages if m["Subject"].startswith("Reminder")]
    assert sorted(m["X-Envelope-To"] for m in reminders) == sorted(AUDIENCE * 2)
    assert not any(LINK_RE.search(body_of(m)) for m in reminders)
    # ... and then, the round still open, nothing holds an address any more.
    assert jobs_of(session, round_.id) == 0
    session.refresh(round_)
    assert round_.status == RoundStatus.OPEN and round_.invited_count == 6
    assert rounds.queue_due_reminders(session, clock) == 0
    html = admin_page()
    assert "all sent (6 invited)" in html and "no addresses were invited" not in html

    rounds.close_round(session, round_, clock)
    session.commit()
    assert "6 invited; mail finished" in admin_page(sign_in=False)


def test_a_round_without_reminders_forgets_as_soon_as_its_invitations_are_out(
    session, session_factory, settings, clock
):
    survey = make_survey(session, clock, settings, AUDIENCE, reminder_offsets_days=[])
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()

    failing = RecordingMailer(fail_after=4)
    assert send(session_factory, failing, settings, clock).error
    assert jobs_of(session, round_.id) == 6  # two still to send: nothing forgotten

    working = RecordingMailer()
    assert send(session_factory, working, settings, clock).total_sent == 2
    assert sorted(m["To"] for m in failing.messages + working.messages) == AUDIENCE
    assert working.labels == [f"round-{round_.id}"] * 2
    assert jobs_of(session, round_.id) == 0


def test_the_purge_job_erases_outbox_files_written_after_publication(
    session, session_factory, engine, settings, clock
):
    # Given a round published while a sender still held one of its messages (written
    # to the outbox afterwards), and an open round.
    survey = make_survey(session, clock, settings, AUDIENCE)
    published = open_round_now(session, clock, survey, settings)
    live = open_round_now(session, clock, make_survey(session, clock, settings, AUDIENCE,
                                                      title="Live"), settings)
    session.commit()
    rounds.close_round(session, published, clock)
    rounds.publish(session, published, settings, clock)
    session.commit()
    outbox = OutboxMailer(settings.outbox_path)
    straggler = build_message(settings, AUDIENCE[0], "late", "/s/" + "x" * 32)
    outbox.send(straggler, label=f"round-{published.id}")
    send(session_factory, outbox, settings, clock)
    outbox.send(build_message(settings, "someone@example.org", "Account", "no round"))
    assert len(outbox_of(settings, published.id)) == 1

    svc = Services(settings=settings, engine=engine, session_factory=session_factory,
                   clock=clock, extras={})
    jobs.purge(svc)

    assert outbox_of(settings, published.id) == []
    assert len(outbox_of(settings, live.id)) == 6
    assert len(all_outbox(settings)) == 7  # the live round's and the unlabelled one
