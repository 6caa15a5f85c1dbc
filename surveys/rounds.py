"""Rounds: `scheduled → open → closed → published`, moved only by conditional updates.

The database holds each round's times and is the source of truth. Every function
here is an idempotent step (`UPDATE … WHERE id = :id AND status = :expected`): run
twice, late, or from two processes at once, it moves each round once. The
scheduler's jobs and the admin's buttons and commands all call these.

Catching up after downtime: a round whose opening was missed but whose window is
still running opens late, once (reminders already past are skipped, never sent in
a burst); a round whose whole window was missed is dropped, not opened.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import Clock, as_utc
from speakup.settings import MIN_GROUP_SIZE_FLOOR, Settings
from speakup.translatable import N_, TranslatableError
from surveys.admin_services import SurveySpec
from surveys.audience import audience_size
from surveys.invitations import (
    INVITATION,
    REMINDER_PREFIX,
    forget_finished_mail,
    mail_progress,
)
from surveys.models import (
    AudienceMember,
    MailJob,
    MailStatus,
    Response,
    Round,
    RoundStatus,
    Survey,
)
from surveys.naming import day
from surveys.protection import DEFAULT_PROTECTION
from surveys.publish import publish_round, store_round
from surveys.published import PublishedRound, published_round
from surveys.round_keys import RoundKeyFolder
from surveys.schedule import RoundTimes, ScheduleError, parse_schedule, round_window

log = logging.getLogger("surveys.rounds")

# How many future rounds each active survey keeps planned (shown to admins ahead).
PLAN_AHEAD = 2


class RoundError(TranslatableError, ValueError):
    """A round cannot make the requested move; the message says why, for an admin."""


def _utc(clock: Clock) -> dt.datetime:
    return clock.now().astimezone(dt.UTC)


def _times(round_: Round) -> list[dt.datetime]:
    return [as_utc(dt.datetime.fromisoformat(t)) for t in round_.reminder_times or []]


def _audit(session: Session, clock: Clock, actor: str | None, action: str, round_: Round,
           **detail: object) -> None:
    if actor is not None:
        audit.record(session, clock, actor=actor, action=action,
                     subject=f"round {round_.id}", detail={"survey": round_.survey_id, **detail})


# --- planning -------------------------------------------------------------------------


def add_round(session: Session, survey: Survey, opens_at: dt.datetime) -> Round:
    """Plan one round of a survey opening at `opens_at` (window and reminders from the survey)."""
    times = round_window(opens_at, survey.open_days, list(survey.reminder_offsets_days or []),
                         survey.timezone)
    round_ = Round(
        survey_id=survey.id,
        status=RoundStatus.SCHEDULED.value,
        opens_at=times.opens_at,
        closes_at=times.closes_at,
        reminder_times=[t.isoformat() for t in times.reminders],
        reminders_sent=0,
        invited_count=0,
        raw_deleted=False,
    )
    session.add(round_)
    session.flush()
    return round_


def plan_survey_rounds(
    session: Session, survey: Survey, clock: Clock, ahead: int = PLAN_AHEAD
) -> list[Round]:
    """Make sure the survey's next `ahead` openings exist as scheduled rounds; return new ones.

    Planning continues from the latest round already planned (never before it). Of
    the openings that have already passed, only the latest whose window is still
    running is planned (it opens late, once); the others are skipped.
    """
    if not survey.active:
        return []
    # Two planners (a job and a manual action) must not both add the same opening.
    session.execute(select(Survey.id).where(Survey.id == survey.id).with_for_update())
    now = _utc(clock)
    try:
        schedule = parse_schedule(survey.schedule, survey.timezone)
    except ScheduleError:
        log.exception("Survey %s has a schedule that no longer parses.", survey.id)
        return []
    latest = session.scalar(select(func.max(Round.opens_at)).where(Round.survey_id == survey.id))
    anchor = as_utc(latest) if latest is not None else now
    future = session.scalar(
        select(func.count()).select_from(Round)
        .where(Round.survey_id == survey.id, Round.opens_at > now)
    ) or 0
    created: list[Round] = []
    moment = anchor
    missed: dt.datetime | None = None
    while future < ahead:
        moment = schedule.next_after(moment)
        if moment <= now:
            missed = moment  # keep only the latest passed opening
            continue
        if missed is not None:
            times = round_window(missed, survey.open_days,
                                 list(survey.reminder_offsets_days or []), survey.timezone)
            if times.closes_at > now:
                created.append(add_round(session, survey, missed))
            missed = None
        created.append(add_round(session, survey, moment))
        future += 1
    return created


def plan_rounds(session: Session, clock: Clock, ahead: int = PLAN_AHEAD) -> list[Round]:
    """Plan upcoming rounds for every active survey."""
    created: list[Round] = []
    for survey in session.scalars(select(Survey).where(Survey.active.is_(True))):
        created.extend(plan_survey_rounds(session, survey, clock, ahead))
    return created


# --- opening --------------------------------------------------------------------------


def open_round(
    session: Session, round_: Round, clock: Clock, *, keys: RoundKeyFolder,
    actor: str | None = None,
) -> bool:
    """Open a scheduled round now: freeze k, make its key pair, queue one invitation per address.

    The round's private key is written to `keys` (a file outside the database) and its
    public key stored on the row, which every web host seals answers to
    (:mod:`surveys.round_keys`).

    Returns False (and does nothing) if the round was not scheduled any more.
    `actor` marks a manual opening, which is audited; a manual opening may come
    before the planned time but not after the round's window has ended.
    """
    now = _utc(clock)
    survey = session.get(Survey, round_.survey_id)
    assert survey is not None
    if round_.status != RoundStatus.SCHEDULED:
        if actor is not None:
            raise RoundError(N_("Round %(round)s is %(status)s; only a scheduled round opens."),
                             round=round_.id, status=round_.status)
        return False
    if as_utc(round_.closes_at) <= now:
        ended = as_utc(round_.closes_at)
        raise RoundError(N_("Round %(round)s's window ended on %(ended)s."), round=round_.id,
                         ended=f"{ended:%d %B %Y}")
    if actor is not None and audience_size(session, survey.id) == 0:
        raise RoundError(N_("This survey has no audience yet: upload the staff addresses first."))
    if actor is not None and (other := other_open_round(session, round_)) is not None:
        raise RoundError(N_("Another round of this survey is still open (it closes "
                            "%(closes)s): close it first, so nobody is invited twice."),
                         closes=local_time(other.closes_at, survey.timezone))
    k = max(survey.min_group_size, MIN_GROUP_SIZE_FLOOR)
    times = times_if_opened(round_, survey, clock)
    # Reminders whose time has already passed (a late opening) are skipped, not bunched.
    passed = sum(1 for t in times.reminders if t <= now)
    # The key file exists before the row names its public key; a process that loses
    # the race below destroys its own file (the file name carries the key's fingerprint).
    new_key = keys.create(round_.id)
    try:
        moved = session.execute(
            update(Round)
            .where(Round.id == round_.id, Round.status == RoundStatus.SCHEDULED.value)
            .values(status=RoundStatus.OPEN.value, min_group_size=k, opened_at=now,
                    protection=survey.protection or DEFAULT_PROTECTION,
                    reminders_sent=passed, closes_at=times.closes_at,
                    reminder_times=[t.isoformat() for t in times.reminders],
                    public_key=new_key.public_key)
            .execution_options(synchronize_session=False)
        ).rowcount
    except BaseException:
        new_key.discard()
        raise
    if not moved:
        new_key.discard()
        session.refresh(round_)
        return False
    session.execute(
        insert(MailJob).from_select(
            ["round_id", "kind", "email", "language", "status"],
            select(literal(round_.id), literal(INVITATION), AudienceMember.email,
                   AudienceMember.language, literal(MailStatus.PENDING.value))
            .where(AudienceMember.survey_id == survey.id),
        )
    )
    invited = session.scalar(
        select(func.count()).select_from(MailJob)
        .where(MailJob.round_id == round_.id, MailJob.kind == INVITATION)
    ) or 0
    session.execute(update(Round).where(Round.id == round_.id).values(invited_count=invited)
                    .execution_options(synchronize_session=False))
    session.refresh(round_)
    if invited == 0:
        log.warning("Round %s of survey %s opened with no audience to invite.",
                    round_.id, survey.id)
    log.info("Round %s of survey %s opened; %d invitation(s) queued.", round_.id, survey.id,
             invited)
    _audit(session, clock, actor, "survey.round.open", round_, invited=invited, k=k)
    return True


def other_open_round(session: Session, round_: Round) -> Round | None:
    """Another round of the same survey that is open now, if any."""
    return session.scalars(select(Round).where(
        Round.survey_id == round_.survey_id, Round.id != round_.id,
        Round.status == RoundStatus.OPEN.value)).first()


def times_if_opened(round_: Round, survey: Survey, clock: Clock) -> RoundTimes:
    """The window a round gets if it opens now.

    Opened early (by hand), its close date and reminders move with it, so respondents
    get the whole window and reminders keep their spacing; opened late (after
    downtime), it keeps its planned times. `opens_at` itself never moves: the
    schedule is anchored on it.
    """
    now = _utc(clock)
    if now < as_utc(round_.opens_at):
        # Every planned time moves by the same interval as the opening (issue 21): the
        # window and the reminders keep exactly the lengths the schedule planned, and the
        # page, the round and the e-mails all read these times.
        early = as_utc(round_.opens_at) - now
        return RoundTimes(now, as_utc(round_.closes_at) - early,
                          [t - early for t in _times(round_)])
    return RoundTimes(as_utc(round_.opens_at), as_utc(round_.closes_at), _times(round_))


def open_due_rounds(session: Session, clock: Clock, keys: RoundKeyFolder) -> list[Round]:
    """Open every scheduled round whose time has come; drop those whose window was missed."""
    now = _utc(clock)
    due = session.scalars(
        select(Round)
        .where(Round.status == RoundStatus.SCHEDULED.value, Round.opens_at <= now)
        .order_by(Round.opens_at)
    ).all()
    opened = []
    for round_ in due:
        if as_utc(round_.closes_at) <= now:
            log.warning("Round %s of survey %s was due to open and close while no scheduler "
                        "ran; it is skipped.", round_.id, round_.survey_id)
            # Plan on from this round before it goes, so a later opening whose window is
            # still running is not lost with it.
            survey = session.get(Survey, round_.survey_id)
            if survey is not None:
                plan_survey_rounds(session, survey, clock)
            session.execute(delete(Round).where(Round.id == round_.id,
                                                Round.status == RoundStatus.SCHEDULED.value))
            continue
        if open_round(session, round_, clock, keys=keys):
            opened.append(round_)
    return opened


# --- reminders ------------------------------------------------------------------------


def queue_due_reminders(session: Session, clock: Clock) -> int:
    """Queue a reminder to every invited address of open rounds whose reminder is due.

    After downtime only the latest due reminder is sent: nobody gets two at once.
    Returns how many reminder e-mails were queued.
    """
    now = _utc(clock)
    queued = 0
    for round_ in session.scalars(select(Round).where(Round.status == RoundStatus.OPEN.value)):
        due = sum(1 for t in _times(round_) if t <= now)
        if due <= round_.reminders_sent:
            continue
        moved = session.execute(
            update(Round)
            .where(Round.id == round_.id, Round.status == RoundStatus.OPEN.value,
                   Round.reminders_sent == round_.reminders_sent)
            .values(reminders_sent=due)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not moved:
            continue
        kind = f"{REMINDER_PREFIX}{due}"
        session.execute(
            insert(MailJob).from_select(
                ["round_id", "kind", "email", "language", "status"],
                select(literal(round_.id), literal(kind), MailJob.email, MailJob.language,
                       literal(MailStatus.PENDING.value))
                .where(MailJob.round_id == round_.id, MailJob.kind == INVITATION,
                       MailJob.status != MailStatus.CANCELLED.value),
            )
        )
        # Counted, not taken from rowcount: drivers differ on INSERT … SELECT.
        queued += session.scalar(
            select(func.count()).select_from(MailJob)
            .where(MailJob.round_id == round_.id, MailJob.kind == kind)
        ) or 0
        session.refresh(round_)
        log.info("Round %s: reminder %d queued.", round_.id, due)
    return queued


# --- closing and publishing -----------------------------------------------------------


def close_round(session: Session, round_: Round, clock: Clock, *,
                actor: str | None = None) -> bool:
    """Close an open round now; unsent mail is cancelled and its addresses forgotten.

    Returns False if the round was not open.
    """
    now = _utc(clock)
    moved = session.execute(
        update(Round)
        .where(Round.id == round_.id, Round.status == RoundStatus.OPEN.value)
        .values(status=RoundStatus.CLOSED.value, closed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(round_)
    if not moved:
        if actor is not None:
            raise RoundError(N_("Round %(round)s is %(status)s; only an open round closes."),
                             round=round_.id, status=round_.status)
        return False
    session.execute(
        update(MailJob)
        .where(MailJob.round_id == round_.id, MailJob.status == MailStatus.PENDING.value)
        .values(status=MailStatus.CANCELLED.value)
    )
    # Nothing more is sent for a closed round: its addresses have served their purpose.
    forget_finished_mail(session, round_.id)
    log.info("Round %s of survey %s closed.", round_.id, round_.survey_id)
    _audit(session, clock, actor, "survey.round.close", round_)
    return True


def close_due_rounds(session: Session, clock: Clock) -> list[Round]:
    now = _utc(clock)
    due = session.scalars(
        select(Round).where(Round.status == RoundStatus.OPEN.value, Round.closes_at <= now)
    ).all()
    return [r for r in due if close_round(session, r, clock)]


def closed_round_ids(session: Session) -> list[int]:
    return list(session.scalars(
        select(Round.id).where(Round.status == RoundStatus.CLOSED.value).order_by(Round.id)
    ))


def publish(session: Session, round_: Round, settings: Settings, clock: Clock, *,
            actor: str | None = None) -> PublishedRound:
    """Publish a closed round through surveys.publish (aggregates, then raw rows deleted)."""
    if round_.status not in (RoundStatus.CLOSED, RoundStatus.PUBLISHED):
        raise RoundError(N_("Round %(round)s is %(status)s; close it before publishing."),
                         round=round_.id, status=round_.status)
    already = round_.status == RoundStatus.PUBLISHED
    result = publish_round(session, round_, settings, clock)
    session.refresh(round_)
    if not already:
        log.info("Round %s of survey %s published.", round_.id, round_.survey_id)
        _audit(session, clock, actor, "survey.round.publish", round_)
    return result


def store_publication(session: Session, round_: Round, published: PublishedRound,
                      settings: Settings, clock: Clock, *, actor: str | None = None
                      ) -> PublishedRound:
    """Store a publication decided beforehand (surveys.publication_jobs); audited as publish."""
    if round_.status not in (RoundStatus.CLOSED, RoundStatus.PUBLISHED):
        raise RoundError(N_("Round %(round)s is %(status)s; close it before publishing."),
                         round=round_.id, status=round_.status)
    already = round_.status == RoundStatus.PUBLISHED
    result = store_round(session, round_, published, settings)
    session.refresh(round_)
    if not already:
        log.info("Round %s of survey %s published.", round_.id, round_.survey_id)
        _audit(session, clock, actor, "survey.round.publish", round_)
    return result


def purge_mail_jobs(session: Session) -> int:
    """Forget the addresses mailed for published rounds (their counts stay on the round)."""
    published = select(Round.id).where(Round.status == RoundStatus.PUBLISHED.value)
    return int(session.execute(
        delete(MailJob).where(MailJob.round_id.in_(published))
    ).rowcount or 0)


# --- what admins see ------------------------------------------------------------------


@dataclass(frozen=True)
class LiveResponses:
    """A round's response count and rate, shown only once at least k have answered."""

    k: int
    invited: int
    responses: int | None  # None: fewer than k so far (or nothing to count)
    rate: float | None

    @property
    def shown(self) -> bool:
        return self.responses is not None


def live_responses(session: Session, round_: Round) -> LiveResponses:
    """Overall count and rate only, and only at k or more (DESIGN.md rule 5)."""
    survey = session.get(Survey, round_.survey_id)
    assert survey is not None
    k = round_.min_group_size or survey.min_group_size
    invited = round_.invited_count or 0
    if round_.status == RoundStatus.PUBLISHED:
        result = published_round(session, round_.id)
        count = result.responses if result is not None else None
    elif round_.status in (RoundStatus.OPEN, RoundStatus.CLOSED):
        count = int(session.scalar(
            select(func.count()).select_from(Response).where(Response.round_id == round_.id)
        ) or 0)
    else:
        count = None
    if count is None or count < k:
        return LiveResponses(k, invited, None, None)
    return LiveResponses(k, invited, count, count / invited if invited else None)


@dataclass(frozen=True)
class RoundOverview:
    round: Round
    label: str
    opens: str
    closes: str
    reminders: list[str]
    live: LiveResponses
    mail: dict[str, dict[str, int]]


def local_time(moment: dt.datetime, tz: str) -> str:
    local = as_utc(moment).astimezone(ZoneInfo(tz))
    return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"


def round_overviews(session: Session, survey: Survey) -> list[RoundOverview]:
    """Every round of a survey, newest first, named as `round_label` names them."""
    rounds = session.scalars(
        select(Round).where(Round.survey_id == survey.id).order_by(Round.opens_at.desc())
    ).all()
    return [
        RoundOverview(
            round=r,
            label=f"Round {number} · {day(r.opened_at or r.opens_at, survey.timezone)}",
            opens=local_time(r.opened_at or r.opens_at, survey.timezone),
            closes=local_time(r.closed_at or r.closes_at, survey.timezone),
            # A round closed early sent no reminders after it closed: list only the real ones.
            reminders=[local_time(t, survey.timezone) for t in _times(r)
                       if r.closed_at is None or t <= as_utc(r.closed_at)],
            live=live_responses(session, r),
            mail=mail_progress(session, r.id),
        )
        for number, r in zip(range(len(rounds), 0, -1), rounds, strict=True)
    ]


@dataclass(frozen=True)
class PlannedWindow:
    opens: str
    closes: str
    reminders: list[str]


@dataclass(frozen=True)
class SchedulePreview:
    """The schedule in plain English and its next few rounds, in the survey's local time."""

    description: str
    upcoming: list[PlannedWindow]


def preview_schedule(spec: SurveySpec, clock: Clock, count: int = 3) -> SchedulePreview:
    schedule = parse_schedule(spec.schedule, spec.timezone)
    upcoming = []
    moment = _utc(clock)
    for _ in range(count):
        moment = schedule.next_after(moment)
        times = round_window(moment, spec.open_days, spec.reminder_offsets_days, spec.timezone)
        upcoming.append(PlannedWindow(
            opens=local_time(times.opens_at, spec.timezone),
            closes=local_time(times.closes_at, spec.timezone),
            reminders=[local_time(t, spec.timezone) for t in times.reminders],
        ))
    return SchedulePreview(schedule.describe(), upcoming)


def describe_schedule(survey: Survey) -> str:
    try:
        return parse_schedule(survey.schedule, survey.timezone).describe()
    except ScheduleError as exc:
        return f"This schedule no longer works: {exc}"
