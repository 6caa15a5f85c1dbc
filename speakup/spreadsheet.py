"""CSV cells a spreadsheet program will not run as formulas (CSV injection)."""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with a quote; keep the rest."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
