"""Issue 19 in a real browser with JavaScript off for the reporter.

Finding 3: files chosen before a refusal (a validation error, an expired form) are named
at the file field and in the error summary, with what to do. Finding 5: after "Save my
answers" the confirmation is where the reporter's eyes are.
"""

from __future__ import annotations

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from playwright.sync_api import expect, sync_playwright
from test_concerns_browser import (  # noqa: F401
    CHROMIUM_ARGS,
    PageChecks,
    sign_in_handler,
    site,
)

REPORT = "At the handover the team leader said people like me should not be nurses here."
FILES = [{"name": f"zq-evidence-{n}.txt", "mimeType": "text/plain",
          "buffer": b"what I wrote down that day\n"} for n in (1, 2, 3)]
TOLD = ("You had chosen 3 files (“zq-evidence-1.txt”, “zq-evidence-2.txt”, "
        "“zq-evidence-3.txt”). They were not sent: choose the files again before you send.")


def _assert_files_named_again(page) -> None:  # type: ignore[no-untyped-def]
    field = page.locator("#attachments")
    described = (field.get_attribute("aria-describedby") or "").split()
    assert "attachments-error" in described
    expect(page.locator("#attachments-error")).to_contain_text(TOLD)
    expect(page.locator(".error-summary")).to_contain_text(TOLD)
    # The summary's entry leads to the field.
    assert page.locator(".error-summary a[href='#attachments']").count() == 1
    assert field.input_value() == ""  # the browser really did drop them


@pytest.mark.browser
def test_files_chosen_before_a_refusal_are_named_again(site):  # noqa: F811
    server, _ = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        checks = PageChecks(browser, server.url)

        # A validation error: no category chosen.
        page.goto(server.url + "/concerns/new")
        page.get_by_label("What happened?").fill(REPORT)
        page.locator("#attachments").set_input_files(FILES)
        page.get_by_role("button", name="Send my concern").click()
        page.wait_for_load_state()
        assert page.get_by_label("What happened?").input_value() == REPORT
        _assert_files_named_again(page)
        checks.check("files-named-again", page.content())

        # An expired form: the session (and its CSRF token) is gone when it is sent.
        page.get_by_label("Racism or discrimination").check()
        page.locator("#attachments").set_input_files(FILES)
        context.clear_cookies()
        page.get_by_role("button", name="Send my concern").click()
        page.wait_for_load_state()
        assert "This form had expired" in page.content()
        assert page.get_by_label("What happened?").input_value() == REPORT
        _assert_files_named_again(page)
        checks.check("files-named-again-expired", page.content())
        browser.close()
    assert checks.problems == []


@pytest.mark.browser
def test_the_verdict_confirmation_is_in_view(site):  # noqa: F811
    server, totp_secret = site
    long_report = "\n\n".join([REPORT] * 12)  # the verdict questions start below the fold
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        staff = browser.new_context(java_script_enabled=False).new_page()
        reporter = browser.new_context(java_script_enabled=False,
                                       viewport={"width": 1280, "height": 720}).new_page()
        checks = PageChecks(browser, server.url)

        sign_in_handler(staff, server.url, totp_secret)

        reporter.goto(server.url + "/concerns/new")
        reporter.get_by_label("Racism or discrimination").check()
        reporter.get_by_label("What happened?").fill(long_report)
        reporter.get_by_role("button", name="Send my concern").click()
        reporter.wait_for_load_state()
        receipt = reporter.locator("#receipt").inner_text().strip()

        staff.goto(server.url + "/handle/")
        staff.locator("table.inbox a").first.click()
        staff.wait_for_load_state()
        staff.get_by_label("Your reply").fill("Thank you; we are looking into it.")
        staff.get_by_role("button", name="Send reply").click()
        staff.wait_for_load_state()

        reporter.goto(server.url + "/concerns/check")
        reporter.get_by_label("Your receipt").fill(receipt)
        reporter.get_by_role("button", name="Show my concern").click()
        reporter.wait_for_load_state()
        save = reporter.get_by_role("button", name="Save my answers")
        expect(save).not_to_be_in_viewport()  # the situation of the finding
        reporter.locator("#speak_again input[type=radio]").first.check()
        save.click()
        reporter.wait_for_load_state()
        confirmation = reporter.locator("#verdict-saved")
        expect(confirmation).to_contain_text("your answers have been saved")
        assert confirmation.get_attribute("role") == "status"
        expect(confirmation).to_be_in_viewport()
        expect(confirmation).to_be_focused()
        checks.check("verdict-saved", reporter.content())
        browser.close()
    assert checks.problems == []
