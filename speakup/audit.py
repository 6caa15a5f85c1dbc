"""Append-only, hash-chained audit log of privileged actions (DESIGN.md rule 6)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, func, select, text
from sqlalchemy.orm import Session

from speakup.clock import Clock, as_utc
from speakup.models import AuditEntry, AuditHead

GENESIS_HASH = "0" * 64
# Arbitrary constant: the PostgreSQL advisory-lock key that serialises appends.
_PG_LOCK_KEY = 0x5A0D17


def _entry_hash(entry: AuditEntry) -> str:
    payload = json.dumps(
        [
            entry.id,
            entry.prev_hash,
            as_utc(entry.occurred_at).isoformat(timespec="seconds"),
            entry.actor,
            entry.action,
            entry.subject,
            entry.detail,
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    session: Session,
    clock: Clock,
    *,
    actor: str,
    action: str,
    subject: str = "",
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the chain inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Concurrent appends must not both extend the same tail.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    head = session.get(AuditHead, 1, with_for_update=True)
    prev_id = head.last_id if head else 0
    prev_hash = head.last_hash if head else GENESIS_HASH
    entry = AuditEntry(
        id=prev_id + 1,
        occurred_at=clock.now().replace(microsecond=0),
        actor=actor,
        action=action,
        subject=subject,
        detail=json.dumps(dict(detail or {}), sort_keys=True, default=str),
        prev_hash=prev_hash,
        entry_hash="",
    )
    entry.entry_hash = _entry_hash(entry)
    session.add(entry)
    if head is None:
        session.add(AuditHead(id=1, last_id=entry.id, last_hash=entry.entry_hash))
    else:
        head.last_id, head.last_hash = entry.id, entry.entry_hash
    session.flush()
    return entry


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""


def verify(session: Session) -> Verification:
    """Walk the whole chain; name the first entry that does not follow from the last."""
    expected_prev, expected_id, checked = GENESIS_HASH, 1, 0
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
    for entry in rows:
        if entry.id != expected_id:
            return Verification(False, checked, expected_id, f"entry {expected_id} is missing")
        if entry.prev_hash != expected_prev:
            return Verification(False, checked, entry.id, "does not follow the entry before it")
        if _entry_hash(entry) != entry.entry_hash:
            return Verification(False, checked, entry.id, "its content was changed")
        expected_prev, expected_id, checked = entry.entry_hash, expected_id + 1, checked + 1
    head = session.get(AuditHead, 1)
    if head is None and checked:
        return Verification(False, checked, None, "the chain head record is missing")
    if head is not None and (head.last_id != checked or head.last_hash != expected_prev):
        return Verification(False, checked, checked + 1, "entries after the last one were removed")
    return Verification(True, checked)


def count_by_month_and_action(session: Session) -> list[tuple[str, str, int]]:
    """Privileged actions per calendar month and type, for the mechanism review."""
    month = func.substr(func.cast(AuditEntry.occurred_at, String), 1, 7)
    rows = session.execute(
        select(month, AuditEntry.action, func.count())
        .group_by(month, AuditEntry.action)
        .order_by(month, AuditEntry.action)
    )
    return [(m, a, n) for m, a, n in rows]
