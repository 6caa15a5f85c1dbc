"""The surveys package's scheduled jobs: idempotent ticks over the rounds in the database.

Each job opens its own session, does one kind of step and commits; `reconcile`
does every step in order, so whatever was missed while no scheduler ran is caught
up (once: every step is a conditional update).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from speakup.jobs import Job
from speakup.mail import mailer_for
from speakup.web import Services
from surveys import publication_jobs, rounds
from surveys.invitations import (
    SendReport,
    erase_published_outbox,
    forget_finished_mail,
    send_pending_mail,
    token_key,
)
from surveys.publish import purge_expired_raw
from surveys.round_keys import RoundKeyFolder

log = logging.getLogger("surveys.jobs")
T = TypeVar("T")


def _in_transaction(svc: Services, step: str, work: Callable[[Session], T]) -> T:
    with svc.session_factory() as session:
        try:
            result = work(session)
            session.commit()
            return result
        except Exception:
            session.rollback()
            log.exception("Survey step %r failed; it will be tried again.", step)
            raise


def plan(svc: Services) -> None:
    _in_transaction(svc, "plan rounds", lambda s: rounds.plan_rounds(s, svc.clock))


def open_due(svc: Services) -> None:
    _in_transaction(svc, "open rounds", lambda s: rounds.open_due_rounds(
        s, svc.clock, RoundKeyFolder.of(svc.settings)))


def remind(svc: Services) -> None:
    _in_transaction(svc, "queue reminders", lambda s: rounds.queue_due_reminders(s, svc.clock))


def close_due(svc: Services) -> None:
    _in_transaction(svc, "close rounds", lambda s: rounds.close_due_rounds(s, svc.clock))


def publish_closed(svc: Services) -> int:
    """Publish each closed round in its own transaction; one failure does not stop the rest."""
    with svc.session_factory() as session:
        # An admin's publication under way (surveys.publication_jobs) is left to finish.
        round_ids = [r for r in rounds.closed_round_ids(session)
                     if publication_jobs.active_job(session, r) is None]
    published = 0
    for round_id in round_ids:
        try:
            published += publication_jobs.publish_unattended(svc, round_id)
        except Exception:
            log.exception("Publishing round %s failed; it stays closed and is retried.",
                          round_id)
    return published


def send_mail(svc: Services) -> SendReport:
    return send_pending_mail(
        svc.session_factory, mailer_for(svc), svc.settings, svc.clock,
        key=token_key(svc.settings),
    )


def purge(svc: Services) -> None:
    def work(session: Session) -> None:
        purge_expired_raw(session, svc.settings, svc.clock)
        # Publication and the sender forget mail as they go; this catches what a crash
        # or a message written after its round was published left behind.
        rounds.purge_mail_jobs(session)
        forget_finished_mail(session)
        erase_published_outbox(session, svc.settings)

    _in_transaction(svc, "purge", work)


def reconcile(svc: Services) -> None:
    """Every step in order: what downtime missed is done now, once."""
    for step in (plan, close_due, open_due, remind, publish_closed, send_mail, purge):
        try:
            step(svc)
        except Exception:  # noqa: S112 - logged by the step; go on with the others
            continue


JOBS = (
    Job("surveys.plan-rounds", plan, every_minutes=60),
    Job("surveys.open-due-rounds", open_due, every_minutes=1),
    Job("surveys.queue-reminders", remind, every_minutes=1),
    Job("surveys.close-due-rounds", close_due, every_minutes=1),
    Job("surveys.publish-closed-rounds", publish_closed, every_minutes=1),
    Job("surveys.publication-jobs", publication_jobs.run_publications, every_minutes=1),
    Job("surveys.send-mail", send_mail, every_minutes=1),
    Job("surveys.purge", purge, every_minutes=60),
    Job("surveys.reconcile", reconcile, every_minutes=15),
)
