"""A local server whose log never holds client addresses (rule 1) or invitation tokens (rule 4)."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

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

    def log(self, type: str, message: str, *args: Any) -> None:
        # Every line this handler writes passes here, finished, before it is logged:
        # Werkzeug 3.1 builds the request line from `self.path` (not `requestline`), and
        # its "Bad request syntax (…)" errors quote the raw request line. Redacting the
        # finished text keeps invitation tokens out whichever of them wrote it.
        text = message % args if args else message
        super().log(type, "%s", redact_request_line(text))


def base_url_for(host: str, port: int) -> str:
    """The address people reach a local server at, for links in e-mails.

    A wildcard host ("0.0.0.0", "::") is not an address anyone can visit: name the
    machine instead.
    """
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
        host = socket.getfqdn()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


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
