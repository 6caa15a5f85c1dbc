"""Rounds follow the schedule on the local clock, across the spring clock change.

Europe/London moves from GMT to BST at 01:00 UTC on Sunday 29 March 2026, so
"Monday 09:00" is 09:00 UTC on 23 March and 08:00 UTC on 30 March.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from surveys_testlib import RecordingMailer, addresses, make_survey

from speakup.clock import FrozenClock, as_utc
from speakup.web import Services
from surveys import admin_services, jobs, rounds
from surveys.models import MailJob, Round, RoundStatus
from surveys.round_keys import RoundKeyFolder

LONDON = ZoneInfo("Europe/London")
AUDIENCE = addresses(4)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def svc(settings, engine, session_factory, clock, mailer) -> Services:
    return Services(settings=settings, engine=engine, session_factory=session_factory,
                    clock=clock, extras={"mailer": mailer})


def tick(svc: Services, clock: FrozenClock, moment: dt.datetime) -> None:
    clock.set(moment)
    jobs.reconcile(svc)


def survey_rounds(session, survey_id: int) -> list[Round]:
    session.expire_all()
    return list(session.scalars(
        select(Round).where(Round.survey_id == survey_id).order_by(Round.opens_at)
    ))


def subjects(mailer: RecordingMailer) -> list[str]:
    return [m["Subject"] for m in mailer.messages]


def test_rounds_open_remind_close_and_publish_at_local_times_across_dst(
    session, clock, settings, svc, mailer
):
    # Given a weekly survey whose first round's window spans the clock change
    clock.set(utc(2026, 3, 18, 12))
    survey = make_survey(session, clock, settings, AUDIENCE, open_days=6,
                         reminder_offsets_days=[1, 5])
    session.commit()

    tick(svc, clock, utc(2026, 3, 18, 12))
    first, second = survey_rounds(session, survey.id)
    assert as_utc(first.opens_at) == utc(2026, 3, 23, 9)  # 09:00 GMT
    assert as_utc(second.opens_at) == utc(2026, 3, 30, 8)  # 09:00 BST
    assert as_utc(first.closes_at) == utc(2026, 3, 29, 8)  # Sunday 09:00 BST
    assert first.reminder_times == [utc(2026, 3, 24, 9).isoformat(),
                                    utc(2026, 3, 28, 9).isoformat()]
    for round_ in (first, second):
        assert as_utc(round_.opens_at).astimezone(LONDON).hour == 9
        assert round_.status == RoundStatus.SCHEDULED

    # Opening: not a minute early, then every address invited once
    tick(svc, clock, utc(2026, 3, 23, 8, 59))
    assert survey_rounds(session, survey.id)[0].status == RoundStatus.SCHEDULED
    assert mailer.messages == []
    tick(svc, clock, utc(2026, 3, 23, 9))
    first = survey_rounds(session, survey.id)[0]
    assert first.status == RoundStatus.OPEN
    assert first.min_group_size == 3 and first.invited_count == 4
    assert sorted(m["To"] for m in mailer.messages) == AUDIENCE
    assert all("personal survey link" in s for s in subjects(mailer))
    # Planning keeps two future rounds: 30 March and 6 April (both 08:00 UTC).
    assert [as_utc(r.opens_at) for r in survey_rounds(session, survey.id)[1:]] == [
        utc(2026, 3, 30, 8), utc(2026, 4, 6, 8)]

    # Reminders at their local times, to everyone invited
    tick(svc, clock, utc(2026, 3, 24, 8, 59))
    assert len(mailer.messages) == 4
    tick(svc, clock, utc(2026, 3, 24, 9))
    reminders = mailer.messages[4:]
    assert sorted(m["To"] for m in reminders) == AUDIENCE
    assert all(s.startswith("Reminder") for s in subjects(mailer)[4:])
    tick(svc, clock, utc(2026, 3, 28, 9))
    assert len(mailer.messages) == 12

    # Closing at 09:00 BST on Sunday (after the change), then published at once
    tick(svc, clock, utc(2026, 3, 29, 7, 59))
    assert survey_rounds(session, survey.id)[0].status == RoundStatus.OPEN
    tick(svc, clock, utc(2026, 3, 29, 8))
    first = survey_rounds(session, survey.id)[0]
    assert first.status == RoundStatus.PUBLISHED
    assert first.published_on == dt.date(2026, 3, 29)

    # The next round opens at 09:00 BST, which is 08:00 UTC
    tick(svc, clock, utc(2026, 3, 30, 7, 59))
    assert survey_rounds(session, survey.id)[1].status == RoundStatus.SCHEDULED
    tick(svc, clock, utc(2026, 3, 30, 8))
    assert survey_rounds(session, survey.id)[1].status == RoundStatus.OPEN
    assert len(mailer.messages) == 16
    # Mail jobs of the published round were purged: no addresses kept for it.
    assert session.scalar(select(func.count()).select_from(MailJob)
                          .where(MailJob.round_id == first.id)) == 0


def test_a_scheduler_down_over_an_opening_catches_up_once(
    session, clock, settings, svc, mailer
):
    clock.set(utc(2026, 3, 18, 12))
    survey = make_survey(session, clock, settings, AUDIENCE)  # open 3 days, reminders 1 and 2
    session.commit()
    tick(svc, clock, utc(2026, 3, 18, 12))

    # The scheduler was down from the 18th until after the first reminder was due.
    late = utc(2026, 3, 24, 12)
    for _ in range(3):  # the reconcile job and the separate jobs all run on start-up
        tick(svc, clock, late)
        jobs.open_due(svc)
        jobs.send_mail(svc)
        jobs.remind(svc)
    first = survey_rounds(session, survey.id)[0]
    assert first.status == RoundStatus.OPEN
    assert as_utc(first.opened_at) == late
    # One invitation each, and no reminder straight after it (the passed one is skipped).
    assert sorted(m["To"] for m in mailer.messages) == AUDIENCE
    assert first.reminders_sent == 1

    tick(svc, clock, utc(2026, 3, 25, 9))  # the second reminder, on time
    tick(svc, clock, utc(2026, 3, 25, 9, 5))
    assert len(mailer.messages) == 8


def test_a_round_whose_whole_window_was_missed_is_skipped_not_opened(
    session, clock, settings, svc, mailer
):
    clock.set(utc(2026, 3, 18, 12))
    survey = make_survey(session, clock, settings, AUDIENCE)
    session.commit()
    tick(svc, clock, utc(2026, 3, 18, 12))

    # Down from the 18th to 10:00 UTC on 31 March: the 23 March round (closed 26th) was
    # missed entirely; the 30 March round is still running and opens late.
    tick(svc, clock, utc(2026, 3, 31, 10))
    remaining = survey_rounds(session, survey.id)
    assert [as_utc(r.opens_at) for r in remaining] == [
        utc(2026, 3, 30, 8), utc(2026, 4, 6, 8), utc(2026, 4, 13, 8)]
    assert remaining[0].status == RoundStatus.OPEN
    assert len(mailer.messages) == 4


def test_after_long_downtime_the_latest_running_round_is_planned_and_opened(
    session, clock, settings, svc, mailer
):
    clock.set(utc(2026, 3, 18, 12))
    survey = make_survey(session, clock, settings, AUDIENCE)
    session.commit()
    tick(svc, clock, utc(2026, 3, 18, 12))  # plans 23 and 30 March

    tick(svc, clock, utc(2026, 4, 7, 10))  # 6 April's round (to 9 April) is running
    remaining = survey_rounds(session, survey.id)
    assert remaining[0].status == RoundStatus.OPEN
    assert as_utc(remaining[0].opens_at) == utc(2026, 4, 6, 8)
    assert all(r.status == RoundStatus.SCHEDULED for r in remaining[1:])
    assert len(mailer.messages) == 4


def test_transitions_are_idempotent(session, clock, settings):
    survey = make_survey(session, clock, settings, AUDIENCE)
    round_ = rounds.add_round(session, survey, clock.now())
    assert rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings)) is True
    assert rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings)) is False
    assert session.scalar(select(func.count()).select_from(MailJob)) == 4
    clock.advance(days=3)
    assert rounds.close_due_rounds(session, clock) == [round_]
    assert rounds.close_due_rounds(session, clock) == []
    assert rounds.close_round(session, round_, clock) is False
    with pytest.raises(rounds.RoundError):
        rounds.close_round(session, round_, clock, actor="someone")


def test_pausing_a_survey_drops_its_planned_rounds(session, clock, settings):
    survey = make_survey(session, clock, settings, AUDIENCE)
    assert len(rounds.plan_survey_rounds(session, survey, clock)) == 2
    spec = admin_services.check_spec({**admin_services.export_spec(survey), "active": False},
                                     settings, now=clock.now())
    admin_services.update_survey(session, clock, survey, spec, actor="test")
    assert rounds.plan_survey_rounds(session, survey, clock) == []
    assert survey_rounds(session, survey.id) == []
