"""The instance folder holds the database, the secret key and the outbox: owner-only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def secure_instance(path: Path) -> list[Path]:
    """Create `path` if needed and make it and everything in it owner-only.

    Whatever already exists is tightened too (an earlier version created the SQLite
    file 0644 and outbox/ 0755). Symbolic links are left alone: chmod would follow them
    out of the folder. Return the paths whose mode changed, for the operator.
    """
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    changed = []
    for root, dirs, files in os.walk(path):
        here = Path(root)
        changed += _tighten(here, FOLDER_MODE)
        for name in files:
            changed += _tighten(here / name, FILE_MODE)
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return changed


def _tighten(target: Path, mode: int) -> list[Path]:
    info = target.lstat()
    if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) == mode:
        return []
    target.chmod(mode)
    return [target]
