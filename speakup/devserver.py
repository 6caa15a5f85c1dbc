"""A local server whose request log never contains client addresses (rule 1)."""

from __future__ import annotations

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, run_simple


class AnonymousRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, but every log line shows '-' where the address would be."""

    def address_string(self) -> str:
        return "-"


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
