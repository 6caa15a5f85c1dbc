"""The encrypted spool behaves like a file, and what it writes to disk is sealed."""

from __future__ import annotations

import io
import os
import random

import pytest

from concerns import spool


def test_random_reads_writes_and_seeks_match_a_plain_file():
    rng = random.Random(11)
    sealed, model = spool.spooled(), io.BytesIO()
    for _ in range(400):
        position = rng.randrange(0, 5 * spool.BLOCK_BYTES)
        for f in (sealed, model):
            f.seek(position)
        if rng.random() < 0.6:
            data = os.urandom(rng.randrange(1, 3 * spool.BLOCK_BYTES // 2))
            assert sealed.write(data) == model.write(data)
        else:
            size = rng.randrange(1, 2 * spool.BLOCK_BYTES)
            assert sealed.read(size) == model.read(size)
    for f in (sealed, model):
        f.seek(0)
    assert sealed.read() == model.getvalue()
    assert sealed.seek(0, io.SEEK_END) == len(model.getvalue())
    sealed.truncate(100)
    sealed.seek(spool.BLOCK_BYTES * 2)
    sealed.write(b"end")
    sealed.seek(0)
    assert sealed.read() == model.getvalue()[:100] + bytes(2 * spool.BLOCK_BYTES - 100) + b"end"
    sealed.close()


def test_a_block_written_again_is_sealed_under_a_fresh_nonce():
    sealed = spool.spooled()
    sealed.write(b"A" * (2 * spool.BLOCK_BYTES))
    sealed.flush()
    disk = sealed.raw._disk
    disk.seek(0)
    first = disk.read(spool._SLOT_BYTES)
    sealed.seek(0)
    sealed.write(b"B")
    sealed.seek(spool.BLOCK_BYTES + 1)  # move on, so block 0 is sealed again
    sealed.read(1)
    disk.seek(0)
    second = disk.read(spool._SLOT_BYTES)
    assert b"AAAA" not in first and b"BAAA" not in second
    assert first[:12] != second[:12]  # two versions never share a nonce (no keystream reuse)
    sealed.seek(0)
    assert sealed.read(2) == b"BA"
    sealed.close()


def test_one_block_never_touches_the_disk_and_a_closed_spool_refuses_work():
    sealed = spool.spooled()
    sealed.write(b"x" * spool.BLOCK_BYTES)
    sealed.flush()
    assert sealed.raw._disk is None
    with pytest.raises(io.UnsupportedOperation):
        sealed.fileno()
    sealed.close()
    with pytest.raises(ValueError, match="closed"):
        sealed.read()
