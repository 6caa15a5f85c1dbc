"""Bombs sent to a real gunicorn worker (issue 18, finding 3): each is refused with the
typed text kept, the worker's memory and CPU time hardly move, and /healthz answers
while the bomb is being cleaned.

The worker's peak resident memory is read from /proc (VmHWM, reset before each upload
through /proc/PID/clear_refs); its CPU time from /proc/PID/stat. The cleaning process is
the worker's child and is not counted in either: that is the point.
"""

from __future__ import annotations

import http.cookiejar
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hostile_files import docx_bomb, pdf_bomb, png_bomb
from test_concerns_attachments_disk import TOKEN, _multipart, _workers

TEXT = "The rota was changed again to keep me off the ward."


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Health(threading.Thread):
    """Asks /healthz again and again; records when each answer came and its status."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.answers, self.stop = url, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(  # noqa: S310 - our own http://127.0.0.1 server
                        self.url + "/healthz", timeout=10) as response:
                    self.answers.append((time.monotonic(), response.status))
            except urllib.error.URLError:
                self.answers.append((time.monotonic(), 0))
            time.sleep(0.02)


@pytest.mark.parametrize(("name", "build"), [
    ("photo.png", png_bomb), ("notes.docx", docx_bomb), ("scan.pdf", pdf_bomb)])
def test_a_bomb_is_refused_without_taking_the_worker(live_server, name, build):
    live = live_server(workers=1, threads=4)
    (worker,) = _workers(live.process.pid)
    bomb = build()
    assert len(bomb) < 1_500_000
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    # No recovery key or handler here, so no form is shown (issue 19): the check page's
    # form carries the same session's token, and the bomb is refused before storing.
    with opener.open(live.url + "/concerns/check", timeout=30) as response:
        token = TOKEN.search(response.read().decode()).group(1)
    body, content_type = _multipart(
        {"csrf_token": token, "category": "1", "what_happened": TEXT, "what_wanted": ""},
        [("attachments", name, bomb)])
    request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
        live.url + "/concerns/new", data=body, method="POST",
        headers={"Content-Type": content_type})
    Path(f"/proc/{worker}/clear_refs").write_text("5")  # reset the peak (VmHWM)
    before_rss, before_cpu = _status_kib(worker, "VmRSS"), _cpu_seconds(worker)
    health = _Health(live.url)
    health.start()
    time.sleep(0.2)
    sent = time.monotonic()
    try:
        opener.open(request, timeout=60)
        raise AssertionError("the bomb was accepted")
    except urllib.error.HTTPError as refused:
        html = refused.read().decode()
        status = refused.code
    answered = time.monotonic()
    time.sleep(0.2)
    health.stop.set()
    health.join()
    peak_rise_mib = (_status_kib(worker, "VmHWM") - before_rss) / 1024
    cpu = _cpu_seconds(worker) - before_cpu
    assert status == 400, html[:2000]
    assert "could not be cleaned, so it was not stored" in html and TEXT in html
    assert peak_rise_mib < 100, f"worker peak rose by {peak_rise_mib:.0f} MiB"
    assert cpu < 2, f"the worker itself spent {cpu:.1f} s of CPU"
    # /healthz kept answering on this same worker while the bomb was being cleaned.
    during = [status for moment, status in health.answers if sent < moment < answered]
    assert during and set(during) == {200}, health.answers
    assert {s for _, s in health.answers} == {200}
    assert "Traceback" not in live.log() and "WORKER TIMEOUT" not in live.log()
