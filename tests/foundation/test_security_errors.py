"""Issue 13, finding 2: odd input answers 400/404 with the normal page, never a bare 500."""

from __future__ import annotations

import pytest
from conftest import post_form
from test_foundation_headers import header_problems

HUGE = "9223372036854775808"  # 2**63: one more than SQLite's largest integer


def assert_normal_error(response, status: int, path: str = "/") -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert not header_problems(response, path)
    assert "Skip to main content" in response.get_data(as_text=True), "the normal layout"


@pytest.mark.parametrize("url", [f"/admin/accounts/{HUGE}", f"/admin/accounts/{HUGE}0"])
def test_huge_ids_in_admin_routes_are_404(client, login_as, url):
    login_as("admin")
    assert_normal_error(client.get(url), 404, url)


@pytest.mark.parametrize("url", [f"/review/rounds/{HUGE}", f"/review/rounds/{HUGE}.csv"])
def test_huge_ids_in_review_routes_are_404(client, login_as, url):
    login_as("reviewer")
    assert_normal_error(client.get(url), 404, url)


@pytest.mark.parametrize("host", ["a" * 64 + ".example.org", "a..b", "-", "[::1"])
def test_malformed_host_header_is_400_with_headers(client, host):
    response = client.get("/", headers={"Host": host})
    assert response.status_code == 400
    assert not header_problems(response, "/")


@pytest.mark.parametrize("query", ["fmt=csv", "round_id=1", "_method=POST", "_external=1",
                                   "fmt=csv&_anchor=x"])
def test_stray_query_parameters_on_review_pages(client, login_as, query):
    login_as("reviewer")
    response = client.get(f"/review/?{query}")
    assert response.status_code == 200
    assert not header_problems(response, "/review/")


@pytest.mark.parametrize("code", ["①②③④⑤⑥", "²²²²²²", "١٢٣٤٥٦"])
def test_unicode_digits_in_a_totp_code_are_a_plain_refusal(client, make_user, code):
    account = make_user("admin")
    response = post_form(client, "/login", {"email": account.user.email,
                                            "password": account.password, "totp": code})
    assert response.status_code == 401


@pytest.mark.parametrize("offsets", ["²", "①", "3, ²"])
def test_unicode_digits_in_reminder_offsets_keep_the_form(client, login_as, offsets):
    login_as("admin")
    response = post_form(client, "/admin/surveys/new", {
        "title": "Spring pulse", "items": ["psafe_1"], "schedule": "monthly, first Monday 09:00",
        "timezone": "Europe/London", "open_days": "14", "reminder_offsets": offsets,
        "min_group_size": "5", "save": "1"})
    assert_normal_error(response, 400, "/admin/surveys/new")
    html = response.get_data(as_text=True)
    assert "whole numbers of days" in html and "Spring pulse" in html


def test_static_404_is_not_cached(client):
    response = client.get("/static/no-such-file.css")
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"
    found = client.get("/static/style.css")
    assert found.headers.get("Cache-Control") != "no-store"
    found.close()
