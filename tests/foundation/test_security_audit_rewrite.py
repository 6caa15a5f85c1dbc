"""Issue 18, finding 4: a chain rewritten entirely as plain SHA-256 is caught without --head.

`speakup audit verify` still accepted unkeyed chains (entries from before keying), so
someone with write access to the database but not the key could replace every entry
with plain SHA-256 ones, tidy the head row, and pass. Every entry this code writes is
keyed, and the first keyed entry's HMAC seals whatever unkeyed prefix came before it:
a chain with no keyed entry at all is refused unless an exported head vouches for it.
Run through the real `speakup` command against committed data, on both engines.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import TEST_SECRET, VENV_BIN, server_env
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import FrozenClock, as_utc
from speakup.db import make_engine
from speakup.derived_keys import session_keys
from speakup.models import AuditEntry, AuditHead

SECRET = TEST_SECRET  # what server_env gives the command


@pytest.fixture
def db(fresh_database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(fresh_database_url)
    yield engine
    engine.dispose()


def _cli(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = server_env(url, tmp_path / "instance")
    return subprocess.run([str(VENV_BIN / "speakup"), "audit", "verify", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _record(engine, keyed: bool, n: int, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    keys = session_keys(SECRET) if keyed else {}
    with Session(engine, info=keys) as session:
        for i in range(n):
            audit.record(session, clock, actor=f"admin{i}@example.org", action="account.update",
                         subject=f"user{i}@example.org", detail={"n": i})
            clock.advance(minutes=1)
        session.commit()


def _plain(entry: AuditEntry, prev_hash: str) -> str:
    """The hash an attacker without the key can compute: the old, unkeyed SHA-256."""
    payload = json.dumps([entry.id, prev_hash, as_utc(entry.occurred_at).isoformat(
        timespec="seconds"), entry.actor, entry.action, entry.subject, entry.detail],
        separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _rewrite_all_plain(engine, actor: str = "innocent@example.org") -> None:  # type: ignore[no-untyped-def]
    """Replace every entry's actor and re-hash the whole chain unkeyed; tidy the head."""
    with Session(engine) as session:
        prev = audit.GENESIS_HASH
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all():
            entry.actor, entry.prev_hash, entry.keyed = actor, prev, False
            entry.entry_hash = prev = _plain(entry, prev)
        session.execute(update(AuditHead).values(last_hash=prev))
        session.commit()


def test_a_keyed_chain_verifies(db, fresh_database_url, tmp_path):
    _record(db, True, 4, FrozenClock())
    result = _cli(fresh_database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "entries verified" in result.stdout


def test_a_chain_rewritten_entirely_as_plain_sha256_is_refused(db, fresh_database_url,
                                                                tmp_path):
    _record(db, True, 4, FrozenClock())
    _rewrite_all_plain(db)
    result = _cli(fresh_database_url, tmp_path)
    assert result.returncode == 1
    assert "BROKEN" in result.stderr and "no keyed entry" in result.stderr


def test_cutting_every_keyed_entry_off_a_legacy_prefix_is_refused(db, fresh_database_url,
                                                                   tmp_path):
    clock = FrozenClock()
    _record(db, False, 2, clock)  # written before keying
    _record(db, True, 3, clock)
    assert _cli(fresh_database_url, tmp_path).returncode == 0
    with Session(db) as session:
        last_legacy = session.get(AuditEntry, 2)
        session.execute(delete(AuditEntry).where(AuditEntry.id > 2))
        session.execute(update(AuditHead).values(last_id=2, last_hash=last_legacy.entry_hash))
        session.commit()
    result = _cli(fresh_database_url, tmp_path)
    assert result.returncode == 1 and "no keyed entry" in result.stderr


def test_a_rewritten_legacy_prefix_before_keyed_entries_is_refused(db, fresh_database_url,
                                                                    tmp_path):
    clock = FrozenClock()
    _record(db, False, 2, clock)
    _record(db, True, 2, clock)
    with Session(db) as session:  # rewrite the two unkeyed entries, keep the keyed ones
        prev = audit.GENESIS_HASH
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.id <= 2)
                                     .order_by(AuditEntry.id)).all():
            entry.actor, entry.prev_hash = "innocent@example.org", prev
            entry.entry_hash = prev = _plain(entry, prev)
        session.execute(update(AuditEntry).where(AuditEntry.id == 3).values(prev_hash=prev))
        session.commit()
    result = _cli(fresh_database_url, tmp_path)
    assert result.returncode == 1 and "BROKEN at entry 3" in result.stderr


def test_a_legacy_prefix_sealed_by_keyed_entries_verifies(db, fresh_database_url, tmp_path):
    clock = FrozenClock()
    _record(db, False, 2, clock)
    _record(db, True, 2, clock)
    result = _cli(fresh_database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 early entries predate the keyed chain" in result.stdout


def test_a_chain_with_no_keyed_entry_verifies_only_through_an_exported_head(
        db, fresh_database_url, tmp_path):
    _record(db, False, 3, FrozenClock())  # an old database, nothing recorded since keying
    refused = _cli(fresh_database_url, tmp_path)
    assert refused.returncode == 1 and "no keyed entry" in refused.stderr
    assert "--head" in refused.stderr
    with Session(db) as session:
        exported = audit.head(session)
    vouched = _cli(fresh_database_url, tmp_path, "--head", exported)
    assert vouched.returncode == 0, vouched.stderr
    _rewrite_all_plain(db)
    assert _cli(fresh_database_url, tmp_path, "--head", exported).returncode == 1


def test_an_empty_chain_verifies(fresh_database_url, tmp_path):
    result = _cli(fresh_database_url, tmp_path)
    assert result.returncode == 0 and "0 entries verified" in result.stdout

