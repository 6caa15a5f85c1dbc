"""A 10 MB upload goes through the real multipart path in flat memory.

The request body is read from a file on disk, so nothing but the application's own
work is in memory; tracemalloc counts every Python allocation the request makes
(werkzeug's parser, the encrypted spool, the cleaning, the sealing, the inserts).
"""

from __future__ import annotations

import secrets
import tracemalloc

from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields
from sqlalchemy import func, select

from concerns.models import ConcernAttachmentChunk

TEN_MB = 10 * 1024 * 1024
# A few 64 KiB blocks and chunks, the parser's buffers, the page: far below the 10 MB
# file, so holding it (or any large part of it) anywhere would break this.
CEILING = 2_000_000


def _write_body(path, fields: dict[str, str], size: int) -> str:
    """Write a multipart body holding `fields` and one `size`-byte text file."""
    boundary = "----speakup" + secrets.token_hex(8)
    line = b"All work and no play makes Jack a dull boy.\n"
    with path.open("wb") as out:
        for name, value in fields.items():
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                      f"\r\n{value}\r\n".encode())
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
                  f'filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\n'.encode())
        written = 0
        while written < size:
            piece = line * min(1500, (size - written) // len(line) + 1)
            piece = piece[: size - written]
            out.write(piece)
            written += len(piece)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}"


def test_a_10_mb_upload_stays_under_a_fixed_memory_ceiling(client, session, recovery_key,
                                                           make_handler, tmp_path):
    make_handler()
    token = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    body = tmp_path / "body"
    content_type = _write_body(body, {"csrf_token": token, "category": "1",
                                      "what_happened": "My notes, ten megabytes of them.",
                                      "what_wanted": ""}, TEN_MB)
    with body.open("rb") as stream:
        tracemalloc.start()
        try:
            response = client.post("/concerns/new", input_stream=stream,
                                   content_type=content_type,
                                   content_length=body.stat().st_size)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "attachment-1.txt" in html
    # The whole file went through: 160 sealed chunks of 64 KiB.
    assert session.scalar(select(func.count()).select_from(ConcernAttachmentChunk)) == 160
    assert peak < CEILING, f"peak {peak} bytes"
