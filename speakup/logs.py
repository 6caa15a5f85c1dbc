"""Log lines carry the date, never the time of day (rule 1 of DESIGN.md).

Flask's default handler, APScheduler's messages ("next run at: … 03:05:39") and
`logging.basicConfig` formats all stamp a time; next to a date, it lets whoever holds
the logs line an error up with the moment someone sent a concern or answered a survey.
Every process (gunicorn, `speakup serve`, `speakup scheduler`) logs through one root
handler with `DateOnlyFormatter`, which also blanks any clock time inside a message.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from typing import TextIO

# A clock time (H:MM:SS or HH:MM:SS, with any fraction of a second); durations such as
# APScheduler's "interval[0:01:00]" look the same and go too.
TIME_OF_DAY = re.compile(r"(?<![0-9])[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?(?![0-9])")
LINE_FORMAT = "[%(asctime)s] %(levelname)s in %(name)s: %(message)s"
_HANDLER_NAME = "speakup-date-only"


def without_times(text: str) -> str:
    """`text` with every clock time replaced by "--:--:--"."""
    return TIME_OF_DAY.sub("--:--:--", text)


class DateOnlyFormatter(logging.Formatter):
    """A formatter whose `asctime` is the record's date, and whose lines hold no time."""

    def __init__(self, fmt: str = LINE_FORMAT) -> None:
        super().__init__(fmt)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return dt.date.fromtimestamp(record.created).isoformat()

    def format(self, record: logging.LogRecord) -> str:
        return without_times(super().format(record))


def configure_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every logger's records through one date-only handler on the root logger.

    Idempotent. Flask adds its own timed handler to `app.logger` only when no handler is
    configured above it, so calling this before the app logs keeps Flask's lines dated
    only; handlers other libraries added to the root logger get the same formatter.
    """
    root = logging.getLogger()
    _own_handler(root, stream, DateOnlyFormatter())
    for handler in root.handlers:
        handler.setFormatter(DateOnlyFormatter())
    root.setLevel(level)
    # The local server's request lines are already written as "- - - [date] …" by
    # speakup.devserver: keep them as they are, only checked for clock times.
    werkzeug = logging.getLogger("werkzeug")
    _own_handler(werkzeug, stream, DateOnlyFormatter("%(message)s"))
    werkzeug.propagate = False


def _own_handler(logger: logging.Logger, stream: TextIO | None,
                 formatter: logging.Formatter) -> None:
    if not any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
