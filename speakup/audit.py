"""Append-only, HMAC-chained audit log of privileged actions (DESIGN.md rule 6).

Each entry's hash is an HMAC-SHA256 under a key derived from SPEAKUP_SECRET_KEY
(issue 13, finding 7): someone who can write to the database but does not hold the
secret cannot rewrite the chain and recompute it. Sessions carry the key in
``session.info["audit_key"]`` (see speakup/db.py). Entries written before keying
(``keyed`` false) are still checked as plain SHA-256 and counted, but only as a prefix
sealed by a keyed entry: an unkeyed entry after a keyed one breaks the chain, and so
does a chain with no keyed entry at all unless an exported head vouches for it.
`speakup audit head` prints the head for safekeeping elsewhere; `speakup audit verify
--head` proves the chain still runs through it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, func, or_, select, text
from sqlalchemy.orm import Session

from speakup.clock import Clock, as_utc
from speakup.models import AuditEntry, AuditHead

GENESIS_HASH = "0" * 64
# Arbitrary constant: the PostgreSQL advisory-lock key that serialises appends.
_PG_LOCK_KEY = 0x5A0D17


AUDIT_KEY = "audit_key"

# Every entry written since keying began (migration 0009) is keyed, and the first keyed
# entry's HMAC seals the unkeyed ones before it. A chain with entries but no keyed one is
# therefore a rewrite without the key (or a database where nothing was recorded since
# the upgrade): nothing in the database can tell the two apart, so only an exported head
# naming its last entry can vouch for it (issue 18).
NO_KEYED_ENTRY = (
    "no keyed entry: the whole chain is plain SHA-256, which anyone who can write to the "
    "database can recompute. Every entry written since keying began is keyed, so this "
    "chain was rewritten, unless nothing has been recorded since the upgrade that "
    "introduced keying; then verify it with --head ID:HASH exported before"
)


class AuditKeyError(RuntimeError):
    """A chain holding keyed entries was read without the key."""


def _key(session: Session) -> bytes | None:
    return session.info.get(AUDIT_KEY)


def _entry_hash(entry: AuditEntry, key: bytes | None = None) -> str:
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
    ).encode()
    if entry.keyed:
        if key is None:
            raise AuditKeyError("The audit chain is keyed: this session has no audit key.")
        return hmac.new(key, payload, hashlib.sha256).hexdigest()
    return hashlib.sha256(payload).hexdigest()


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
        keyed=_key(session) is not None,
    )
    entry.entry_hash = _entry_hash(entry, _key(session))
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
    unkeyed: int = 0  # entries from before the chain was keyed


def head(session: Session) -> str:
    """The chain's head as "<id>:<hash>", to be kept somewhere the database is not."""
    row = session.get(AuditHead, 1)
    return f"{row.last_id}:{row.last_hash}" if row else f"0:{GENESIS_HASH}"


def verify(session: Session, exported_head: str | None = None) -> Verification:
    """Walk the whole chain; name the first entry that does not follow from the last.

    With `exported_head` (from `head`, kept elsewhere), also check that the chain still
    runs through that entry with that hash: a rewrite or truncation by someone who
    can write to the database, but not read the key, is caught there. Without it, a
    chain made only of unkeyed entries is refused (see NO_KEYED_ENTRY).
    """
    key = _key(session)
    expected_prev, expected_id, checked, unkeyed, seen_keyed = GENESIS_HASH, 1, 0, 0, False
    head_id, head_hash = _parse_head(exported_head)
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
    for entry in rows:
        if entry.id != expected_id:
            return Verification(False, checked, expected_id, f"entry {expected_id} is missing")
        if entry.prev_hash != expected_prev:
            return Verification(False, checked, entry.id, "does not follow the entry before it")
        if seen_keyed and not entry.keyed:
            return Verification(False, checked, entry.id, "an unkeyed entry after keyed ones")
        if entry.keyed and key is None:
            return Verification(False, checked, entry.id, "the audit key is not available")
        if not hmac.compare_digest(_entry_hash(entry, key), entry.entry_hash):
            return Verification(False, checked, entry.id, "its content was changed")
        if entry.id == head_id and not hmac.compare_digest(entry.entry_hash, head_hash):
            return Verification(False, checked, entry.id,
                                "it differs from the exported head")
        seen_keyed = seen_keyed or entry.keyed
        unkeyed += not entry.keyed
        expected_prev, expected_id, checked = entry.entry_hash, expected_id + 1, checked + 1
    if head_id is not None and head_id > checked:
        return Verification(False, checked, head_id,
                            "the exported head's entry is no longer in the chain")
    head = session.get(AuditHead, 1)
    if head is None and checked:
        return Verification(False, checked, None, "the chain head record is missing")
    if head is not None and (head.last_id != checked or head.last_hash != expected_prev):
        return Verification(False, checked, checked + 1, "entries after the last one were removed")
    if checked and not seen_keyed and head_id != checked:
        return Verification(False, checked, 1, NO_KEYED_ENTRY)
    return Verification(True, checked, unkeyed=unkeyed)


def _parse_head(exported: str | None) -> tuple[int | None, str]:
    if exported is None:
        return None, ""
    number, _, digest = exported.strip().partition(":")
    if not (number.isascii() and number.isdigit() and len(digest) == 64):
        raise ValueError("An exported head looks like 42:<64 hex digits>.")
    return int(number), digest.lower()


def count_by_month_and_action(
    session: Session, actions: Sequence[str]
) -> list[tuple[str, str, int]]:
    """How many of these actions were audited per calendar month, for the mechanism review.

    Only the actions asked for are counted (each exact name, or every name under a
    prefix ending in "."): the review asks only for staff's own changes to the service,
    never for anything whose count follows what reporters or respondents do.
    """
    if not actions:
        return []
    month = func.substr(func.cast(AuditEntry.occurred_at, String), 1, 7)
    wanted = or_(*(AuditEntry.action.startswith(a, autoescape=True) if a.endswith(".")
                   else AuditEntry.action == a for a in actions))
    rows = session.execute(
        select(month, AuditEntry.action, func.count())
        .where(wanted)
        .group_by(month, AuditEntry.action)
        .order_by(month, AuditEntry.action)
    )
    return [(m, a, n) for m, a, n in rows]
