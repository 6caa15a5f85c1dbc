"""Attached files: cleaned (concerns/attachments.py), sealed in chunks, stored, streamed.

Each file gets a fresh key. The key, the cleaned file's name, type and size and what
was removed travel inside the message's encrypted body (as JSON under "attachments"),
so the file is readable by exactly the message's readers. The chunks are stored one
row each and written and read one at a time, so memory stays flat.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from concerns import attachments, crypto
from concerns.errors import N_
from concerns.models import ConcernAttachmentChunk

_INSERT_CHUNK = insert(ConcernAttachmentChunk.__table__)


@dataclass
class PreparedFile:
    """A cleaned file with its fresh key, ready to seal into the store."""

    number: int
    cleaned: attachments.CleanedFile
    key: bytes

    @property
    def name(self) -> str:
        # A neutral name: the reporter's own file name may say who they are.
        return f"attachment-{self.number}{self.cleaned.extension}"


@dataclass(frozen=True)
class AttachmentInfo:
    """What a reader is shown of one attachment (never its key)."""

    number: int
    name: str
    content_type: str
    size: int
    removed: tuple[str, ...]


def prepare(uploads: list[tuple[BinaryIO, str]], *, max_files: int,
            max_bytes: int) -> list[PreparedFile]:
    """Check the count and sizes, clean every file; close them all if any is refused."""
    if len(uploads) > max_files:
        raise attachments.AttachmentRefusedError(
            N_("Attach at most %(most)s files (you chose %(chosen)s)."), most=max_files,
            chosen=len(uploads))
    prepared: list[PreparedFile] = []
    try:
        for number, (stream, filename) in enumerate(uploads, start=1):
            stream.seek(0, 2)
            if stream.tell() > max_bytes:
                raise attachments.AttachmentRefusedError(
                    N_("“%(name)s” is larger than %(size)s."), name=filename,
                    size=size_text(max_bytes))
            stream.seek(0)
            cleaned = attachments.clean(stream, filename)
            prepared.append(PreparedFile(number, cleaned, crypto.new_file_key()))
    except Exception:
        close(prepared)
        raise
    return prepared


def close(prepared: list[PreparedFile]) -> None:
    for item in prepared:
        item.cleaned.file.close()


def body_entry(prepared: list[PreparedFile]) -> str:
    """The JSON kept in the message body: per file its key and what a reader is shown."""
    return json.dumps([
        {"n": p.number, "name": p.name, "type": p.cleaned.content_type,
         "size": p.cleaned.size, "removed": p.cleaned.removed,
         "key": base64.b64encode(p.key).decode("ascii")}
        for p in prepared
    ])


def _aad(concern_id: str, seq: int, number: int) -> bytes:
    return f"speakup-attachment:{concern_id}:{seq}:{number}".encode()


def store(session: Session, concern_id: str, seq: int, prepared: list[PreparedFile]) -> None:
    """Seal each file chunk by chunk into `concern_attachment_chunks`."""
    conn = session.connection()
    for item in prepared:
        item.cleaned.file.seek(0)
        chunks = crypto.seal_chunks(item.cleaned.file.read, item.key,
                                    _aad(concern_id, seq, item.number))
        for index, data in enumerate(chunks):
            conn.execute(_INSERT_CHUNK, {"concern_id": concern_id, "seq": seq,
                                         "number": item.number, "chunk": index, "data": data})


def listed(body: dict[str, str] | None) -> list[AttachmentInfo]:
    """The attachments a decrypted message body names (empty if none)."""
    if not body or not body.get("attachments"):
        return []
    return [AttachmentInfo(int(e["n"]), str(e["name"]), str(e["type"]), int(e["size"]),
                           tuple(e.get("removed", ())))
            for e in json.loads(body["attachments"])]


def key_of(body: dict[str, str], number: int) -> bytes | None:
    for entry in json.loads(body.get("attachments") or "[]"):
        if int(entry["n"]) == number:
            return base64.b64decode(entry["key"])
    return None


def stream(session: Session, concern_id: str, seq: int, number: int,
           key: bytes) -> Iterator[bytes]:
    """Decrypt one file's chunks in order, one at a time, as a response is sent.

    Each chunk is read in its own short transaction, ended before the chunk goes out:
    a slow download must not hold SQLite's write lock (every transaction there takes
    it), and a PostgreSQL server-side cursor would not outlive the commit that keeps
    the download's audit entry. Only reads happen here, so ending them loses nothing.
    """
    query = select(ConcernAttachmentChunk.data).where(
        ConcernAttachmentChunk.concern_id == concern_id, ConcernAttachmentChunk.seq == seq,
        ConcernAttachmentChunk.number == number)

    def chunks() -> Iterator[bytes]:
        index = 0
        while (data := session.scalar(
                query.where(ConcernAttachmentChunk.chunk == index))) is not None:
            session.rollback()
            yield data
            index += 1
        session.rollback()

    return crypto.open_chunks(chunks(), key, _aad(concern_id, seq, number))


def size_text(size: int) -> str:
    """A size limit as people read it: whole megabytes, else kilobytes."""
    mb = 1024 * 1024
    return f"{size // mb} MB" if size % mb == 0 else f"{max(1, size // 1024)} KB"
