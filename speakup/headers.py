"""Header values built from request data are checked before they are sent.

A value with CR/LF makes werkzeug raise (a 500), and one outside Latin-1 makes gunicorn
fail after the view has run (a bare 500 without security headers, issue 18): every
download name passes through here and is refused unless it is plain printable ASCII.
"""

from __future__ import annotations

import re

# Printable ASCII without the two characters a quoted-string would need escaped.
_SAFE_FILENAME = re.compile(r'[\x20-\x21\x23-\x5b\x5d-\x7e]{1,200}')


class HeaderValueError(ValueError):
    """A value that cannot be put into a response header as it is."""


def attachment_disposition(filename: str) -> str:
    """`Content-Disposition` for a download called `filename`; HeaderValueError if unsafe."""
    if _SAFE_FILENAME.fullmatch(filename) is None:
        raise HeaderValueError(f"not a safe download name: {filename!r}")
    return f'attachment; filename="{filename}"'
