"""Access matrix and CSRF, generated from the URL map so no route can be forgotten."""

from __future__ import annotations

import pytest
from conftest import csrf_token_from
from foundation_support import (
    ROLES,
    UNSAFE_METHODS,
    app_rules,
    build_url,
    marker_problem,
    redirects_to_login,
    walk_routes,
)
from foundation_support import allowed_roles as marker_of

from speakup.web import PUBLIC

ERROR_STATUSES = (401, 403, 500)


def test_every_route_carries_an_access_marker(app):
    problems = [
        f"{rule.endpoint} ({rule.rule}) {problem}"
        for rule in app_rules(app)
        if (problem := marker_problem(app, rule.endpoint))
    ]
    assert not problems, "routes without a proper access marker:\n" + "\n".join(problems)


def test_the_foundation_routes_are_in_the_map(app):
    endpoints = {rule.endpoint for rule in app_rules(app)}
    assert {
        "main.index", "main.privacy", "main.staff", "main.healthz", "auth.login", "auth.logout",
        "auth.change_password", "admin.index", "admin.account_list", "admin.account_new",
        "admin.account_edit",
    } <= endpoints


def expected_problem(marker, role, visit) -> str | None:  # type: ignore[no-untyped-def]
    """What is wrong with this response for this role and marker (None when it is right)."""
    status = visit.response.status_code
    if marker == PUBLIC:
        if status in ERROR_STATUSES or redirects_to_login(visit.response):
            return f"public route answered {status} {visit.response.headers.get('Location', '')}"
        return None
    if role is None:
        if not redirects_to_login(visit.response):
            return f"anonymous got {status} instead of a redirect to /login"
        return None
    if role not in marker:
        return None if status == 403 else f"wrong role got {status} instead of 403"
    if status in ERROR_STATUSES or redirects_to_login(visit.response):
        return f"allowed role got {status} {visit.response.headers.get('Location', '')}"
    return None


@pytest.mark.parametrize("role", [None, *ROLES], ids=["anonymous", *ROLES])
def test_access_matrix(app, client, login_as, role):
    """Every route × this role → the status its access marker promises."""
    if role is not None:
        login_as(role)
    problems, seen = [], 0
    for visit in walk_routes(app, client, role):
        seen += 1
        marker = marker_of(app, visit.rule.endpoint)
        if marker is None:
            continue  # reported by test_every_route_carries_an_access_marker
        problem = expected_problem(marker, role, visit)
        if problem:
            problems.append(f"{visit.method} {visit.url} [{visit.rule.endpoint}]: {problem}")
    assert seen >= 11
    assert not problems, "\n".join(problems)


def post_rules(app):  # type: ignore[no-untyped-def]
    return [r for r in app_rules(app) if set(r.methods or ()) & set(UNSAFE_METHODS)]


def test_post_routes_exist(app):
    endpoints = {r.endpoint for r in post_rules(app)}
    assert {"auth.login", "auth.logout", "auth.change_password", "admin.account_new",
            "admin.account_edit"} <= endpoints


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_every_form_refuses_a_post_without_csrf_token(app, client, login_as, signed_in):
    """A POST without a token is refused (400) before any view runs, whoever sends it."""
    refused_wrongly = []
    accounts: dict[str, object] = {}
    for rule in post_rules(app):
        client.delete_cookie("speakup_session")
        if signed_in:
            marker = marker_of(app, rule.endpoint)
            role = "reviewer" if marker == PUBLIC or marker is None else marker[0]
            if role not in accounts:
                accounts[role] = login_as(role)
                accounts[role + "-cookie"] = client.get_cookie("speakup_session").value
            client.set_cookie("speakup_session", accounts[role + "-cookie"])  # type: ignore[arg-type]
        method = next(m for m in UNSAFE_METHODS if m in (rule.methods or ()))
        response = client.open(build_url(rule), method=method, data={})
        body = response.get_data(as_text=True)
        if response.status_code != 400 or "form had expired" not in body:
            refused_wrongly.append(f"{method} {rule.rule}: {response.status_code}")
    assert not refused_wrongly, "accepted without a CSRF token:\n" + "\n".join(refused_wrongly)


def test_a_token_from_another_session_is_refused(app, client, login_as):
    login_as("admin")
    other = app.test_client()
    foreign = other.get("/login").get_data(as_text=True)
    response = client.post("/admin/accounts/new", data={
        "csrf_token": csrf_token_from(foreign), "email": "x@example.org", "role": "reviewer",
        "password": "a long enough password",
    })
    assert response.status_code == 400
