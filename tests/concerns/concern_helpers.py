"""Helpers for the concerns tests (imported by name: tests have no packages)."""

from __future__ import annotations

import re

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
    match = re.search(r'id="receipt"[^>]*>([^<]+)<', html)
    assert match, "page shows no receipt"
    return match.group(1).strip()


def submit(client: FlaskClient, text: str = "Someone said something racist in the canteen.",
           category: str = "1", wanted: str = "", extra: dict[str, str] | None = None,
           **kwargs: object):  # type: ignore[no-untyped-def]
    """Raise a concern through the form, as a browser would; return the response."""
    html = client.get("/concerns/new").get_data(as_text=True)
    token = hidden_fields(html)["csrf_token"]
    data = {"csrf_token": token, "category": category, "what_happened": text,
            "what_wanted": wanted, **(extra or {})}
    return client.post("/concerns/new", data=data, **kwargs)


def post_form(client: FlaskClient, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    """GET a one-form page for its CSRF token, then POST `data` to it."""
    token = hidden_fields(client.get(url).get_data(as_text=True))["csrf_token"]
    return client.post(url, data={"csrf_token": token, **data})
