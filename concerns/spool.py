"""Temporary files that never hold plain text on disk: uploads and their cleaned copies.

Werkzeug spools a large file part to a plain temporary file, and cleaning a file needs
somewhere seekable to write the copy; either way the reporter's file (GPS data and all)
would reach the disk unencrypted before it is sealed, and a deleted file's blocks can be
read back from the disk. An `EncryptedSpool` keeps the data in 64 KiB blocks, each
sealed with ChaCha20-Poly1305 under a random key that lives only in this object's
memory, so what lands in the temporary file is unreadable once the process lets go of
the key. The key is never written anywhere.

A block is sealed again, under a fresh random nonce, every time it is written back (a
zip writer seeks back to patch headers, for instance): a nonce is never used twice
with the key, so two versions of a block reveal nothing of each other. One block at a
time is held in plain text, so memory stays flat whatever the file's size; a file of
a single block never touches the disk at all.
"""

from __future__ import annotations

import io
import secrets
import tempfile
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

BLOCK_BYTES = 64 * 1024
_NONCE_BYTES = 12
_TAG_BYTES = 16
_SLOT_BYTES = _NONCE_BYTES + BLOCK_BYTES + _TAG_BYTES
# What BufferedRandom keeps in memory above the raw spool (plain text, never on disk).
_BUFFER_BYTES = 16 * 1024


class EncryptedSpool(io.RawIOBase):
    """A readable, writable, seekable file whose contents are encrypted on disk."""

    def __init__(self) -> None:
        super().__init__()
        self._cipher = ChaCha20Poly1305(ChaCha20Poly1305.generate_key())
        self._disk: BinaryIO | None = None  # made when a second block is needed
        self._stored: set[int] = set()  # blocks sealed on disk
        self._index = 0  # the block held in `_block`
        self._block = bytearray(BLOCK_BYTES)
        self._dirty = False
        self._pos = 0
        self._size = 0

    # -- io.RawIOBase

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        self._check_open()
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        done = 0
        while done < want:
            index, start = divmod(self._pos, BLOCK_BYTES)
            self._hold(index)
            step = min(want - done, BLOCK_BYTES - start)
            view[done:done + step] = self._block[start:start + step]
            done += step
            self._pos += step
        return done

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._check_open()
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            index, start = divmod(self._pos, BLOCK_BYTES)
            self._hold(index)
            step = min(len(view) - done, BLOCK_BYTES - start)
            self._block[start:start + step] = view[done:done + step]
            self._dirty = True
            done += step
            self._pos += step
            self._size = max(self._size, self._pos)
        return done

    def truncate(self, size: int | None = None) -> int:
        self._check_open()
        size = self._pos if size is None else size
        if size < self._size:
            # What lies past the new end must read as zeros if the file grows again.
            index, start = divmod(size, BLOCK_BYTES)
            self._hold(index)
            self._block[start:] = bytes(BLOCK_BYTES - start)
            self._dirty = True
            self._stored = {i for i in self._stored if i <= index}
        self._size = size
        return size

    def close(self) -> None:
        if not self.closed:
            if self._disk is not None:
                self._disk.close()
            self._block = bytearray()  # the plain-text block goes with the key
        super().close()

    def fileno(self) -> int:
        # A descriptor would let a library read the sealed bytes as if they were the file.
        raise io.UnsupportedOperation("an encrypted spool has no plain file descriptor")

    # -- blocks

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    def _hold(self, index: int) -> None:
        """Make block `index` the one in memory, sealing the one held before if changed."""
        if index == self._index:
            return
        if self._dirty:
            self._seal(self._index)
        self._index = index
        self._dirty = False
        if index in self._stored:
            assert self._disk is not None
            self._disk.seek(index * _SLOT_BYTES)
            slot = self._disk.read(_SLOT_BYTES)
            self._block = bytearray(self._cipher.decrypt(
                slot[:_NONCE_BYTES], slot[_NONCE_BYTES:], _aad(index)))
        else:
            self._block = bytearray(BLOCK_BYTES)

    def _seal(self, index: int) -> None:
        if self._disk is None:
            self._disk = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        self._disk.seek(index * _SLOT_BYTES)
        self._disk.write(nonce + self._cipher.encrypt(nonce, bytes(self._block), _aad(index)))
        self._stored.add(index)


def _aad(index: int) -> bytes:
    return index.to_bytes(8, "big")


def spooled() -> io.BufferedRandom:
    """A fresh encrypted temporary file, buffered like `open(..., "w+b")`."""
    return io.BufferedRandom(EncryptedSpool(), buffer_size=_BUFFER_BYTES)
