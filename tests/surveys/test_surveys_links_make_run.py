"""Invitation links reach the server that sent them: `make run PORT=…` mails links to that port."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, start_make_run, stop_make_run

from speakup.devserver import base_url_for


def _first_invitation(outbox: Path, proc: subprocess.Popen[bytes], log: Path) -> str:
    """Wait for the in-process scheduler to mail the demo round's invitations."""
    deadline = time.monotonic() + 180  # first run: migrations, demo data, first mail tick
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`make run` exited with {proc.returncode}:\n{log.read_text()}")
        mails = sorted(outbox.glob("round-*.eml")) if outbox.exists() else []
        if mails:
            return mails[0].read_text()
        time.sleep(0.5)
    pytest.fail(f"no invitation was mailed:\n{log.read_text()}")


@pytest.mark.slow
def test_make_run_on_another_port_mails_links_to_that_port(tmp_path: Path):
    port = free_port()
    proc, instance, log = start_make_run(tmp_path, port)
    try:
        mail = _first_invitation(instance / "outbox", proc, log)
        links = re.findall(r"http://[^\s/]+/s/[A-Za-z0-9_-]+", mail)
        assert links and all(link.startswith(f"http://127.0.0.1:{port}/s/") for link in links)
        # The link works: it opens the answering page on the server that sent it.
        with urllib.request.urlopen(links[0], timeout=10) as page:  # noqa: S310
            assert page.status == 200
    finally:
        stop_make_run(proc)
    assert f"Links in e-mails point to http://127.0.0.1:{port}" in log.read_text()


def test_base_url_names_a_reachable_host():
    assert base_url_for("127.0.0.1", 5201) == "http://127.0.0.1:5201"
    assert base_url_for("::1", 8080) == "http://[::1]:8080"
    assert not base_url_for("0.0.0.0", 80).startswith("http://0.0.0.0")  # noqa: S104
