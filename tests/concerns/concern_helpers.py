"""Helpers for the concerns tests (imported by name: tests have no packages)."""

from __future__ import annotations

import email
import email.message
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from flask.testing import FlaskClient


def hidden_fields(html: str) -> dict[str, str]:
    """Every hidden input's name and value on a page (for multi-form pages)."""
    fields = {}
    for match in re.finditer(r"<input[^>]*type=\"hidden\"[^>]*>", html):
        tag = match.group(0)
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


def receipt_from(html: str) -> str:
    match = re.search(r'id="receipt"[^>]*>(.*?)</p>', html, re.S)
    assert match, "page shows no receipt"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def submit(client: FlaskClient, text: str = "Someone said something racist in the canteen.",
           category: str = "1", wanted: str = "", extra: dict[str, str] | None = None,
           **kwargs: object):  # type: ignore[no-untyped-def]
    """Raise a concern through the form, as a browser would; return the response."""
    html = client.get("/concerns/new").get_data(as_text=True)
    # No form while concerns are refused (issue 19): a form shown before the refusal
    # carries the session's token, as the check page's does.
    token = hidden_fields(html).get("csrf_token") or hidden_fields(
        client.get("/concerns/check").get_data(as_text=True))["csrf_token"]
    data = {"csrf_token": token, "category": category, "what_happened": text,
            "what_wanted": wanted, **(extra or {})}
    return client.post("/concerns/new", data=data, **kwargs)


def post_form(client: FlaskClient, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    """GET a one-form page for its CSRF token, then POST `data` to it."""
    token = hidden_fields(client.get(url).get_data(as_text=True))["csrf_token"]
    return client.post(url, data={"csrf_token": token, **data})


class SmtpSink:
    """Collects what a real SMTP server (aiosmtpd) receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"


@contextmanager
def smtp_server() -> Iterator[tuple[str, SmtpSink]]:
    """A real SMTP server on a free local port: yields (smtp URL, sink)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", sink
    finally:
        controller.stop()


def closed_port_url() -> str:
    """An SMTP URL where nothing listens (sending there fails like a server that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"smtp://127.0.0.1:{port}?timeout=5"
