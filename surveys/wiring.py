"""Connect the surveys package to the app: blueprints, CLI, hooks, links (called by the factory)."""

from __future__ import annotations

from flask import Flask

from speakup import scheduler
from speakup.jobs import register_job
from speakup.translatable import N_
from speakup.web import services
from surveys import answer_views, cli, demo, jobs, slip_views, views
from surveys.sealed_answers import SEALERS, Sealers


def init_app(app: Flask) -> None:
    """Register this package's blueprints and commands on the app."""
    app.register_blueprint(views.bp)
    app.register_blueprint(answer_views.bp)
    app.register_blueprint(slip_views.code_bp)  # /code; its admin pages are on views.bp
    app.cli.add_command(cli.surveys_group)
    app.cli.add_command(cli.rounds_group)
    for job in jobs.JOBS:
        register_job(app, job)
    extras = services(app).extras
    # This process's sealers (one ephemeral key per open round), in memory only.
    extras[SEALERS] = Sealers()
    extras.setdefault("admin_links", []).append(
        ("surveys_admin.index", N_("Surveys — questions, schedule, audience and rounds"))
    )
    extras.setdefault("admin_links", []).append(
        ("surveys_admin.teams", N_("Teams and directorates offered in surveys"))
    )
    extras.setdefault("nav_links", []).append(("surveys_admin.index", N_("Surveys"), ("admin",)))
    extras.setdefault("staff_links", []).append(
        ("surveys_admin.index", "Surveys: set up pulse surveys and follow their rounds",
         ("admin",))
    )
    extras.setdefault("demo_seeders", []).append(demo.seed)
    # `make run` (speakup serve) runs the scheduler in-process; production runs
    # `speakup scheduler` once instead.
    scheduler.init_app(app)
