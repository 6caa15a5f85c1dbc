"""Run Alembic revisions programmatically (`speakup db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

import migrations
from speakup.db import create_sqlite_file, make_engine

SCRIPT_LOCATION = Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Percent signs in passwords would otherwise be read as interpolation.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(database_url: str) -> str | None:
    """The revision the database is at; None for a database with no schema yet."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the schema; return the revisions before and after (None: no schema)."""
    # The one place a SQLite database comes into being (everything else opens mode=rw).
    create_sqlite_file(database_url)
    before = current_revision(database_url)
    command.upgrade(alembic_config(database_url), revision)
    return before, current_revision(database_url)


def upgrade_message(before: str | None, after: str | None) -> str:
    """Say what `speakup db upgrade` did, in words: created, upgraded or already current."""
    if before is None:
        return f"Created the database schema (a new database, now at revision {after})."
    if before == after:
        return f"Database is already up to date (revision {after})."
    return f"Database upgraded from revision {before} to {after}."


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_heads(database_url: str) -> None:
    command.current(alembic_config(database_url))
