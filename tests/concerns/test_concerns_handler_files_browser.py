"""A real browser, JavaScript off on both sides: a handler's reply carries a photo with
GPS data, and the reporter downloads it clean with the button on their conversation."""

from __future__ import annotations

import io

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from PIL import Image
from playwright.sync_api import sync_playwright
from test_concerns_attachments import _jpeg_with_gps
from test_concerns_browser import (  # noqa: F401
    CHROMIUM_ARGS,
    PageChecks,
    sign_in_handler,
    site,
)

REPORT = "A colleague keeps mimicking my accent at handover."
REPLY = "We have spoken to them. Here is the photo of the notice we put up."


@pytest.mark.browser
def test_handler_attaches_a_photo_the_reporter_downloads_clean(site, tmp_path):  # noqa: F811
    server, totp_secret = site
    photo = tmp_path / "IMG_4412.jpg"
    photo.write_bytes(_jpeg_with_gps())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        staff = browser.new_context(java_script_enabled=False).new_page()
        reporter = browser.new_context(java_script_enabled=False,
                                       accept_downloads=True).new_page()
        checks = PageChecks(browser, server.url)

        sign_in_handler(staff, server.url, totp_secret)

        reporter.goto(server.url + "/concerns/new")
        reporter.get_by_label("Racism or discrimination").check()
        reporter.get_by_label("What happened?").fill(REPORT)
        reporter.get_by_role("button", name="Send my concern").click()
        reporter.wait_for_load_state()
        receipt = reporter.locator("#receipt").inner_text().strip()

        staff.goto(server.url + "/handle/")
        staff.locator("table.inbox a").first.click()
        staff.wait_for_load_state()
        staff.get_by_label("Your reply").fill(REPLY)
        staff.get_by_label("Files for the reporter (optional)").set_input_files(str(photo))
        staff.get_by_role("button", name="Send reply").click()
        staff.wait_for_load_state()
        assert "Your reply has been sent to the reporter." in staff.content()
        assert "attachment-1.jpg" in staff.content()
        checks.check("handler-reply-with-file", staff.content())

        reporter.goto(server.url + "/concerns/check")
        reporter.get_by_label("Your receipt").fill(receipt)
        reporter.get_by_role("button", name="Show my concern").click()
        reporter.wait_for_load_state()
        assert REPLY in reporter.content()
        checks.check("conversation-with-file", reporter.content())
        with reporter.expect_download() as caught:
            reporter.get_by_role("button", name="Download attachment-1.jpg").click()
        download = caught.value
        assert receipt not in download.url
        image = Image.open(io.BytesIO(download.path().read_bytes()))
        assert image.format == "JPEG" and not image.getexif() and image.size == (20, 40)
        browser.close()
    assert checks.problems == []
