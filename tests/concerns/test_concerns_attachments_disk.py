"""An attacker who reads the server's disk never finds an uploaded file in plain text.

Against a real gunicorn server whose TMPDIR is a folder of this test: while a large
upload is half sent, and again after it was stored, every file under TMPDIR and the
instance folder, and every file the workers hold open (deleted temporary files too,
through /proc), is searched for a marker the uploaded files carry.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import io
import os
import re
import secrets
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import TEST_SECRET, add_concern_reader
from PIL import Image

from concerns import attachments, keys, spool
from concerns.config import ConcernConfig
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings

MARKER = b"spoolneedle-" + secrets.token_hex(6).encode()
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _forms(marker: bytes) -> list[bytes]:
    """The marker as it may sit in a file: UTF-8, and UTF-16 either way round."""
    text = marker.decode()
    return [marker, text.encode("utf-16-le"), text.encode("utf-16-be")]


def _noisy_jpeg_with_marker(marker: bytes) -> bytes:
    """A JPEG over 1 MB (noise does not compress) whose EXIF names the marker and a place."""
    image = Image.frombytes("RGB", (1000, 1000), os.urandom(1000 * 1000 * 3))
    exif = Image.Exif()
    exif[0x010E] = marker.decode()  # image description
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=98, exif=exif)
    data = out.getvalue()
    assert len(data) > 1_000_000 and marker in data
    return data


def _text_with_marker(marker: bytes, size: int = 2_000_000) -> bytes:
    line = b"Monday 9:40, ward 7: " + marker + b" said it again.\n"
    return line * (size // len(line) + 1)


def _multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = "----speakup" + secrets.token_hex(8)
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  f"{value}\r\n".encode())
    for name, filename, content in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                  f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                  .encode())
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _open_files(pids: list[int]) -> dict[str, bytes]:
    """Every regular file the processes hold open, read through /proc (even if deleted)."""
    found = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
                if not target.startswith("/"):
                    continue  # sockets, pipes
                with open(fd, "rb") as handle:  # noqa: PTH123 - a /proc descriptor link
                    found[f"{pid}:{target}"] = handle.read()
            except (FileNotFoundError, PermissionError, IsADirectoryError, OSError):
                continue  # closed meanwhile, or not a readable file
    return found


def _files_under(*folders: Path) -> dict[str, bytes]:
    found = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                found[str(path)] = path.read_bytes()
    return found


def _holding_marker(files: dict[str, bytes]) -> list[str]:
    return [name for name, data in files.items() if any(f in data for f in _forms(MARKER))]


@pytest.fixture
def server(live_server, fresh_database_url, tmp_path):
    """gunicorn with TMPDIR in this test's folder, on a database with a recovery key."""
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET)
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        keys.create_recovery_key(session, SystemClock(), ConcernConfig.from_settings(settings),
                                 actor="test")
        add_concern_reader(session, SystemClock(), ConcernConfig.from_settings(settings))
    engine.dispose()
    temp = tmp_path / "tmp"
    temp.mkdir()
    return live_server(workers=2, threads=2, TMPDIR=str(temp)), temp, tmp_path / "instance"


def test_the_scan_finds_a_marker_in_a_deleted_plain_temporary_file(tmp_path):
    # The scan's own check: a plain temporary file (what werkzeug used to spool to) is
    # found through /proc although it has no name; the encrypted spool is not.
    plain = open(tmp_path / "plain", "w+b")  # noqa: SIM115, PTH123
    plain.write(_text_with_marker(MARKER, 200_000))
    plain.flush()
    os.unlink(tmp_path / "plain")  # noqa: PTH108
    sealed = spool.spooled()
    sealed.write(_text_with_marker(MARKER, 200_000))
    sealed.flush()
    try:
        held = _open_files([os.getpid()])
        assert len(_holding_marker(held)) == 1
        disk = sealed.raw._disk  # the spool's own temporary file: on disk, and sealed
        spooled = f"{os.getpid()}:{os.readlink(f'/proc/self/fd/{disk.fileno()}')}"
        assert len(held[spooled]) > 150_000 and spooled not in _holding_marker(held)
    finally:
        plain.close()
        sealed.close()


def test_a_large_upload_never_reaches_the_disk_in_plain_text(server):
    live, temp, instance = server
    jpeg, text = _noisy_jpeg_with_marker(MARKER), _text_with_marker(MARKER)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(live.url + "/concerns/new", timeout=30) as response:
        token = TOKEN.search(response.read().decode()).group(1)
    body, content_type = _multipart(
        {"csrf_token": token, "category": "1", "what_happened": "Photos and my notes.",
         "what_wanted": ""},
        [("attachments", "IMG_0001.jpg", jpeg), ("attachments", "notes.txt", text)])
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    host = urllib.parse.urlsplit(live.url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=120)
    conn.putrequest("POST", "/concerns/new")
    conn.putheader("Content-Type", content_type)
    conn.putheader("Content-Length", str(len(body)))
    conn.putheader("Cookie", cookie)
    conn.endheaders()
    # Given: all but the last 300 KB sent, so the server is spooling the files now.
    conn.send(body[:-300_000])
    workers = _workers(live.process.pid)
    deadline = time.monotonic() + 60
    while True:
        held = _open_files(workers)
        spooled = [n for n, data in held.items() if n.split(":", 1)[1].startswith(str(temp))
                   and len(data) > 1_000_000]
        if spooled or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # Then: the upload is on disk (over 1 MB in TMPDIR), but not one copy of the marker.
    assert spooled, sorted(held)
    assert _holding_marker(held) == []
    assert _holding_marker(_files_under(temp, instance)) == []

    # When the rest arrives, the concern is stored with both files.
    conn.send(body[-300_000:])
    response = conn.getresponse()
    html = response.read().decode()
    conn.close()
    assert response.status == 200, html[:2000]
    assert "attachment-1.jpg" in html and "attachment-2.txt" in html
    # Then: nowhere on disk, nor in any file a worker still holds, is the marker.
    assert _holding_marker(_files_under(temp, instance)) == []
    assert _holding_marker(_open_files(workers)) == []
    assert "Traceback" not in live.log()


@pytest.mark.parametrize("kind", ["text", "jpeg"])
def test_the_cleaned_copy_is_sealed_on_disk_too(kind, tmp_path):
    # The cleaned copy of a text file is the file itself, marker and all: it must be
    # sealed like the upload. (The JPEG's copy loses the marker with its EXIF; its
    # original, read from a sealed spool, must leave no plain copy either.)
    data = _text_with_marker(MARKER) if kind == "text" else _noisy_jpeg_with_marker(MARKER)
    upload = spool.spooled()
    upload.write(data)
    upload.seek(0)
    with upload, attachments.clean(upload, "file") as cleaned:
        assert cleaned.size > 500_000
        held = _open_files([os.getpid()])
        assert _holding_marker(held) == []
        assert sum(len(d) for n, d in held.items() if "(deleted)" in n) > 1_500_000
        assert (MARKER in cleaned.file.read()) == (kind == "text")  # and yet readable
