"""Run the single-file verifier as a stranger would: the one file, stdlib and `cryptography`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cryptography

from speakup import verify_report

REPO = Path(__file__).resolve().parents[1]


def isolated_verifier(tmp_path: Path) -> Path:
    """A folder holding only verify_report.py and cryptography (with its cffi backend)."""
    folder = tmp_path / "verifier"
    folder.mkdir()
    site = Path(cryptography.__file__).resolve().parent.parent
    (folder / "cryptography").symlink_to(site / "cryptography")
    for backend in site.glob("_cffi_backend*.so"):
        (folder / backend.name).symlink_to(backend)
    # tools/verify_report.py is the file handed out; it must be the module the app serves.
    source = REPO / "tools" / "verify_report.py"
    assert source.resolve() == Path(verify_report.__file__).resolve()
    (folder / "verify_report.py").write_text(source.read_text())
    return folder


def run_isolated(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -E: no PYTHONPATH; -S: no site-packages. sys.path is the stdlib plus `folder`.
    return subprocess.run([sys.executable, "-E", "-S", str(folder / "verify_report.py"), *args],
                          capture_output=True, text=True, timeout=60, cwd=folder, check=False)
