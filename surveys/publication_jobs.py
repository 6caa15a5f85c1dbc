"""Publish a round in the background: the admin's "Publish" queues a job the scheduler runs.

Deciding what can be shown safely (the outsiders' and insiders' audits) can take
minutes for a large round, longer than a web request may last. So the admin's
request only adds a `publication_jobs` row and the scheduler's
``surveys.publication-jobs`` tick (every minute, in `speakup scheduler` or inside
`make run`'s server) runs it:

1. claim the job (``queued → running``, a conditional update);
2. read and count the answers in a transaction that only reads;
3. decide disclosure outside any transaction, reporting each audit round to the job
   row and stopping once ``SPEAKUP_PUBLISH_TIME_LIMIT`` minutes have passed
   (surveys.publication_progress);
4. store the publication, delete the raw answers, audit and mark the job published,
   all in one transaction: a crash before it commits leaves nothing half-written.

Only one publication of a round is under way at a time: the row's `active_round_id`
is unique (the database refuses a second, whatever process asks). A running job
renews `heartbeat_at`; one whose heartbeat stopped (the scheduler was killed) is
marked failed, so the page offers a retry instead of "running" for ever.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import Clock, as_utc
from speakup.db import read_only_session
from speakup.translatable import N_, Nn_, Translatable, TranslatableError, packed, unpacked
from speakup.web import Services
from surveys import rounds
from surveys.models import PublicationJob, PublicationStatus, Round, RoundStatus, Survey
from surveys.naming import round_label
from surveys.publication_progress import INSIDER_STEP, OUTSIDER_STEP, PublicationTimeout, watch
from surveys.publish import PublicationError, decide_round, read_round
from surveys.published import PublishedRound

log = logging.getLogger("surveys.publication_jobs")

# A running job renews its heartbeat this often; one silent for STALE_AFTER has died.
HEARTBEAT_SECONDS = 30
STALE_AFTER = dt.timedelta(seconds=4 * HEARTBEAT_SECONDS)

READING = "reading"
STORING = "storing"
ACTIVE = (PublicationStatus.QUEUED.value, PublicationStatus.RUNNING.value)
STALE_ERROR = N_("The publication stopped before it finished (the scheduler process was "
                 "stopped or crashed). Nothing was published and the raw answers are "
                 "untouched; you can try again.")
BUSY_MESSAGE = N_("This round is already being published (Publish was pressed a moment "
                  "ago): its progress is shown here. It was not started a second time.")
UNEXPECTED_ERROR = N_("The publication failed because of an unexpected error (the server "
                      "log has the details). Nothing was published and the raw answers are "
                      "untouched; you can try again.")
TIMED_OUT = Nn_("Stopped after %(num)s minute: checking what can be shown safely took longer "
                "than the time limit (SPEAKUP_PUBLISH_TIME_LIMIT). Nothing was published and "
                "the raw answers are untouched. Ask your operator to raise the limit, then try "
                "again.",
                "Stopped after %(num)s minutes: checking what can be shown safely took longer "
                "than the time limit (SPEAKUP_PUBLISH_TIME_LIMIT). Nothing was published and "
                "the raw answers are untouched. Ask your operator to raise the limit, then try "
                "again.")
REFUSED = N_("%(cause)s Nothing was published; the raw answers are untouched.")


class PublicationBusy(TranslatableError):
    """A publication of this round is already queued or running."""


def _now(clock: Clock) -> dt.datetime:
    return clock.now().astimezone(dt.UTC)


# --- asking -----------------------------------------------------------------------------


def active_job(session: Session, round_id: int) -> PublicationJob | None:
    return session.scalars(select(PublicationJob).where(
        PublicationJob.active_round_id == round_id)).first()


def request_publication(session: Session, round_: Round, clock: Clock, *,
                        actor: str) -> PublicationJob:
    """Queue the round's publication for the scheduler; audited. Never commits.

    Raises PublicationBusy if one is already under way, RoundError if the round is
    not closed.
    """
    fail_stale_jobs(session, clock)
    if round_.status != RoundStatus.CLOSED:
        raise rounds.RoundError(N_("Round %(round)s is %(status)s; only a closed round can be "
                                   "published."), round=round_.id, status=round_.status)
    if active_job(session, round_.id) is not None:
        raise PublicationBusy(BUSY_MESSAGE)
    job = PublicationJob(round_id=round_.id, active_round_id=round_.id,
                         status=PublicationStatus.QUEUED.value, step="",
                         requested_by=actor, requested_at=_now(clock))
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        # Another request inserted its job between our check and our insert.
        raise PublicationBusy(BUSY_MESSAGE) from None
    audit.record(session, clock, actor=actor, action="survey.round.publish.request",
                 subject=f"round {round_.id}", detail={"survey": round_.survey_id,
                                                       "job": job.id})
    return job




# --- running ----------------------------------------------------------------------------


def fail_stale_jobs(session: Session, clock: Clock) -> int:
    """Mark running jobs whose heartbeat stopped as failed (audited); return how many.

    Never commits.
    """
    now = _now(clock)
    stale = session.execute(
        select(PublicationJob.id, PublicationJob.round_id, PublicationJob.requested_by)
        .where(PublicationJob.status == PublicationStatus.RUNNING.value,
               PublicationJob.heartbeat_at < now - STALE_AFTER)
    ).all()
    failed = 0
    for job_id, round_id, actor in stale:
        # Conditional: a heartbeat may have come in since the SELECT.
        moved = session.execute(
            update(PublicationJob)
            .where(PublicationJob.id == job_id,
                   PublicationJob.status == PublicationStatus.RUNNING.value,
                   PublicationJob.heartbeat_at < now - STALE_AFTER)
            .values(status=PublicationStatus.FAILED.value, active_round_id=None,
                    finished_at=now, error=packed(Translatable(STALE_ERROR)))
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved:
            audit.record(session, clock, actor=actor, action="survey.round.publish.failed",
                         subject=f"round {round_id}", detail={"job": job_id,
                                                              "error": STALE_ERROR})
            failed += 1
    return failed


def run_publications(svc: Services) -> int:
    """The scheduler's tick: fail dead jobs, then run every queued one; return how many ran."""
    with svc.session_factory() as session:
        if fail_stale_jobs(session, svc.clock):
            log.warning("A publication job stopped without finishing; it is marked failed.")
        session.commit()
        queued = list(session.scalars(
            select(PublicationJob.id)
            .where(PublicationJob.status == PublicationStatus.QUEUED.value)
            .order_by(PublicationJob.id)))
    return sum(1 for job_id in queued if run_publication(svc, job_id) is not None)


def run_publication(svc: Services, job_id: int, *,
                    heartbeat_seconds: float | None = HEARTBEAT_SECONDS) -> str | None:
    """Run one queued job to its end; return its final status (None: not ours to run)."""
    clock, settings = svc.clock, svc.settings
    with svc.session_factory() as session:
        claimed = session.execute(
            update(PublicationJob)
            .where(PublicationJob.id == job_id,
                   PublicationJob.status == PublicationStatus.QUEUED.value)
            .values(status=PublicationStatus.RUNNING.value, step=READING,
                    started_at=_now(clock), heartbeat_at=_now(clock))
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        job = session.get(PublicationJob, job_id, populate_existing=True)
        if not claimed or job is None:
            return None
        round_id, actor = job.round_id, job.requested_by
    limit = settings.publish_time_limit_minutes
    deadline = _now(clock) + dt.timedelta(minutes=limit)
    heartbeat = _Heartbeat(svc, job_id, heartbeat_seconds)
    try:
        with watch(clock, deadline, lambda step: _set_step(svc, job_id, step)) as check:
            with read_only_session(svc.session_factory) as reader:
                round_ = reader.get(Round, round_id)
                if round_ is None:
                    raise PublicationError(N_("This round no longer exists."))
                reading = None
                if round_.status == RoundStatus.CLOSED:
                    reading = read_round(reader, round_, settings)
                elif round_.status != RoundStatus.PUBLISHED:
                    raise PublicationError(N_("Round %(round)s is %(status)s: only a closed "
                                              "round can be published."),
                                           round=round_id, status=round_.status)
            check()
            published = decide_round(reading, clock.today()) if reading else None
        _set_step(svc, job_id, STORING)
        return _finish(svc, job_id, round_id, published, actor)
    except PublicationTimeout:
        log.warning("Publication job %s stopped after its time limit of %d minute(s).",
                    job_id, limit)
        return _fail(svc, job_id, round_id, actor, Translatable(TIMED_OUT, num=limit))
    except PublicationError as exc:
        return _fail(svc, job_id, round_id, actor, Translatable(REFUSED, cause=exc))
    except Exception:
        log.exception("Publication job %s failed.", job_id)
        return _fail(svc, job_id, round_id, actor, Translatable(UNEXPECTED_ERROR))
    finally:
        heartbeat.stop()


def publish_unattended(svc: Services, round_id: int) -> bool:
    """Publish a closed round for the scheduler's own tick, reading and deciding as a job does.

    The long decision runs outside any transaction, so on SQLite nobody else's writes
    wait for it. Returns False if the round was not closed (any more).
    """
    with read_only_session(svc.session_factory) as reader:
        round_ = reader.get(Round, round_id)
        if round_ is None or round_.status != RoundStatus.CLOSED:
            return False
        reading = read_round(reader, round_, svc.settings)
    published = decide_round(reading, svc.clock.today())
    with svc.session_factory() as session:
        round_ = session.get(Round, round_id)
        if round_ is None:
            return False
        rounds.store_publication(session, round_, published, svc.settings, svc.clock)
        session.commit()
    return True


def _finish(svc: Services, job_id: int, round_id: int, published: PublishedRound | None,
            actor: str) -> str:
    """Store the publication and end the job in one transaction."""
    with svc.session_factory() as session:
        round_ = session.get(Round, round_id)
        if round_ is None:
            raise PublicationError(N_("This round no longer exists."))
        if published is not None:
            rounds.store_publication(session, round_, published, svc.settings, svc.clock,
                                     actor=actor)
        ended = session.execute(
            update(PublicationJob)
            .where(PublicationJob.id == job_id,
                   PublicationJob.status == PublicationStatus.RUNNING.value)
            .values(status=PublicationStatus.PUBLISHED.value, active_round_id=None, step="",
                    finished_at=_now(svc.clock))
            .execution_options(synchronize_session=False)
        ).rowcount
        if not ended:
            # Marked failed meanwhile (its heartbeat looked dead): store nothing.
            session.rollback()
            return PublicationStatus.FAILED.value
        session.commit()
    return PublicationStatus.PUBLISHED.value


def _fail(svc: Services, job_id: int, round_id: int, actor: str, error: Translatable) -> str:
    """Mark the job failed with why: stored as its message, so a page can say it in its
    reader's language; the audit entry keeps the English."""
    with svc.session_factory() as session:
        ended = session.execute(
            update(PublicationJob)
            .where(PublicationJob.id == job_id,
                   PublicationJob.status == PublicationStatus.RUNNING.value)
            .values(status=PublicationStatus.FAILED.value, active_round_id=None,
                    finished_at=_now(svc.clock), error=packed(error))
            .execution_options(synchronize_session=False)
        ).rowcount
        if ended:
            round_ = session.get(Round, round_id)
            audit.record(session, svc.clock, actor=actor, action="survey.round.publish.failed",
                         subject=f"round {round_id}",
                         detail={"survey": round_.survey_id if round_ else None,
                                 "job": job_id, "error": str(error)})
        session.commit()
    return PublicationStatus.FAILED.value


def _set_step(svc: Services, job_id: int, step: str) -> None:
    with svc.session_factory() as session:
        session.execute(
            update(PublicationJob)
            .where(PublicationJob.id == job_id,
                   PublicationJob.status == PublicationStatus.RUNNING.value)
            .values(step=step, heartbeat_at=_now(svc.clock))
            .execution_options(synchronize_session=False)
        )
        session.commit()


class _Heartbeat:
    """Renew a running job's heartbeat from a thread of its own while one audit round runs."""

    def __init__(self, svc: Services, job_id: int, every: float | None) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if every is not None:
            self._thread = threading.Thread(target=self._beat, args=(svc, job_id, every),
                                            name=f"publication-{job_id}-heartbeat", daemon=True)
            self._thread.start()

    def _beat(self, svc: Services, job_id: int, every: float) -> None:
        while not self._stop.wait(every):
            try:
                with svc.session_factory() as session:
                    session.execute(
                        update(PublicationJob)
                        .where(PublicationJob.id == job_id,
                               PublicationJob.status == PublicationStatus.RUNNING.value)
                        .values(heartbeat_at=_now(svc.clock))
                        .execution_options(synchronize_session=False))
                    session.commit()
            except Exception:
                log.exception("Could not renew publication job %s's heartbeat.", job_id)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# --- what the admin sees ----------------------------------------------------------------


@dataclass(frozen=True)
class PublicationState:
    """A round's latest publication as its status page tells it."""

    round_id: int
    survey_id: int
    survey_title: str
    label: str
    status: str  # queued, running, published, failed; "none": never asked for
    step: Translatable | str  # plain words for what it is doing now
    error: Translatable | str | None  # a message from before messages were stored: as it is
    requested_by: str | None
    requested_at: str | None

    @property
    def in_progress(self) -> bool:
        return self.status in ACTIVE


def describe_step(step: str) -> Translatable:
    """Say in plain words what a running publication is doing."""
    kind, _, number = step.partition(":")
    if kind == OUTSIDER_STEP:
        return Translatable(N_("Checking what someone outside the round could work out from "
                               "the figures (outsider check, round %(number)s)."), number=number)
    if kind == INSIDER_STEP:
        return Translatable(N_("Checking what a colleague who answered could work out about "
                               "others (insiders' check, round %(number)s)."), number=number)
    if kind == STORING:
        return Translatable(N_("Storing the results and deleting the raw answers."))
    return Translatable(N_("Opening and counting the answers."))


def publication_state(session: Session, round_: Round, clock: Clock) -> PublicationState:
    """The round's latest publication job, a dead one shown as failed. Reads only."""
    survey = session.get(Survey, round_.survey_id)
    assert survey is not None
    job = session.scalars(select(PublicationJob).where(PublicationJob.round_id == round_.id)
                          .order_by(PublicationJob.id.desc())).first()
    common = {"round_id": round_.id, "survey_id": survey.id, "survey_title": survey.title,
              "label": round_label(session, round_, survey.timezone)}
    if job is None:
        status = "published" if round_.status == RoundStatus.PUBLISHED else "none"
        return PublicationState(status=status, step="", error=None, requested_by=None,
                                requested_at=None, **common)  # type: ignore[arg-type]
    status, error = job.status, unpacked(job.error)
    if (status == PublicationStatus.RUNNING and job.heartbeat_at is not None
            and as_utc(job.heartbeat_at) < _now(clock) - STALE_AFTER):
        status, error = PublicationStatus.FAILED.value, Translatable(STALE_ERROR)
    step: Translatable
    if status == PublicationStatus.QUEUED:
        step = Translatable(N_("Waiting for the scheduler to start it: it looks for work "
                               "every minute. If this stays for more than a few minutes, "
                               "check that the scheduler (speakup scheduler) is running."))
    else:
        step = describe_step(job.step)
    local = as_utc(job.requested_at).astimezone(ZoneInfo(survey.timezone))
    return PublicationState(status=str(status), step=step, error=error,
                            requested_by=job.requested_by,
                            requested_at=f"{local.day} {local:%b %Y}, {local:%H:%M}",
                            **common)  # type: ignore[arg-type]


def publishing_round_ids(session: Session, survey_id: int) -> set[int]:
    """Rounds of a survey whose publication is queued or running."""
    return set(session.scalars(
        select(PublicationJob.round_id).join(Round, Round.id == PublicationJob.round_id)
        .where(Round.survey_id == survey_id, PublicationJob.active_round_id.is_not(None))))
