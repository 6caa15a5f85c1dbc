"""Scheduled jobs that packages contribute; `speakup scheduler` runs them all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

from speakup.web import Services, services


@dataclass(frozen=True)
class Job:
    """An idempotent tick: reads what is due from the database and moves it."""

    id: str  # stable: APScheduler keys its state on it
    run: Callable[[Services], None]  # opens its own session from services.session_factory
    every_minutes: int


def register_job(app: Flask, job: Job) -> None:
    services(app).extras.setdefault("scheduler_jobs", []).append(job)


def registered_jobs(app: Flask) -> list[Job]:
    return list(services(app).extras.get("scheduler_jobs", []))
