"""Alembic environment: one metadata for every package's models."""

from __future__ import annotations

from alembic import context

import concerns.models  # noqa: F401 - registers tables on the shared metadata
import review.models  # noqa: F401
import speakup.models  # noqa: F401
import surveys.models  # noqa: F401
from speakup.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            run_migrations(conn)
    finally:
        # Also when a revision fails (e.g. 0014's downgrade without its keys): no
        # connection is left for the garbage collector to close.
        engine.dispose()
