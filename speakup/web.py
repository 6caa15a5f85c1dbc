"""Request plumbing shared by every blueprint: session, clock, roles, headers."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import routing

from speakup.accounts import LoginHook, PasswordHook
from speakup.clock import Clock
from speakup.db import read_only_session
from speakup.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)
# Paths a browser or proxy may cache: everything else carries personal or private data.
PUBLIC_CACHEABLE_PREFIXES = ("/static/",)
# DESIGN.md rule 1. This is the one documented place that names the request data that
# identifies a client: `strip_identifying_metadata` deletes it from every request before
# Flask, its extensions (Flask-Login hashes address and agent into the session by
# default), our code or the server's access log can read it.
IDENTIFYING_ENVIRON_KEYS = (
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_PORT",
    "HTTP_USER_AGENT",
    "HTTP_REFERER",
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_X_CLIENT_IP",
    "HTTP_X_CLUSTER_CLIENT_IP",
    "HTTP_X_ORIGINAL_FORWARDED_FOR",
    "HTTP_CLIENT_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_FASTLY_CLIENT_IP",
    "HTTP_SEC_CH_UA",
    "HTTP_SEC_CH_UA_MOBILE",
    "HTTP_SEC_CH_UA_PLATFORM",
)


class StripIdentifyingMetadata:
    """WSGI middleware that removes client addresses and device details from each request.

    It edits the server's environ in place on purpose: gunicorn builds its access-log line
    from that same dict after the response, so even a format with `%(h)s` logs "-".
    """

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        for key in IDENTIFYING_ENVIRON_KEYS:
            environ.pop(key, None)
        # A malformed Host header makes every url_for fail, the error page's included.
        # Put the server's own name in its place and flag the request: a before-request
        # hook then answers 400 with the normal page and headers.
        host = environ.get("HTTP_HOST")
        if host is not None and not host_is_valid(host):
            environ[BAD_HOST_KEY] = True
            environ["HTTP_HOST"] = "localhost"
        return self.wsgi_app(environ, start_response)


# The largest id any table can hold (PostgreSQL's INTEGER). A bigger number in a URL can
# name nothing, and would overflow the database driver: it is a 404 before any query.
MAX_ID = 2**31 - 1


class IntegerConverter(routing.IntegerConverter):
    """`<int:…>` that only matches ids the database can hold (issue 13, finding 2).

    It keeps werkzeug's class name on purpose: route-walking tools (ours included)
    recognise integer arguments by it.
    """

    # werkzeug's \d+ also matches Arabic-Indic, fullwidth and other Unicode digits, which
    # int() then reads: /review/rounds/٣ was round 3. Only ASCII digits name an id.
    regex = r"[0-9]+"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


# A DNS name (labels of 1-63 letters, digits or inner hyphens) or a bracketed IPv6
# address, with an optional port. Anything else cannot be our own address.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
VALID_HOST = re.compile(
    rf"^(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?$"
)
BAD_HOST_KEY = "speakup.bad_host"


def host_is_valid(host: str) -> bool:
    return len(host) <= 260 and VALID_HOST.match(host) is not None


def refuse_bad_host() -> None:
    """Answer 400 to a request whose Host header was malformed (see the middleware)."""
    if request.environ.get(BAD_HOST_KEY):
        abort(400)


@dataclass
class Services:
    """What views need besides the request: kept on the app, replaceable in tests."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    login_hooks: list[LoginHook] = field(default_factory=list)
    password_hooks: list[PasswordHook] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions["speakup"]


# Requests that only read, by HTTP's own rule (RFC 9110: safe methods), unless their
# view is marked `@writes`. Their session's transactions cannot write (speakup/db.py:
# read_only_session), so on SQLite they never wait for the write lock.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes(view: F) -> F:
    """Mark a view that writes even when it is only read (GET), e.g. an audited read.

    Its session begins transactions that take SQLite's write lock up front, as a
    POST's do; an unmarked GET view that writes fails at once (speakup/db.py).
    """
    view.writes = True  # type: ignore[attr-defined]
    return view


def db() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        svc = services()
        if has_request_context() and request.method in READ_ONLY_METHODS and not getattr(
                current_app.view_functions.get(request.endpoint or ""), "writes", False):
            g.db_session = read_only_session(svc.session_factory)
        else:
            g.db_session = svc.session_factory()
    return g.db_session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def clock() -> Clock:
    return services().clock


def settings() -> Settings:
    return services().settings


def public(view: F) -> F:
    """Mark a view as open to everyone, reporters included (checked by the access tests)."""
    view.allowed_roles = PUBLIC  # type: ignore[attr-defined]
    return view


PUBLIC = "public"
ANY_STAFF = ("admin", "handler", "reviewer")


def role_required(*roles: str) -> Callable[[F], F]:
    """Allow signed-in staff with one of these roles; others get 403, anonymous a login.

    The roles are kept on the view so the access-matrix test can check every route.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = tuple(roles)  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def apply_security_headers(response: Any) -> Any:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    # An error is never cached, not even under /static/ (a 404 there must not stick).
    if response.status_code >= 400 or not request.path.startswith(PUBLIC_CACHEABLE_PREFIXES):
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    if settings().secure_cookies:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
