"""Run the cleaning of one untrusted file in its own limited process (concerns/cleaner.py).

The web worker only pipes the file in and the cleaned copy out: it never parses the
file, so a picture, PDF or Office file built to exhaust memory or CPU ends the
cleaning process, and the worker (and its other threads, /healthz among them) carries
on and tells the reporter plainly.

- The file goes to the process's stdin from a thread, 64 KiB at a time, and the cleaned
  copy is read from its stdout into the encrypted spool: no plain temporary file.
- A wall-clock timer kills the process; at most `MAX_OUTPUT_BYTES` are read back.
- At most `CONCURRENT` cleanings run at once in one worker; the others wait for a slot
  for up to `timeout` seconds, then are refused as busy.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from concerns.cleaning_words import TOOK_TOO_LONG, counted
from concerns.errors import N_

WALL_SECONDS = 60.0
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
CONCURRENT = 2
_ROOT = Path(__file__).resolve().parent.parent
_slots = threading.BoundedSemaphore(CONCURRENT)


class CleaningFailedError(Exception):
    """The file was refused by the cleaner, or the cleaner was stopped by a limit."""


@dataclass
class Result:
    content_type: str
    extension: str
    done: list[str]
    peak_kib: int = 0  # the cleaning process's peak resident memory (for bench/)


def _feed(src: BinaryIO, pipe: BinaryIO) -> None:
    try:
        while chunk := src.read(64 * 1024):
            pipe.write(chunk)
    except (BrokenPipeError, OSError, ValueError):
        pass  # the process ended early (refused, or killed): its answer says why
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _read_exactly(pipe: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = pipe.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def clean(kind: str, src: BinaryIO, out: BinaryIO, *, max_input: int,
          wall_seconds: float = WALL_SECONDS) -> Result:
    """Clean `src` (an image, PDF or Office file) into `out` in a cleaning process."""
    if not _slots.acquire(timeout=wall_seconds):
        raise CleaningFailedError(N_("too many files are being cleaned right now"))
    try:
        return _run(kind, src, out, max_input, wall_seconds)
    finally:
        _slots.release()


def _run(kind: str, src: BinaryIO, out: BinaryIO, max_input: int,
         wall_seconds: float) -> Result:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(_ROOT)}
    process = subprocess.Popen(  # noqa: S603 - our own module, no shell
        [sys.executable, "-m", "concerns.cleaner", kind, str(max_input)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        cwd=_ROOT, env=env, close_fds=True)
    assert process.stdin is not None and process.stdout is not None
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        process.kill()

    timer = threading.Timer(wall_seconds, kill)
    feeder = threading.Thread(target=_feed, args=(src, process.stdin), daemon=True)
    timer.start()
    feeder.start()
    try:
        length = _read_exactly(process.stdout, 4)
        if len(length) < 4:
            raise CleaningFailedError(_stopped(process, killed, wall_seconds))
        (size,) = struct.unpack(">I", length)
        if size > MAX_HEADER_BYTES:
            raise CleaningFailedError(N_("the cleaning gave an answer that makes no sense"))
        header = json.loads(_read_exactly(process.stdout, size) or b"{}")
        if "refused" in header:
            raise CleaningFailedError(str(header["refused"]))
        body_size = int(header["size"])
        if body_size > MAX_OUTPUT_BYTES:
            raise CleaningFailedError(N_("its cleaned copy would be far too large"))
        left = body_size
        while left:
            chunk = process.stdout.read(min(left, 64 * 1024))
            if not chunk:
                raise CleaningFailedError(_stopped(process, killed, wall_seconds))
            out.write(chunk)
            left -= len(chunk)
        return Result(str(header["type"]), str(header["ext"]), list(header["done"]),
                      int(header.get("peak_kib", 0)))
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        feeder.join()


def _stopped(process: subprocess.Popen[bytes], killed: threading.Event,
             wall_seconds: float) -> str:
    process.wait()
    if killed.is_set():
        return counted(TOOK_TOO_LONG, round(wall_seconds))
    return N_("cleaning it needed more memory or time than allowed")
