"""The single scheduler: APScheduler running the registered jobs under a database lease.

`speakup scheduler` runs this in one dedicated process (never inside web workers);
`make run` starts it in-process for the single local server. Any number may be
started: a lease row in `scheduler_leases`, renewed on a timer, lets only one of
them run jobs; the others wait, say so, and take over when the lease runs out.

Jobs are idempotent ticks (see speakup/jobs.py), so a job that overlaps a lease
hand-over or runs late after downtime does no harm; when a process gains the lease
it runs every job once at once, which is how downtime is caught up.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from speakup.clock import Clock, as_utc
from speakup.jobs import Job, registered_jobs
from speakup.models import SchedulerLease
from speakup.web import Services, services

log = logging.getLogger("speakup.scheduler")

LEASE_NAME = "scheduler"
LEASE_SECONDS = 90
RENEW_SECONDS = 20
# A job that could not run on time (process busy, machine asleep) still runs within an hour.
MISFIRE_GRACE_SECONDS = 3600
LEASE_JOB_ID = "speakup.scheduler-lease"


def new_holder_id() -> str:
    """Name this process in the lease row (host and pid help an operator; no personal data)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseTimer(Protocol):
    """Where a lease's times come from: the database's clock and this process's stopwatch."""

    def database_now(self, session: Session) -> dt.datetime: ...

    def monotonic(self) -> float: ...


class DatabaseTimer:
    """Expiry on the database's clock, so hosts whose clocks disagree still agree on it.

    On PostgreSQL every host asks the server for the time. An SQLite file has no clock of
    its own, but it lives on one machine and is opened only there (README "Moving to
    PostgreSQL"), so that machine's wall clock is the database's. Whether *this* process
    still holds the lease is then timed on its own monotonic clock, which a wall-clock
    step (NTP, a daylight-saving mistake) cannot move.
    """

    def __init__(self, wall: Callable[[], dt.datetime] | None = None) -> None:
        self.wall = wall or (lambda: dt.datetime.now(dt.UTC))

    def database_now(self, session: Session) -> dt.datetime:
        if session.get_bind().dialect.name == "postgresql":
            return as_utc(session.execute(select(func.clock_timestamp())).scalar_one())
        return self.wall().astimezone(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ClockTimer:
    """Both times from one `Clock`: for tests and simulated time, where a test moves it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def database_now(self, session: Session) -> dt.datetime:
        return self.clock.now().astimezone(dt.UTC)

    def monotonic(self) -> float:
        return self.clock.now().timestamp()


class Lease:
    """A named lease in `scheduler_leases`: held by one holder until it expires."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        timer: LeaseTimer | None = None,
        holder: str | None = None,
        name: str = LEASE_NAME,
        seconds: int = LEASE_SECONDS,
    ) -> None:
        self.session_factory = session_factory
        self.timer = timer or DatabaseTimer()
        self.holder = holder or new_holder_id()
        self.name = name
        self.seconds = seconds
        # Until when (this process's monotonic clock) we may act as the holder.
        self._held_until: float | None = None

    def try_acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if ours; say whether we hold it."""
        # Read before asking: the database's expiry starts no earlier than this moment, so
        # counting our hold from here can only end it early, never late.
        started = self.timer.monotonic()
        with self.session_factory() as session:
            now = self.timer.database_now(session)
            until = now + dt.timedelta(seconds=self.seconds)
            moved = session.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == self.name,
                    or_(SchedulerLease.holder == self.holder, SchedulerLease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=until)
            ).rowcount
            if not moved:
                if session.get(SchedulerLease, self.name) is not None:
                    session.rollback()
                    self._held_until = None
                    return False
                session.add(SchedulerLease(name=self.name, holder=self.holder, expires_at=until))
                try:
                    session.flush()
                except IntegrityError:
                    session.rollback()  # another process inserted it first
                    self._held_until = None
                    return False
            session.commit()
        self._held_until = started + self.seconds
        return True

    def is_held(self) -> bool:
        """True while our last successful renewal has not run out."""
        return self._held_until is not None and self.timer.monotonic() < self._held_until

    def release(self) -> None:
        """Give the lease up at once so a successor need not wait for it to expire."""
        with self.session_factory() as session:
            past = self.timer.database_now(session) - dt.timedelta(seconds=1)
            session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=past)
            )
            session.commit()
        self._held_until = None

    def current(self) -> tuple[str, dt.datetime] | None:
        """Who holds the lease and until when (None if nobody ever did)."""
        with self.session_factory() as session:
            row = session.get(SchedulerLease, self.name)
            return None if row is None else (row.holder, as_utc(row.expires_at))


class SchedulerRunner:
    """Runs jobs only while this process holds the lease."""

    def __init__(
        self,
        svc: Services,
        jobs: list[Job],
        lease: Lease | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.services = svc
        self.jobs = jobs
        self.lease = lease or Lease(svc.session_factory)
        self.say = say or log.info
        self.scheduler: BaseScheduler | None = None
        self._was_held: bool | None = None
        self._lock = threading.Lock()

    def run_job(self, job: Job) -> bool:
        """Run one job if we hold the lease; return whether it ran."""
        if not self.lease.is_held():
            return False
        try:
            job.run(self.services)
        except Exception:
            log.exception("Scheduled job %s failed; it will run again at its next time.", job.id)
        return True

    def keep_lease(self) -> bool:
        """Acquire or renew the lease; on gaining it, run every job now to catch up."""
        with self._lock:
            try:
                held = self.lease.try_acquire()
            except Exception:
                log.exception("Could not reach the database to renew the scheduler lease.")
                held = False
            if held and self._was_held is not True:
                self.say(f"Scheduler {self.lease.holder} is active: running jobs.")
                self._run_all_soon()
            elif not held and self._was_held is not False:
                other = self._describe_holder()
                self.say(
                    f"Another scheduler is active ({other}); this one "
                    f"({self.lease.holder}) waits and runs no jobs until that lease ends."
                )
            self._was_held = held
            return held

    def _describe_holder(self) -> str:
        try:
            current = self.lease.current()
        except Exception:
            return "holder unknown: database unreachable"
        if current is None:
            return "holder unknown"
        holder, until = current
        return f"{holder}, lease until {until:%Y-%m-%d %H:%M:%S} UTC"

    def _run_all_soon(self) -> None:
        if self.scheduler is None or not self.scheduler.running:
            return
        now = dt.datetime.now(dt.UTC)
        for job in self.jobs:
            self.scheduler.modify_job(job.id, next_run_time=now)

    def configure(self, scheduler: BaseScheduler) -> BaseScheduler:
        """Add the lease timer and every job, with stable ids, to an APScheduler."""
        scheduler.add_job(
            self.keep_lease,
            IntervalTrigger(seconds=RENEW_SECONDS),
            id=LEASE_JOB_ID,
            name="keep the scheduler lease",
            # The caller takes the lease before start(); the timer renews it from then on.
            next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=RENEW_SECONDS),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=RENEW_SECONDS,
            replace_existing=True,
        )
        for job in self.jobs:
            scheduler.add_job(
                self.run_job,
                IntervalTrigger(minutes=job.every_minutes),
                args=[job],
                id=job.id,
                name=job.id,
                # Every job runs once at start-up: that is the catch-up after downtime.
                next_run_time=dt.datetime.now(dt.UTC),
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
                replace_existing=True,
            )
        self.scheduler = scheduler
        return scheduler

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.lease.is_held():
            try:
                self.lease.release()
            except Exception:
                log.exception("Could not release the scheduler lease; it expires on its own.")


def _scheduler_options() -> dict[str, Any]:
    return {
        "timezone": dt.UTC,
        "job_defaults": {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    }


def run_scheduler(app: Flask, say: Callable[[str], None]) -> None:
    """Run the scheduler in this process until interrupted (the `speakup scheduler` command)."""
    runner = SchedulerRunner(services(app), registered_jobs(app), say=say)
    scheduler = runner.configure(BlockingScheduler(**_scheduler_options()))
    say(f"Scheduler {runner.lease.holder} starting with jobs: "
        + ", ".join(job.id for job in runner.jobs) + ".")

    def stop(_signum: int, _frame: Any) -> None:
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    runner.keep_lease()  # before start, so jobs due at start-up find the lease held
    try:
        scheduler.start()  # blocks until shut down
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        runner.stop()
        say("Scheduler stopped.")


class InProcessScheduler:
    """What `start_inprocess_scheduler` returns: something the dev server can shut down."""

    def __init__(self, runner: SchedulerRunner) -> None:
        self.runner = runner

    def shutdown(self, wait: bool = False) -> None:
        self.runner.stop()


def start_inprocess_scheduler(app: Flask) -> InProcessScheduler:
    """Start the scheduler in a background thread of this process (the local server only)."""
    runner = SchedulerRunner(services(app), registered_jobs(app))
    scheduler = runner.configure(BackgroundScheduler(**_scheduler_options()))
    runner.keep_lease()
    scheduler.start()
    return InProcessScheduler(runner)


def init_app(app: Flask) -> None:
    """Let `speakup serve` (make run) start the scheduler in-process."""
    services(app).extras["start_inprocess_scheduler"] = start_inprocess_scheduler
