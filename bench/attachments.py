"""Benchmark concern uploads with 1, 5 and 10 MB attachments through gunicorn.

    .venv/bin/python bench/attachments.py [--backends sqlite,postgresql] [--rounds 3]

For each database: starts Speak Up under gunicorn with one worker and one thread (so
the worker's memory is that of one upload at a time), then sends new concerns each
carrying one file — plain text, and a JPEG of camera-like noise (which hardly
compresses) — of about 1, 5 and 10 MB. Prints the median time of the POST (upload,
spool, clean, seal, store, receipt page) and the worker's peak resident memory during
it (VmHWM, reset before each upload through /proc/PID/clear_refs), next to its
resident memory before.

Figures only: this is not a test and asserts nothing about speed or size.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# As in bench/concerns.py: bench/ first on the path would shadow the `concerns` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from bench.concerns import SECRET, Server, new_database, prepare, serve  # noqa: E402

MB = 1024 * 1024
SIZES = (1, 5, 10)
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def text_file(megabytes: int) -> bytes:
    line = b"Monday 9:40, ward 7: it was said again in front of everyone.\n"
    return (line * (megabytes * MB // len(line) + 1))[: megabytes * MB]


def jpeg_file(megabytes: int) -> bytes:
    """Noise as a JPEG of about `megabytes` (about 1.6 bytes a pixel at quality 98)."""
    side = int((megabytes * MB / 1.6) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=98)
    return out.getvalue()


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _worker(server: Server) -> int:
    master = server.process.pid
    return int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])


def upload(base: str, name: str, content: bytes) -> float:
    """Send one concern with one file like a browser (form, then POST); seconds of the POST."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(base + "/concerns/new", timeout=60) as response:
        token = TOKEN.search(response.read().decode()).group(1)
    boundary = "----bench" + secrets.token_hex(8)
    body = io.BytesIO()
    for field, value in (("csrf_token", token), ("category", "1"),
                         ("what_happened", "The photos and notes are attached."),
                         ("what_wanted", "")):
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'
                   f"{value}\r\n".encode())
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
               f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
    body.write(content + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
        base + "/concerns/new", data=body.getvalue(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    started = time.perf_counter()
    with opener.open(request, timeout=300) as response:
        page = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200 or b"attachment-1" not in page:
        raise RuntimeError(f"upload refused: {response.status}")
    return elapsed


def bench_backend(backend: str, rounds: int) -> None:
    print(f"\n=== {backend} ===")
    print(f"{'file':<16} {'bytes':>10} {'POST p50':>10} {'RSS before':>11} "
          f"{'peak RSS':>10} {'peak - before':>14}")
    with tempfile.TemporaryDirectory(prefix="speakup-bench-") as tmp:
        workdir = Path(tmp)
        url, drop = new_database(backend, workdir)
        try:
            prepare(url, workdir)
            env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
            env.update(SPEAKUP_DATABASE_URL=url, SPEAKUP_SECRET_KEY=SECRET,
                       SPEAKUP_INSTANCE_PATH=str(workdir / "instance"),
                       SPEAKUP_SECURE_COOKIES="false", SPEAKUP_CONCERNS_PER_MINUTE="1000000",
                       GUNICORN_CMD_ARGS="--workers 1 --threads 1 --timeout 300")
            server = serve("speakup.app:create_app()", env, workdir, "/healthz")
            try:
                upload(server.url, "warm-up.txt", b"warm up\n")
                worker = _worker(server)
                for kind, make in (("text", text_file), ("JPEG", jpeg_file)):
                    for megabytes in SIZES:
                        content = make(megabytes)
                        times, peaks, befores = [], [], []
                        for _ in range(rounds):
                            befores.append(_status(worker, "VmRSS"))
                            Path(f"/proc/{worker}/clear_refs").write_text("5")  # reset VmHWM
                            times.append(upload(server.url, f"file.{kind.lower()}", content))
                            peaks.append(_status(worker, "VmHWM"))
                        before, peak = max(befores), max(peaks)
                        print(f"{kind + f' {megabytes} MB':<16} {len(content):>10} "
                              f"{1000 * statistics.median(times):>8.0f}ms "
                              f"{before / MB:>9.1f}MB {peak / MB:>8.1f}MB "
                              f"{(peak - before) / MB:>12.1f}MB")
            finally:
                server.stop()
        finally:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"Speak Up attachments benchmark: {os.cpu_count()} CPUs, gunicorn 1 worker x 1 "
          f"thread, {args.rounds} uploads per row (time: median; memory: the largest peak)")
    for backend in args.backends.split(","):
        bench_backend(backend.strip(), args.rounds)


if __name__ == "__main__":
    main()
