"""The publication log: every publication signed, chained to the one before, never rewritten.

Each entry is a *header* (canonical JSON: seq, the previous entry's SHA-256, kind, ref,
date, what it replaces, the payload's SHA-256, the signing key's fingerprint) signed
with the organisation's Ed25519 key, plus the payload (canonical JSON). An entry's hash
is the SHA-256 of its header text, and the next header carries it, so removing,
reordering or replaying an entry breaks the chain. A correction is a new entry whose
``replaces`` names the entry it corrects; database triggers refuse UPDATE and DELETE.

Key changes are entries too (kind ``signing-key``): the first is signed by the key it
introduces; each later one is signed by the key before it and carries the new key's
own signature over the pair (proof that whoever endorses it holds it). A verifier that
trusts one fingerprint anywhere in that chain can therefore trust the whole chain.

Sessions without the signing seal key (a bare session factory in a script) do not sign:
`record` returns None and the publication stays unlogged until `speakup publications
sign-past` (the app's sessions always carry the key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from speakup import signing
from speakup.clock import Clock
from speakup.models import PublicationLogEntry, SigningKey

GENESIS = "0" * 64
HEADER_FORMAT = "speakup-publication/1"
FILE_FORMAT = "speakup-signed-publication/1"
LOG_FORMAT = "speakup-publication-log/1"
KEY_KIND = "signing-key"
SURVEY_ROUND = "survey-round"
CONCERN_QUARTER = "concern-quarter"
PROGRESS_REPORT = "progress-report"
KINDS = (KEY_KIND, SURVEY_ROUND, CONCERN_QUARTER, PROGRESS_REPORT)
PROOF_PURPOSE = "speakup-signing-key-proof"
# Arbitrary constant: the PostgreSQL advisory-lock key that serialises appends.
_PG_LOCK_KEY = 0x5A0D19


class LogError(RuntimeError):
    """An entry cannot be appended (unknown kind, a duplicate, a bad correction)."""


def _lock(session: Session) -> None:
    # Two publications stored at once must not both extend the same tail (SQLite's
    # BEGIN IMMEDIATE already serialises writers).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def _tail(session: Session) -> tuple[int, str]:
    last = session.scalar(select(PublicationLogEntry)
                          .order_by(PublicationLogEntry.seq.desc()).limit(1))
    return (0, GENESIS) if last is None else (last.seq, last.entry_hash)


def signed_entry(*, seq: int, prev: str, kind: str, ref: str, payload: Any,
                 published_on: dt.date, replaces: int | None, signer_fingerprint: str,
                 private: Ed25519PrivateKey) -> dict[str, str]:
    """Build one signed entry: the header and payload texts, the signature, the hash."""
    payload_text = signing.canonical(payload)
    header = signing.canonical({
        "format": HEADER_FORMAT,
        "seq": seq,
        "prev": prev,
        "kind": kind,
        "ref": ref,
        "published_on": published_on.isoformat(),
        "replaces": replaces,
        "payload_sha256": hashlib.sha256(payload_text.encode()).hexdigest(),
        "key": signer_fingerprint,
    })
    return {"header": header, "signature": signing.b64(private.sign(header.encode())),
            "payload": payload_text, "entry_hash": hashlib.sha256(header.encode()).hexdigest()}


def _append(session: Session, *, kind: str, ref: str, payload: Any, published_on: dt.date,
            replaces: int | None, signer: SigningKey,
            private: Ed25519PrivateKey) -> PublicationLogEntry:
    seq, prev = _tail(session)
    signed = signed_entry(seq=seq + 1, prev=prev, kind=kind, ref=ref, payload=payload,
                          published_on=published_on, replaces=replaces,
                          signer_fingerprint=signer.fingerprint, private=private)
    entry = PublicationLogEntry(seq=seq + 1, kind=kind, ref=ref, **signed)
    session.add(entry)
    session.flush()
    return entry


def key_change_payload(new_private: Ed25519PrivateKey, previous: str | None) -> dict[str, Any]:
    """What a key change says: the new key, the one before it, and the new key's proof."""
    raw = new_private.public_key().public_bytes_raw()
    fp = signing.fingerprint(raw)
    proof = new_private.sign(signing.canonical(
        {"purpose": PROOF_PURPOSE, "fingerprint": fp, "previous": previous}).encode())
    return {"fingerprint": fp, "public_key": signing.b64(raw), "previous": previous,
            "proof": signing.b64(proof)}


def _start_key(session: Session, today: dt.date, previous: SigningKey | None) -> SigningKey:
    _lock(session)
    old_private = signing.private_key(session, previous) if previous else None
    row, private = signing.new_key(session, today)
    signer, signer_private = (previous, old_private) if previous and old_private else (row, private)
    _append(session, kind=KEY_KIND, ref=row.fingerprint,
            payload=key_change_payload(private, previous.fingerprint if previous else None),
            published_on=today,
            replaces=None, signer=signer, private=signer_private)
    return row


def init_signing_key(session: Session, clock: Clock) -> SigningKey | None:
    """Make the organisation's first signing key; None if one exists. Never commits."""
    _lock(session)
    if signing.active_key(session) is not None:
        return None
    return _start_key(session, clock.today(), None)


def rotate_signing_key(session: Session, clock: Clock) -> SigningKey:
    """Make a new key, endorsed in the log by the current one. Never commits."""
    _lock(session)
    current = signing.active_key(session)
    if current is None:
        raise LogError("There is no signing key to rotate: run `speakup keys init-signing`.")
    return _start_key(session, clock.today(), current)


def record(session: Session, *, kind: str, ref: str, payload: Any, published_on: dt.date,
           replaces: int | None = None) -> PublicationLogEntry | None:
    """Sign `payload` and append it; make the first key if there is none. Never commits.

    None (nothing signed) only for a session without the signing seal key. A kind and
    ref already logged must name the entry it corrects in `replaces`.
    """
    if kind not in KINDS or kind == KEY_KIND:
        raise LogError(f"{kind!r} is not a kind of publication.")
    if signing.SEAL_KEY not in session.info:
        return None
    _lock(session)
    signer = signing.active_key(session)
    if signer is None:
        signer = _start_key(session, published_on, None)
    earlier = session.scalars(select(PublicationLogEntry.seq).where(
        PublicationLogEntry.kind == kind, PublicationLogEntry.ref == ref)).all()
    if replaces is None and earlier:
        raise LogError(f"{kind} {ref} is already published (entry {max(earlier)}): a "
                       "correction must name the entry it replaces.")
    if replaces is not None and replaces not in earlier:
        raise LogError(f"Entry {replaces} is not a {kind} {ref}: a correction replaces an "
                       "earlier publication of the same thing.")
    return _append(session, kind=kind, ref=ref, payload=payload, published_on=published_on,
                   replaces=replaces, signer=signer, private=signing.private_key(session, signer))


def is_logged(session: Session, kind: str, ref: str) -> bool:
    return bool(session.scalar(select(func.count()).select_from(PublicationLogEntry).where(
        PublicationLogEntry.kind == kind, PublicationLogEntry.ref == ref)))


def entries(session: Session) -> list[PublicationLogEntry]:
    return list(session.scalars(select(PublicationLogEntry).order_by(PublicationLogEntry.seq)))


def entry(session: Session, seq: int) -> PublicationLogEntry | None:
    return session.get(PublicationLogEntry, seq)


def latest(session: Session, kind: str) -> PublicationLogEntry | None:
    return session.scalar(select(PublicationLogEntry).where(PublicationLogEntry.kind == kind)
                          .order_by(PublicationLogEntry.seq.desc()).limit(1))


def _signed(row: PublicationLogEntry, *, with_payload: bool) -> dict[str, str]:
    out = {"header": row.header, "signature": row.signature}
    if with_payload:
        out["payload"] = row.payload
    return out


def _key_entries(session: Session, up_to: int | None = None) -> list[dict[str, str]]:
    query = select(PublicationLogEntry).where(PublicationLogEntry.kind == KEY_KIND)
    if up_to is not None:
        query = query.where(PublicationLogEntry.seq <= up_to)
    return [_signed(r, with_payload=True)
            for r in session.scalars(query.order_by(PublicationLogEntry.seq))]


def signed_file(session: Session, row: PublicationLogEntry) -> dict[str, Any]:
    """One publication as a file anyone can verify offline: its entry plus the key chain."""
    return {"format": FILE_FORMAT, **_signed(row, with_payload=True),
            "keys": _key_entries(session, row.seq)}


def log_document(session: Session) -> dict[str, Any]:
    """The whole log: every header and signature (payloads only for key changes)."""
    return {"format": LOG_FORMAT,
            "entries": [_signed(r, with_payload=r.kind == KEY_KIND) for r in entries(session)]}


def key_document(session: Session) -> dict[str, Any] | None:
    """The active key as JSON: fingerprint, PEM, and the log entries that vouch for it."""
    row = signing.active_key(session)
    if row is None:
        return None
    return {"fingerprint": row.fingerprint, "fingerprint_grouped": signing.grouped(row.fingerprint),
            "algorithm": "Ed25519", "created_on": row.created_on.isoformat(),
            "public_key_pem": signing.public_pem(row), "keys": _key_entries(session)}
