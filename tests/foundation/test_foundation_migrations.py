"""Alembic revisions: up from empty, down to nothing, step by step, and head == models."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import concerns.models  # noqa: F401 - every package's tables on the shared metadata
import review.models  # noqa: F401
import surveys.models  # noqa: F401
from speakup import migrate
from speakup.db import Base, make_engine


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if "alembic_version" not in inspect(conn).get_table_names():
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        engine.dispose()


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_revisions_form_one_line_starting_at_0001():
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "more than one head: merge or rebase the revisions"
    revisions = revisions_oldest_first()
    assert revisions[0] == "0001"
    assert revisions[:3] == ["0001", "0002", "0003"]


def test_upgrade_from_empty_to_head_and_down_to_base(empty_database_url):
    url = empty_database_url
    assert table_names(url) == set()
    migrate.upgrade(url)
    assert current_revision(url) == revisions_oldest_first()[-1]
    created = table_names(url) - {"alembic_version"}
    assert set(Base.metadata.tables) <= created
    assert {"users", "audit_entries", "audit_head", "scheduler_leases"} <= created
    migrate.downgrade(url, "base")
    assert table_names(url) - {"alembic_version"} == set()
    assert current_revision(url) is None


def test_head_matches_the_models(empty_database_url):
    """`alembic check`: autogenerate finds nothing to add, drop or alter."""
    migrate.upgrade(empty_database_url)
    command.check(migrate.alembic_config(empty_database_url))


def test_each_revision_downgrades_and_upgrades_again(empty_database_url):
    url = empty_database_url
    for revision in revisions_oldest_first():
        migrate.upgrade(url, revision)
        after_up = table_names(url)
        migrate.downgrade(url, "-1")
        migrate.upgrade(url, revision)
        assert table_names(url) == after_up, f"{revision} does not round-trip"
        assert current_revision(url) == revision


def test_upgrade_twice_is_harmless(empty_database_url):
    migrate.upgrade(empty_database_url)
    before = table_names(empty_database_url)
    migrate.upgrade(empty_database_url)
    assert table_names(empty_database_url) == before
