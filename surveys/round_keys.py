"""Each open round's private key: one 0600 file outside the database, destroyed at publication.

Crypto-shredding (README "Raw answers are crypto-shredded"). When a round opens, it
gets its own X25519 key pair: the public key goes on the round row (every web host
seals answers to it), the private key only into a file of the key folder
(``SPEAKUP_ROUND_KEYS_PATH``, default ``<instance>/round-keys``, mode 0700):
``round-<id>-<fingerprint>.key``, 32 raw bytes, mode 0600. The fingerprint (the first
8 bytes of SHA-256 over the public key, in hex) ties the file to the key on the row,
so two processes opening the same round at once never overwrite each other's file:
the one whose conditional UPDATE loses discards its own.

No copy of the database holds a private key, so once the file is destroyed every
sealed response of that round — in the table, in PostgreSQL's WAL and free space, in
any backup or replica — is ciphertext nobody can open. Destruction overwrites the
file with random bytes, fsyncs, unlinks it and fsyncs the folder, only after the
transaction that stored the publication (or purged the raw rows) has committed: a
rollback keeps the key, so the round can still be published.

Limit, stated in the README: overwriting in place is what a file system offers; on
copy-on-write or journalling-data file systems and SSDs an old block may survive
until reused. The unlink is what makes the key unreachable through the file system.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from speakup.settings import Settings

__all__ = [
    "NewRoundKey",
    "RoundKeyFolder",
    "RoundKeyMissing",
    "destroy_after_commit",
    "destruction_pending",
    "public_bytes",
]

KEY_BYTES = 32
_PENDING = "surveys.round_keys_to_destroy"
_LISTENING = "surveys.round_keys_listening"


class RoundKeyMissing(Exception):
    """A round's private key file is not where it is expected (or does not match the round)."""


def public_bytes(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class NewRoundKey:
    """A key pair just written to its file, not yet bound to its round row."""

    folder: RoundKeyFolder
    round_id: int
    public_key: bytes

    def discard(self) -> None:
        """Destroy the file: another process opened the round first."""
        self.folder.destroy(self.round_id, self.public_key)


@dataclass(frozen=True)
class RoundKeyFolder:
    """The folder holding open rounds' private keys (one file each)."""

    path: Path

    @classmethod
    def of(cls, settings: Settings) -> RoundKeyFolder:
        return cls(settings.round_keys_folder)

    def file_for(self, round_id: int, public_key: bytes) -> Path:
        return self.path / f"round-{round_id}-{fingerprint(public_key)}.key"

    def create(self, round_id: int) -> NewRoundKey:
        """Make a key pair for a round; write the private key (0600, fsynced) and return it."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = X25519PrivateKey.generate()
        public = public_bytes(private)
        target = self.file_for(round_id, public)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, private.private_bytes_raw())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        _fsync_folder(self.path)
        return NewRoundKey(self, round_id, public)

    def load(self, round_id: int, public_key: bytes | None) -> X25519PrivateKey:
        """Return the round's private key; RoundKeyMissing says where it was expected."""
        if public_key is None:
            raise RoundKeyMissing(
                f"Round {round_id} has no public key: it never opened with sealed answers.")
        target = self.file_for(round_id, public_key)
        try:
            raw = target.read_bytes()
        except FileNotFoundError:
            raise RoundKeyMissing(
                f"The private key of round {round_id} is not at {target}: its answers can "
                "only be read on the host that holds the round key folder "
                "(SPEAKUP_ROUND_KEYS_PATH). Run publication there, or restore the folder "
                "from its backup.") from None
        private = X25519PrivateKey.from_private_bytes(raw) if len(raw) == KEY_BYTES else None
        if private is None or public_bytes(private) != public_key:
            raise RoundKeyMissing(f"{target} does not hold round {round_id}'s private key.")
        return private

    def holds(self, round_id: int, public_key: bytes | None) -> bool:
        return public_key is not None and self.file_for(round_id, public_key).exists()

    def destroy(self, round_id: int, public_key: bytes) -> bool:
        """Overwrite, fsync and unlink the key file, then fsync the folder; False if absent."""
        target = self.file_for(round_id, public_key)
        try:
            descriptor = os.open(target, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            size = os.fstat(descriptor).st_size
            os.write(descriptor, secrets.token_bytes(max(size, KEY_BYTES)))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        target.unlink()
        _fsync_folder(self.path)
        return True


def _fsync_folder(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- destroying once the transaction has committed ------------------------------------


def destroy_after_commit(session: Session, folder: RoundKeyFolder, round_id: int,
                         public_key: bytes | None) -> None:
    """Destroy the round's key file once this session's outermost transaction commits.

    A rollback (the publication failed) forgets the request and keeps the key, so the
    round can be published again. Destroying before the commit would risk a round that
    is still ``closed`` with answers nobody can read any more.
    """
    if public_key is None:
        return
    session.info.setdefault(_PENDING, []).append((folder, round_id, public_key))
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _destroy_pending)
        event.listen(session, "after_transaction_end", _forget_pending)


def destruction_pending(session: Session) -> list[tuple[int, bytes]]:
    """The (round id, public key) pairs whose key files wait for this session's commit."""
    return [(round_id, key) for _folder, round_id, key in session.info.get(_PENDING, [])]


def _destroy_pending(session: Session) -> None:
    # after_commit also fires when a savepoint is released: wait for the real commit.
    if session.get_nested_transaction() is not None:
        return
    for folder, round_id, public_key in session.info.pop(_PENDING, []):
        folder.destroy(round_id, public_key)


def _forget_pending(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    # Still there when the outermost transaction ends: it rolled back, keep the keys.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
