"""Connect the review package to the app: blueprints, CLI, hooks, links (called by the factory)."""

from __future__ import annotations

from flask import Flask

from review import (
    cli,
    demo,
    goal_views,  # noqa: F401 - adds the goals and actions routes to views.bp
    headline_views,  # noqa: F401 - adds the headline survey's admin page to views.bp
    peer_views,  # noqa: F401 - adds the peers route to views.bp
    views,
)
from speakup.translatable import N_
from speakup.web import services

ROLES = ("reviewer", "admin")


def init_app(app: Flask) -> None:
    """Register this package's blueprints and commands on the app."""
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.publications_group)
    extras = services(app).extras
    extras.setdefault("nav_links", []).append(("review.overview", N_("Review"), ROLES))
    extras.setdefault("staff_links", []).append(
        ("review.overview", N_("Review survey results, trends and how the mechanisms work"),
         ROLES)
    )
    extras.setdefault("admin_links", []).append(
        ("review.headline_survey", N_("Headline survey — which survey the overview and "
                                      "the staff results page show first"))
    )
    extras.setdefault("demo_seeders", []).append(demo.seed)
