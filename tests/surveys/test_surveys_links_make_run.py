"""Invitation links reach the server that sent them: `make run PORT=…` mails links to that port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN, free_port

from speakup.devserver import base_url_for


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


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
    instance = tmp_path / "instance"
    log = tmp_path / "make-run.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPEAKUP_", "MAKE", "MFLAGS"))}
    env["SPEAKUP_INSTANCE_PATH"] = str(instance)
    env["PYTHONUNBUFFERED"] = "1"
    cmd = ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed-stamp",
           f"BIN={VENV_BIN}", "run", f"PORT={port}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        mail = _first_invitation(instance / "outbox", proc, log)
        links = re.findall(r"http://[^\s/]+/s/[A-Za-z0-9_-]+", mail)
        assert links and all(link.startswith(f"http://127.0.0.1:{port}/s/") for link in links)
        # The link works: it opens the answering page on the server that sent it.
        with urllib.request.urlopen(links[0], timeout=10) as page:  # noqa: S310
            assert page.status == 200
    finally:
        _stop(proc)
    assert f"Links in e-mails point to http://127.0.0.1:{port}" in log.read_text()


def test_base_url_names_a_reachable_host():
    assert base_url_for("127.0.0.1", 5201) == "http://127.0.0.1:5201"
    assert base_url_for("::1", 8080) == "http://[::1]:8080"
    assert not base_url_for("0.0.0.0", 80).startswith("http://0.0.0.0")  # noqa: S104
