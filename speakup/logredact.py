"""Remove secrets that travel in URLs (survey invitation tokens) from log lines."""

from __future__ import annotations

import re

# /s/<token>: whoever holds both the logs and the invitation e-mails could otherwise
# tell who answered on which day (rule 4). Everything after /s/ up to the query string
# goes, so a doubled slash or a trailing path segment cannot carry a token through; the
# servers decode %2F to "/" before routing, so "/s%2F<token>" reaches the page too.
_TOKEN_PATH = re.compile(r"/s(?:/|%2[fF])[^\s?\"']*")


def redact_request_line(text: str) -> str:
    """Return `text` with every `/s/<token>` path replaced by `/s/-` (query strings kept)."""
    return _TOKEN_PATH.sub("/s/-", text)
