"""A local server whose request log never contains client addresses (rule 1)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, run_simple

from speakup.logredact import redact_request_line


class AnonymousRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, but log lines show '-' for the address and only the date.

    Werkzeug also hands the address string to the app as the client's address, so the
    app never sees the real one from this server either.
    """

    def address_string(self) -> str:
        return "-"

    def log_date_time_string(self) -> str:
        return dt.date.today().isoformat()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Invitation tokens travel in the path; keep them out of the log.
        self.requestline = redact_request_line(self.requestline)
        super().log_request(code, size)


def serve(app: Flask, host: str, port: int, with_scheduler: bool) -> None:
    scheduler = None
    starter = app.extensions["speakup"].extras.get("start_inprocess_scheduler")
    if with_scheduler and starter is not None:
        scheduler = starter(app)
    try:
        run_simple(host, port, app, threaded=True, request_handler=AnonymousRequestHandler)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
