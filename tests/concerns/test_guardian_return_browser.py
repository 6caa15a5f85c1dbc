"""A real browser, JavaScript off: a reporter answers the professional-group question, a
handler opens the quarterly return, and printing it leaves out the menus and buttons."""

from __future__ import annotations

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from playwright.sync_api import sync_playwright
from test_concerns_browser import (  # noqa: F401
    CHROMIUM_ARGS,
    PageChecks,
    sign_in_handler,
    site,
)

REPORT = "My manager gives the worst shifts to the two Black nurses on the ward."


@pytest.mark.browser
def test_group_question_and_printable_return_without_javascript(site):  # noqa: F811
    server, totp_secret = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        staff = browser.new_context(java_script_enabled=False).new_page()
        reporter = browser.new_context(java_script_enabled=False).new_page()
        checks = PageChecks(browser, server.url)

        sign_in_handler(staff, server.url, totp_secret)

        reporter.goto(server.url + "/concerns/new")
        reporter.get_by_label("Racism or discrimination").check()
        reporter.get_by_label("What happened?").fill(REPORT)
        reporter.get_by_label("Your professional group (optional)").select_option(
            label="Registered nurses and midwives")
        checks.check("new-with-group", reporter.content())
        reporter.get_by_role("button", name="Send my concern").click()
        reporter.wait_for_load_state()
        assert reporter.locator("#receipt").is_visible()

        staff.goto(server.url + "/handle/")
        staff.get_by_role("link", name="The guardian’s quarterly return and handling "
                                        "figures").click()
        staff.wait_for_load_state()
        # The current quarter is listed first; show it.
        staff.get_by_role("button", name="Show the return").click()
        staff.wait_for_load_state()
        nurses = staff.get_by_role("row", name="Registered nurses and midwives")
        assert nurses.get_by_role("cell").first.inner_text() == "1"
        raised = staff.get_by_role("row", name="Cases raised")
        assert raised.get_by_role("cell").first.inner_text() == "1"
        checks.check("guardian-return", staff.content())
        staff.emulate_media(media="print")
        assert not staff.get_by_role("button", name="Download CSV").is_visible()
        assert not staff.get_by_role("navigation", name="Main").is_visible()
        assert staff.get_by_role("heading", name="Professional group").is_visible()
        assert nurses.is_visible()
        browser.close()
    assert checks.problems == []
