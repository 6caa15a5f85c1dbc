"""Helpers shared by the foundation tests: walking every route in the URL map."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from conftest import csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter, Rule
from werkzeug.test import TestResponse

from speakup.web import ANY_STAFF, PUBLIC

ROLES = ("admin", "handler", "reviewer")
SESSION_COOKIE = "speakup_session"
# Methods that change state: Flask-WTF checks a token on all of them.
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
DUMMY_INT = 999999
DUMMY_STRING = "does-not-exist"
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "Referrer-Policy",
    "X-Content-Type-Options",
    "Permissions-Policy",
)


def is_static(app: Flask, rule: Rule) -> bool:
    """The app's (and any blueprint's) static file route: no access marker needed."""
    return rule.endpoint == "static" or rule.endpoint.endswith(".static")


def app_rules(app: Flask) -> list[Rule]:
    """Every rule in the URL map except static files, in a stable order (logout last)."""
    rules = [r for r in app.url_map.iter_rules() if not is_static(app, r)]
    return sorted(rules, key=lambda r: (r.endpoint == "auth.logout", r.rule, r.endpoint))


def allowed_roles(app: Flask, endpoint: str) -> Any:
    return getattr(app.view_functions[endpoint], "allowed_roles", None)


def marker_problem(app: Flask, endpoint: str) -> str | None:
    """Say what is wrong with an endpoint's access marker, or None when it is well formed."""
    marker = allowed_roles(app, endpoint)
    if marker is None:
        return "has no @public or @role_required marker"
    if marker == PUBLIC:
        return None
    if not isinstance(marker, tuple) or not marker:
        return f"has a malformed marker {marker!r}"
    unknown = set(marker) - set(ANY_STAFF)
    if unknown:
        return f"names unknown roles {sorted(unknown)}"
    return None


def dummy_values(rule: Rule) -> dict[str, Any]:
    """URL arguments that name nothing, chosen by converter type."""
    values: dict[str, Any] = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        if isinstance(converter, IntegerConverter):  # ours is a bounded subclass
            values[name] = DUMMY_INT
        elif kind == "FloatConverter":
            values[name] = float(DUMMY_INT)
        elif kind == "UUIDConverter":
            values[name] = uuid.UUID(int=0)
        elif kind == "AnyConverter":
            values[name] = sorted(converter.items)[0]  # type: ignore[attr-defined]
        else:
            values[name] = DUMMY_STRING
    return values


def build_url(rule: Rule) -> str:
    built = rule.build(dummy_values(rule), append_unknown=False)
    assert built is not None, f"cannot build a URL for {rule.rule}"
    return built[1]


def request_method(rule: Rule) -> str:
    methods = rule.methods or set()
    if "GET" in methods:
        return "GET"
    for method in UNSAFE_METHODS:
        if method in methods:
            return method
    return sorted(methods)[0]


def form_page_for(role: str | None) -> str:
    """A page with a form, whose hidden field carries the session's CSRF token."""
    return "/login" if role is None else "/account/password"


def session_csrf_token(client: FlaskClient, role: str | None) -> str:
    return csrf_token_from(client.get(form_page_for(role)).get_data(as_text=True))


@dataclass
class Visit:
    rule: Rule
    method: str
    url: str
    response: TestResponse


def walk_routes(app: Flask, client: FlaskClient, role: str | None) -> Iterator[Visit]:
    """Request every route once as this client, restoring its session before each request.

    GET routes are fetched; routes that only take unsafe methods get a request with a
    valid CSRF token and no other data. Sign-out comes last: it ends the session on the
    server, so restoring the cookie no longer brings it back (issue 13).
    """
    token = session_csrf_token(client, role)
    saved = client.get_cookie(SESSION_COOKIE)
    for rule in app_rules(app):
        if saved is not None:
            client.set_cookie(SESSION_COOKIE, saved.value)
        method = request_method(rule)
        url = build_url(rule)
        data = {"csrf_token": token} if method in UNSAFE_METHODS else None
        response = client.open(url, method=method, data=data)
        yield Visit(rule, method, url, response)
    if saved is not None:
        client.set_cookie(SESSION_COOKIE, saved.value)


def redirects_to_login(response: TestResponse) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code in (301, 302, 303, 307, 308) and re.match(
        r"^(https?://[^/]+)?/login(\?|$)", location
    ) is not None


# Only the app's own origin may appear in a page; XML namespace names are not fetched.
_XMLNS = re.compile(r'\sxmlns(:\w+)?="[^"]*"')
# An absolute URL, or a protocol-relative one starting an attribute or url(...) value.
_ABSOLUTE_URL = re.compile(r"""(?i)(?:\bhttps?:|(?<=["'(=\s]))//[a-z0-9.\-\[\]:]+""")
OWN_ORIGINS = ("//localhost", "//127.0.0.1:5000")


def external_origins(html: str) -> list[str]:
    """Absolute or protocol-relative URLs in a page that point anywhere but the app."""
    text = _XMLNS.sub("", html)
    found = []
    for match in _ABSOLUTE_URL.finditer(text):
        url = match.group(0)
        host = url[url.index("//"):]
        if host.lower() not in OWN_ORIGINS:
            found.append(url)
    return found
