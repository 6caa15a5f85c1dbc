"""Is the database there, writable and at the schema this code expects? (issue 13, finding 4)

Used by /healthz on every probe and by the servers before they start: a missing,
read-only or un-migrated database is said loudly, never papered over.
"""

from __future__ import annotations

import os
from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from speakup import migrate
from speakup.db import DatabaseUnavailableError, make_engine, sqlite_path
from speakup.settings import Settings

UPGRADE_HINT = "Run `speakup db upgrade` (the only command that creates or migrates it)."


@cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def database_problems(session: Session, database_url: str) -> list[str]:
    """Say what is wrong with the database, in words an operator can act on; [] if fine.

    Leaves the session rolled back: the probe's write is never kept.
    """
    path = sqlite_path(database_url)
    if path is not None:
        if not path.exists():
            return [f"The database file {path} does not exist. {UPGRADE_HINT}"]
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK):
            return [f"The database file {path} (or its folder) is not writable."]
    try:
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        # A write that changes nothing, rolled back: proves the database takes writes
        # (a read-only file or role fails here) without leaving a trace.
        session.execute(text("UPDATE alembic_version SET version_num = version_num"))
    except DatabaseUnavailableError as exc:
        return [str(exc)]
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        if "alembic_version" in reason:
            return [f"The database has no schema yet. {UPGRADE_HINT}"]
        return [f"The database cannot be written to: {reason}"]
    finally:
        session.rollback()
    if revision != head_revision():
        return [f"The database schema is at {revision}, this code needs {head_revision()}. "
                f"{UPGRADE_HINT}"]
    return []


def require_ready(session: Session, database_url: str) -> None:
    """Refuse to serve on a database that is missing, read-only or not migrated."""
    problems = database_problems(session, database_url)
    if problems:
        raise DatabaseUnavailableError("Speak Up cannot start: " + " ".join(problems))


def check_before_serving(settings: Settings) -> None:
    """Open the configured database once and refuse to go on if it is not ready.

    Called by gunicorn's `on_starting` hook and by `speakup serve` / `speakup scheduler`
    (never by create_app, which stays free of I/O).
    """
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            require_ready(session, settings.database_url)
    finally:
        engine.dispose()
