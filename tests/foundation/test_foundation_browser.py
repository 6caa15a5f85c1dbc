"""A real browser, JavaScript off: keyboard-only sign-in and the skip link."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from conftest import PASSWORD
from playwright.sync_api import Page, sync_playwright

from speakup import accounts
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
EMAIL = "browser.admin@example.org"


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(java_script_enabled=False)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def seed_admin(url: str) -> str:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            user = accounts.create_user(session, SystemClock(), email=EMAIL, role="admin",
                                        password=PASSWORD, actor="test")
            session.commit()
            return user.totp_secret or ""
    finally:
        engine.dispose()


def focused(page: Page) -> str:
    """Describe the focused element: its id, or its tag and text."""
    element = page.locator(":focus")
    if element.count() == 0:
        return ""
    ident = element.get_attribute("id")
    return f"#{ident}" if ident else f"{element.evaluate('e => e.tagName')}:{element.inner_text()}"


@pytest.mark.browser
def test_keyboard_sign_in_with_javascript_off(live_server, fresh_database_url, page: Page):
    secret = seed_admin(fresh_database_url)
    server = live_server(workers=1, threads=2)
    page.goto(server.url + "/login")
    assert page.title().startswith("Staff sign-in")
    for field, label in (("email", "E-mail address"), ("password", "Password"),
                         ("totp", "Code from your authenticator app")):
        assert page.get_by_label(label, exact=True).get_attribute("id") == field

    # The skip link is the first stop and moves focus past the navigation to <main>.
    page.keyboard.press("Tab")
    assert page.locator(":focus").inner_text() == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    # From <main>, Tab reaches the form fields in reading order, then the button.
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(focused(page))
    assert order == ["#email", "#password", "#totp", "BUTTON:Sign in"]
    outline = page.locator(":focus").evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline not in ("none", ""), "keyboard focus must be visible"

    # Sign in by keyboard alone.
    page.locator("#email").focus()
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/admin/")
    assert page.locator("h1").inner_text() == "Administration"
    assert page.get_by_role("button", name="Sign out").count() == 1

    # Sign out works without JavaScript too: it is an ordinary form.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(server.url + "/")
    assert "You have signed out." in page.content()

