"""Issue 13, finding 7: the audit chain is an HMAC chain; an exported head is checked."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import delete, select, update

from speakup import audit
from speakup.cli import main
from speakup.clock import as_utc
from speakup.models import AuditEntry, AuditHead


@pytest.fixture
def chain(session, clock):  # type: ignore[no-untyped-def]
    for n in range(5):
        audit.record(session, clock, actor=f"admin{n}@example.org", action="account.update",
                     subject=f"user{n}@example.org", detail={"n": n})
        clock.advance(minutes=1)
    session.commit()
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def _plain_hash(entry: AuditEntry, prev_hash: str) -> str:
    """What an attacker without the key can compute: the old, unkeyed SHA-256."""
    payload = json.dumps([entry.id, prev_hash, as_utc(entry.occurred_at).isoformat(
        timespec="seconds"), entry.actor, entry.action, entry.subject, entry.detail],
        separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def test_new_entries_are_keyed(chain):
    assert all(e.keyed for e in chain)


def test_rewriting_and_rehashing_without_the_key_is_detected(chain, session):
    """Someone with write access to the database edits entry 3 and recomputes the rest
    of the chain as the old unkeyed scheme did: the keyed hashes no longer verify."""
    prev = chain[1].entry_hash
    for entry in chain[2:]:
        actor = "innocent@example.org" if entry is chain[2] else entry.actor
        entry_copy = AuditEntry(id=entry.id, occurred_at=entry.occurred_at, actor=actor,
                                action=entry.action, subject=entry.subject,
                                detail=entry.detail)
        new_hash = _plain_hash(entry_copy, prev)
        session.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(
            actor=actor, prev_hash=prev, entry_hash=new_hash))
        prev = new_hash
    session.execute(update(AuditHead).values(last_hash=prev))
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == chain[2].id
    # Marking the forged entries unkeyed does not help: they follow keyed ones.
    session.execute(update(AuditEntry).where(AuditEntry.id >= chain[2].id).values(keyed=False))
    result = audit.verify(session)
    assert not result.ok and "unkeyed entry after keyed" in result.reason


def test_a_different_secret_key_cannot_verify(chain, session):
    session.info["audit_key"] = b"\x00" * 32
    assert not audit.verify(session).ok


def test_head_is_printed_and_checked_by_verify(chain, session, runner):
    printed = runner.invoke(main, ["audit", "head"])
    assert printed.exit_code == 0
    head = printed.output.strip()
    assert head == f"{chain[-1].id}:{chain[-1].entry_hash}"
    result = runner.invoke(main, ["audit", "verify", "--head", head])
    assert result.exit_code == 0 and "through the exported head" in result.output


def test_truncation_with_a_tidied_head_is_caught_by_the_exported_head(chain, session, runner):
    """Cutting the last two entries and pointing the head at the new tail fools a plain
    verify, but not one given the head exported before."""
    exported = audit.head(session)
    session.execute(delete(AuditEntry).where(AuditEntry.id >= chain[3].id))
    session.execute(update(AuditHead).values(last_id=chain[2].id,
                                             last_hash=chain[2].entry_hash))
    session.commit()
    assert audit.verify(session).ok, "without the exported head the cut is invisible"
    result = audit.verify(session, exported)
    assert not result.ok and "no longer in the chain" in result.reason
    cli = runner.invoke(main, ["audit", "verify", "--head", exported])
    assert cli.exit_code == 1 and "BROKEN" in cli.output


def test_exported_head_that_differs_is_caught(chain, session):
    forged = f"{chain[2].id}:{'a' * 64}"
    result = audit.verify(session, forged)
    assert not result.ok and result.first_broken_id == chain[2].id


def test_malformed_exported_head_is_a_clear_error(chain, runner):
    result = runner.invoke(main, ["audit", "verify", "--head", "yesterday"])
    assert result.exit_code == 1 and "42:<64 hex digits>" in result.output


def test_entries_from_before_keying_still_verify_and_are_counted(session, clock):
    session.info.pop("audit_key")
    audit.record(session, clock, actor="old@example.org", action="legacy")
    session.info["audit_key"] = b"k" * 32
    audit.record(session, clock, actor="new@example.org", action="keyed")
    result = audit.verify(session)
    assert result.ok and result.unkeyed == 1 and result.checked == 2
