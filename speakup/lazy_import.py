"""A module imported the first time one of its names is used, not when its user is imported.

numpy and scipy (the disclosure audits' solver) were about a third of every process's
start-up (each gunicorn worker, scheduler and command), yet only publication uses them.
`importlib.util.LazyLoader` is not safe when two threads touch the module first at once
before Python 3.12; this goes through the ordinary, locked import instead.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name`; the first attribute looked up imports it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazily imported module {self._name!r}>"
