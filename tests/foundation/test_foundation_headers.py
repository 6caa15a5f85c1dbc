"""Security headers on every response, friendly error pages, cookies and the health check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TEST_SECRET, csrf_token_from, post_form
from flask import abort
from foundation_support import ROLES, external_origins, walk_routes

from speakup.app import create_app
from speakup.settings import Settings
from speakup.web import public

STATIC_FILES = ("/static/style.css", "/static/print.css")


def header_problems(response, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    """What is missing or wrong in one response's security headers."""
    h = response.headers
    problems = []
    csp = h.get("Content-Security-Policy", "")
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip()
    )
    if not csp:
        problems.append("no Content-Security-Policy")
    if "'unsafe-inline'" in csp or "'unsafe-eval'" in csp:
        problems.append("CSP allows inline code")
    if re.search(r"https?:|//|\*", csp):
        problems.append(f"CSP names another origin: {csp}")
    if directives.get("frame-ancestors") != "'none'":
        problems.append("CSP lacks frame-ancestors 'none'")
    for name in ("default-src", "script-src", "style-src"):
        if name not in directives:
            problems.append(f"CSP lacks {name}")
    if h.get("Referrer-Policy") != "no-referrer":
        problems.append("Referrer-Policy is not no-referrer")
    if h.get("X-Content-Type-Options") != "nosniff":
        problems.append("no nosniff")
    if "camera=()" not in h.get("Permissions-Policy", ""):
        problems.append("no Permissions-Policy")
    if not path.startswith("/static/") and "no-store" not in h.get("Cache-Control", ""):
        problems.append("Cache-Control is not no-store")
    return problems


def page_problems(html: str) -> list[str]:
    """Inline code (CSP would block it) and references to other origins in one page."""
    problems = [f"refers to {url}" for url in external_origins(html)]
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html):
        problems.append("inline <script>")
    if re.search(r"<style\b|\sstyle=|\son[a-z]+=", html):
        problems.append("inline style or event handler")
    return problems


@pytest.mark.parametrize("role", [None, *ROLES], ids=["anonymous", *ROLES])
def test_every_route_sends_headers_and_only_own_content(app, client, login_as, make_user, role):
    """Each route in the URL map, as this role: security headers, and HTML that neither
    refers to another origin nor holds inline code."""
    if role is not None:
        login_as(role)
    problems = []
    for visit in walk_routes(app, client, role):
        where = f"{visit.method} {visit.url} ({visit.response.status_code})"
        problems += [f"{where}: {p}" for p in header_problems(visit.response, visit.url)]
        if visit.response.mimetype == "text/html":
            problems += [f"{where}: {p}" for p in page_problems(visit.response.text)]
    # Pages with real content too, not only the dummy-argument ones.
    someone = make_user("handler")
    for url in ["/admin/accounts", f"/admin/accounts/{someone.user.id}", "/no-such-page"]:
        response = client.get(url)
        problems += [f"GET {url}: {p}" for p in header_problems(response, url)]
        problems += [f"GET {url}: {p}" for p in page_problems(response.get_data(as_text=True))]
    assert not problems, "\n".join(problems)


def test_static_files_are_our_own_and_carry_headers(client):
    for path in STATIC_FILES:
        response = client.get(path)
        assert response.status_code == 200
        assert header_problems(response, path) == []
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", response.get_data(as_text=True))
        response.close()


@pytest.fixture
def app_with_test_routes(app):
    """The app plus routes that fail on purpose (registered before its first request)."""

    @public
    def boom() -> str:
        raise RuntimeError("a bug, on purpose")

    @public
    def too_many() -> str:
        abort(429)

    app.add_url_rule("/_test/boom", "test_boom", boom)
    app.add_url_rule("/_test/too-many", "test_too_many", too_many)
    return app


# 403 needs a signed-in user of the wrong role: see test_forbidden_page_is_friendly.
ERROR_CASES = {
    400: ("POST", "/login", {}),
    404: ("GET", "/no-such-page", None),
    405: ("GET", "/logout", None),
    413: ("POST", "/login", {"email": "x" * (300 * 1024)}),
    429: ("GET", "/_test/too-many", None),
    500: ("GET", "/_test/boom", None),
}


@pytest.mark.parametrize("code", sorted(ERROR_CASES))
def test_error_pages_are_friendly_and_carry_headers(app_with_test_routes, code):
    client = app_with_test_routes.test_client()
    method, path, data = ERROR_CASES[code]
    response = client.open(path, method=method, data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == code
    assert response.mimetype == "text/html"
    assert "Go to the home page" in html
    assert '<main id="main"' in html
    assert header_problems(response, path) == []
    assert page_problems(html) == []
    assert "Traceback" not in html and "RuntimeError" not in html


def test_forbidden_page_is_friendly(login_as, client):
    login_as("reviewer")
    response = client.get("/admin/")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "You do not have access to this page" in html and "Go to the home page" in html
    assert header_problems(response, "/admin/") == []


def test_unhandled_error_is_logged_without_request_details(app_with_test_routes, caplog):
    client = app_with_test_routes.test_client()
    response = client.get("/_test/boom", headers={"User-Agent": "BoomAgent/1.0"})
    assert response.status_code == 500
    assert "a bug, on purpose" in caplog.text, "the error itself is logged for operators"
    assert "BoomAgent" not in caplog.text


def test_healthz_answers_200_when_the_database_is_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    # A fresh database: no recovery key, so not receiving concerns, and none waiting.
    assert response.json == {"status": "ok", "database": "writable, schema at head",
                             "concerns": {"receiving": False, "waiting_for_a_reader": 0}}
    assert header_problems(response, "/healthz") == []


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://nobody@127.0.0.1:1/nothing",
    "sqlite:////nonexistent-folder/for-sure/speakup.sqlite3",
])
def test_healthz_answers_503_when_the_database_is_unreachable(url, tmp_path: Path):
    app = create_app(Settings(instance_path=tmp_path, database_url=url, secret_key=TEST_SECRET,
                              secure_cookies=False, testing=True))
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.json["status"] == "unavailable" and response.json["problems"]
        assert header_problems(response, "/healthz") == []
    finally:
        app.extensions["speakup"].engine.dispose()


def _set_cookie_headers(response) -> list[str]:  # type: ignore[no-untyped-def]
    return response.headers.getlist("Set-Cookie")


def test_session_cookie_is_httponly_samesite_and_not_secure_on_local_http(client):
    response = client.get("/login")
    cookies = [c for c in _set_cookie_headers(response) if c.startswith("speakup_session=")]
    assert cookies, "the sign-in form needs a session for its CSRF token"
    assert "HttpOnly" in cookies[0] and "SameSite=Lax" in cookies[0]
    assert "Secure" not in cookies[0]
    assert "Strict-Transport-Security" not in response.headers


def test_secure_cookies_setting_marks_cookies_secure_and_sends_hsts(settings, make_user, clock,
                                                                    session_factory):
    app = create_app(settings.with_changes(secure_cookies=True))
    app.extensions["speakup"].session_factory = session_factory
    app.extensions["speakup"].clock = clock
    try:
        client = app.test_client()
        https = "https://localhost"
        account = make_user("reviewer")
        page = client.get("/login", base_url=https)
        cookie = next(c for c in _set_cookie_headers(page) if c.startswith("speakup_session="))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        # Over HTTPS with no Referer (our own policy suppresses it) the form still works.
        response = client.post("/login", base_url=https, data={
            "csrf_token": csrf_token_from(page.get_data(as_text=True)),
            "email": account.user.email, "password": "correct horse battery staple",
        })
        assert response.status_code == 302
        login_cookie = next(
            c for c in _set_cookie_headers(response) if c.startswith("speakup_session=")
        )
        assert "Secure" in login_cookie and "HttpOnly" in login_cookie
    finally:
        app.extensions["speakup"].engine.dispose()


@pytest.mark.parametrize(("raw", "expected"), [(None, True), ("true", True), ("false", False),
                                               ("0", False), ("yes", True)])
def test_secure_cookies_from_environment(raw, expected):
    env = {} if raw is None else {"SPEAKUP_SECURE_COOKIES": raw}
    assert Settings.from_env(env).secure_cookies is expected


def test_form_post_with_token_works_and_csrf_page_keeps_headers(client, make_user):
    account = make_user("reviewer")
    response = post_form(client, "/login", {"email": account.user.email,
                                            "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert header_problems(response, "/login") == []
