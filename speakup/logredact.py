"""Remove secrets that travel in URLs (survey invitation tokens) from log lines."""

from __future__ import annotations

import re

# /s/<token>: whoever holds both the logs and the invitation e-mails could otherwise
# tell who answered on which day (rule 4).
_TOKEN_PATH = re.compile(r"(/s/)[^\s/?\"]+")


def redact_request_line(text: str) -> str:
    return _TOKEN_PATH.sub(r"\1-", text)
