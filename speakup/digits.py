"""Read numbers from requests: ASCII digits only.

Python's `int()` also reads Arabic-Indic, fullwidth and other Unicode digits, spaces,
underscores and a sign; a value read that way looks valid but is not what the page
offered, and echoing it (into a header, a file name) is where it breaks (issue 18).
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,9}")


def parse_ascii_int(text: object, max_digits: int = 9) -> int:
    """The whole number `text` spells in ASCII digits; ValueError for anything else.

    At most nine digits by default, so the result always fits a database INTEGER.
    """
    if not isinstance(text, str) or _DIGITS.fullmatch(text) is None or len(text) > max_digits:
        raise ValueError(f"not a whole number in ASCII digits: {text!r}")
    return int(text)


def coerce_ascii_int(value: object) -> int:
    """An int as it is, anything else through `parse_ascii_int` (a form field's coerce=)."""
    return value if type(value) is int else parse_ascii_int(value)


def ascii_int_or_none(text: object) -> int | None:
    """`parse_ascii_int`, or None where it refuses (for optional filters in a URL)."""
    try:
        return parse_ascii_int(text)
    except ValueError:
        return None
