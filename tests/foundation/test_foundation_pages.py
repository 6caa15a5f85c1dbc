"""The plain pages: home, privacy, staff landing and navigation by role."""

from __future__ import annotations

import re

import pytest


def nav_hrefs(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav, "every page has the main navigation"
    return re.findall(r'href="([^"]+)"', nav.group(1))


def test_home_page_explains_what_is_never_recorded(client, settings):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "What Speak Up never records" in html
    assert "IP address" in html and "time of day" in html
    assert f"at least {settings.min_group_size} people" in html
    assert 'href="/privacy"' in html


def test_privacy_page(client):
    html = client.get("/privacy").get_data(as_text=True)
    assert "What Speak Up records" in html and "encrypted" in html


def test_layout_is_accessible(client):
    html = client.get("/").get_data(as_text=True)
    assert html.startswith("<!doctype html>")
    assert '<html lang="en-GB">' in html
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html and "<header" in html and "<footer" in html
    assert len(re.findall(r"<h1\b", html)) == 1
    assert '<meta name="viewport"' in html


def test_anonymous_navigation_offers_sign_in_only_to_staff(client):
    hrefs = nav_hrefs(client.get("/").get_data(as_text=True))
    assert "/login" in hrefs
    assert "/admin/" not in hrefs and "/staff" not in hrefs


@pytest.mark.parametrize(("role", "sees_admin"), [("admin", True), ("handler", False),
                                                  ("reviewer", False)])
def test_navigation_by_role(login_as, client, role, sees_admin):
    account = login_as(role)
    html = client.get("/staff").get_data(as_text=True)
    hrefs = nav_hrefs(html)
    assert "/staff" in hrefs and "/account/password" in hrefs
    assert ("/admin/" in hrefs) is sees_admin
    assert "/login" not in hrefs
    assert f"Welcome, {account.user.email}" in html
    assert 'action="/logout"' in html
    # Every link in the navigation leads somewhere this role may go.
    for href in hrefs:
        assert client.get(href).status_code not in (401, 403), href


def test_core_navigation_links_come_first(app):
    links = app.extensions["speakup"].extras["nav_links"]
    assert [endpoint for endpoint, _, _ in links[:2]] == ["main.staff", "admin.index"]
