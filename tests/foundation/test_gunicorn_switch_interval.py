"""The shipped gunicorn.conf.py shortens each worker's GIL switch interval (README
"Performance of the answering paths")."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_each_worker_hands_the_gil_on_every_millisecond() -> None:
    umask = os.umask(0o022)
    before = sys.getswitchinterval()
    try:
        conf = runpy.run_path(str(CONF))  # as gunicorn reads it (it sets the umask too)
        conf["post_worker_init"](None)
        assert sys.getswitchinterval() == pytest.approx(0.001)
    finally:
        sys.setswitchinterval(before)
        os.umask(umask)
