"""Only one scheduler runs jobs: a lease in the database, renewed on a timer."""

from __future__ import annotations

import datetime as dt
import queue
import subprocess
import threading
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from conftest import VENV_BIN, server_env
from sqlalchemy import select

from speakup.clock import as_utc
from speakup.db import make_engine, make_session_factory
from speakup.jobs import Job
from speakup.models import SchedulerLease
from speakup.scheduler import (
    LEASE_JOB_ID,
    LEASE_SECONDS,
    MISFIRE_GRACE_SECONDS,
    ClockTimer,
    DatabaseTimer,
    Lease,
    SchedulerRunner,
)
from speakup.web import Services
from surveys.jobs import JOBS


def test_two_lease_holders_never_both_hold_it(session_factory, clock):
    first = Lease(session_factory, ClockTimer(clock), holder="first")
    second = Lease(session_factory, ClockTimer(clock), holder="second")

    assert first.try_acquire() is True
    assert second.try_acquire() is False
    assert first.is_held() and not second.is_held()

    # Renewing keeps it; the other keeps waiting.
    clock.advance(seconds=LEASE_SECONDS - 10)
    assert first.try_acquire() is True
    clock.advance(seconds=LEASE_SECONDS - 10)
    assert second.try_acquire() is False
    assert first.is_held()

    # The holder stops renewing (crashed, or stalled): once the lease runs out the other
    # takes over, and the old holder knows it no longer holds it.
    clock.advance(seconds=LEASE_SECONDS + 1)
    assert not first.is_held()
    assert second.try_acquire() is True
    assert first.try_acquire() is False
    assert second.is_held() and not first.is_held()

    # Releasing hands over at once.
    second.release()
    assert first.try_acquire() is True


class _Stopwatch:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def test_the_lease_goes_by_the_databases_clock_not_a_hosts(session_factory, backend):
    """Two hosts whose clocks disagree by a day still agree on who holds the lease."""
    real = dt.datetime.now(dt.UTC)
    behind = DatabaseTimer(wall=lambda: real - dt.timedelta(days=1))
    ahead = DatabaseTimer(wall=lambda: real + dt.timedelta(days=1))
    first = Lease(session_factory, behind, holder="first")
    second = Lease(session_factory, ahead, holder="second")

    assert first.try_acquire() is True
    with session_factory() as session:
        expires = as_utc(session.get(SchedulerLease, "scheduler").expires_at)  # type: ignore[union-attr]
    if backend == "postgresql":
        # Written and compared on the server's clock: the host a day behind wrote a lease
        # that ends 90 s from the server's now, and the host a day ahead cannot take it.
        assert abs(expires - (real + dt.timedelta(seconds=LEASE_SECONDS))) < dt.timedelta(
            seconds=30)
        assert second.try_acquire() is False
    else:
        # An SQLite file is read on one machine only: that machine's clock is its clock.
        assert expires == real - dt.timedelta(days=1) + dt.timedelta(seconds=LEASE_SECONDS)
        assert second.try_acquire() is True


def test_a_holder_times_its_hold_on_a_monotonic_clock(session_factory, monkeypatch):
    """A wall-clock step on the holder's host neither ends nor stretches its hold."""
    stopwatch = _Stopwatch()
    wall = [dt.datetime.now(dt.UTC)]
    timer = DatabaseTimer(wall=lambda: wall[0])
    monkeypatch.setattr(timer, "monotonic", stopwatch)
    lease = Lease(session_factory, timer, holder="only")

    assert lease.try_acquire() is True
    wall[0] += dt.timedelta(days=2)  # the host's clock jumps forward
    assert lease.is_held()
    stopwatch.seconds += LEASE_SECONDS - 1
    wall[0] -= dt.timedelta(days=4)  # and back, further than it went
    assert lease.is_held()
    stopwatch.seconds += 2  # 90 s have really passed without renewal
    assert not lease.is_held()


def test_only_the_runner_holding_the_lease_runs_jobs(session_factory, settings, engine, clock):
    ran: list[str] = []
    svc = Services(settings=settings, engine=engine, session_factory=session_factory,
                   clock=clock)
    job = Job("test.record", lambda s: ran.append("ran"), every_minutes=1)
    said: list[str] = []
    timer = ClockTimer(clock)
    one = SchedulerRunner(svc, [job], Lease(session_factory, timer, holder="one"), said.append)
    two = SchedulerRunner(svc, [job], Lease(session_factory, timer, holder="two"), said.append)

    assert one.keep_lease() is True
    assert two.keep_lease() is False
    assert any("Another scheduler is active (one" in line and "waits" in line for line in said)
    assert one.run_job(job) is True
    assert two.run_job(job) is False
    assert ran == ["ran"]

    clock.advance(seconds=LEASE_SECONDS + 1)  # "one" stalled without renewing
    assert one.run_job(job) is False
    assert two.keep_lease() is True
    assert one.keep_lease() is False
    assert two.run_job(job) is True and one.run_job(job) is False
    assert ran == ["ran", "ran"]


def test_jobs_have_stable_ids_and_safe_options(session_factory, settings, engine, clock):
    svc = Services(settings=settings, engine=engine, session_factory=session_factory,
                   clock=clock)
    scheduler = SchedulerRunner(svc, list(JOBS)).configure(BackgroundScheduler(timezone=dt.UTC))
    by_id = {job.id: job for job in scheduler.get_jobs()}
    assert set(by_id) == {LEASE_JOB_ID, *(job.id for job in JOBS)}
    for job in JOBS:
        configured = by_id[job.id]
        assert configured.coalesce is True
        assert configured.max_instances == 1
        assert configured.misfire_grace_time == MISFIRE_GRACE_SECONDS
    assert {"surveys.open-due-rounds", "surveys.close-due-rounds", "surveys.send-mail",
            "surveys.queue-reminders", "surveys.publish-closed-rounds", "surveys.plan-rounds",
            "surveys.reconcile", "surveys.purge"} <= set(by_id)


def _read_lines(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)


def _wait_for(lines: queue.Queue[str], needle: str, seen: list[str]) -> str:
    while True:
        line = lines.get(timeout=30)
        seen.append(line)
        if needle in line:
            return line


def test_a_second_scheduler_process_waits_and_says_so(fresh_database_url, tmp_path: Path):
    env = {**server_env(fresh_database_url, tmp_path / "instance"), "PYTHONUNBUFFERED": "1"}
    command = [str(VENV_BIN / "speakup"), "scheduler"]
    procs = []
    try:
        outputs = []
        for _ in range(2):
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=_read_lines, args=(proc, lines), daemon=True).start()
            procs.append(proc)
            outputs.append(lines)
            seen: list[str] = []
            needle = "is active: running jobs" if len(procs) == 1 else "Another scheduler"
            line = _wait_for(lines, needle, seen)
        assert "waits and runs no jobs" in line
        holder = line.split("(")[1].split(",")[0]
        engine = make_engine(fresh_database_url)
        with make_session_factory(engine)() as session:
            lease = session.scalars(select(SchedulerLease)).one()
            assert lease.holder == holder
            assert f":{procs[0].pid}:" in lease.holder
        # Stopping the active one gives the lease up at once.
        procs[0].terminate()
        procs[0].wait(timeout=20)
        with make_session_factory(engine)() as session:
            lease = session.scalars(select(SchedulerLease)).one()
            assert as_utc(lease.expires_at) < dt.datetime.now(dt.UTC)
        engine.dispose()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
