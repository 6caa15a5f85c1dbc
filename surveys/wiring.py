"""Connect the surveys package to the app: blueprints, CLI, hooks, links (called by the factory)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's blueprints and commands on the app."""
