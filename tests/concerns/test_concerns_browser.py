"""A real browser, JavaScript off for the reporter: report → receipt → reply → read.

Every page met on the way is also checked with axe-core (WCAG 2.2 A/AA; serious and
critical violations fail) and saved as a screenshot under test-artifacts/.
"""

from __future__ import annotations

import pyotp
import pytest
from conftest import REPO, TEST_SECRET, add_concern_reader
from playwright.sync_api import sync_playwright

from concerns import keys
from concerns.config import ConcernConfig
from speakup import accounts
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "handler password for the browser"
REPORT = "In the staff room a senior nurse said I should 'go back home'."
REPLY = "Thank you for telling us. We are taking this seriously and will update you here."
ANSWER = "Thank you. It happened on the late shift."
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


class PageChecks:
    """Screenshots and axe-core runs of the pages a test passes through."""

    def __init__(self, browser, base: str) -> None:  # type: ignore[no-untyped-def]
        # Scripts on here, so axe can run (the only page script is the receipt's copy button).
        self.page = browser.new_context(viewport={"width": 1280, "height": 900},
                                        bypass_csp=True).new_page()
        self.base = base
        self.problems: list[str] = []
        ARTIFACTS.mkdir(exist_ok=True)

    def check(self, name: str, html: str) -> None:
        self.page.goto(self.base + "/privacy")  # same origin, so the stylesheets load
        self.page.set_content(html)
        self.page.screenshot(path=str(ARTIFACTS / f"concerns-{name}.png"), full_page=True)
        if not AXE.exists():
            return
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
        self.problems += [f"{name}: {v['id']} ({v['impact']}): {v['help']}"
                          for v in result["violations"] if v["impact"] in ("serious", "critical")]


def sign_in_handler(staff, url: str, totp_secret: str) -> None:  # type: ignore[no-untyped-def]
    """Sign the site's handler in on the `staff` page, as a person would."""
    staff.goto(url + "/login")
    staff.get_by_label("E-mail address").fill("handler@example.org")
    staff.get_by_label("Password").fill(PASSWORD)
    staff.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(totp_secret).now())
    staff.get_by_role("button", name="Sign in").click()
    staff.wait_for_load_state()


@pytest.fixture
def site(live_server, fresh_database_url, tmp_path):
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET)
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        keys.create_recovery_key(session, SystemClock(), ConcernConfig.from_settings(settings),
                                 actor="test")
        handler = accounts.create_user(session, SystemClock(), email="handler@example.org",
                                       role="handler", password=PASSWORD, actor="test")
        # As after their first sign-in: no concern is taken before someone can read it.
        keys.unlock_handler_key(session, SystemClock(), ConcernConfig.from_settings(settings),
                                handler, PASSWORD)
        session.commit()
        secret = handler.totp_secret
    engine.dispose()
    return live_server(), secret


@pytest.mark.browser
def test_reporter_without_javascript_and_handler_converse(site):
    server, totp_secret = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        staff = browser.new_context().new_page()
        reporter_context = browser.new_context(java_script_enabled=False)
        reporter = reporter_context.new_page()
        checks = PageChecks(browser, server.url)

        # The handler signs in first, so the concern is encrypted to their new key.
        sign_in_handler(staff, server.url, totp_secret)
        assert staff.get_by_role("link", name="Inbox", exact=True).is_visible()

        reporter.goto(server.url + "/")
        reporter.get_by_role("link", name="Raise a concern").first.click()
        reporter.wait_for_load_state()
        checks.check("new", reporter.content())
        reporter.get_by_label("Racism or discrimination").check()
        reporter.get_by_label("What happened?").fill(REPORT)
        reporter.get_by_role("button", name="Send my concern").click()
        reporter.wait_for_load_state()
        receipt = reporter.locator("#receipt").inner_text().strip()
        assert len(receipt) == 24
        checks.check("receipt", reporter.content())

        staff.get_by_role("link", name="Inbox", exact=True).click()
        staff.wait_for_load_state()
        checks.check("inbox", staff.content())
        staff.locator("table.inbox a").first.click()
        staff.wait_for_load_state()
        assert REPORT in staff.content()
        checks.check("handler-concern", staff.content())
        staff.get_by_label("Your reply").fill(REPLY)
        staff.get_by_role("button", name="Send reply").click()
        staff.wait_for_load_state()
        assert "Your reply has been sent to the reporter." in staff.content()

        reporter.goto(server.url + "/concerns/check")
        reporter.get_by_label("Your receipt").fill(receipt.lower())
        reporter.get_by_role("button", name="Show my concern").click()
        reporter.wait_for_load_state()
        page = reporter.content()
        assert REPORT in page and REPLY in page and "Acknowledged" in page
        checks.check("conversation", page)
        reporter.get_by_label("Your reply").fill(ANSWER)
        reporter.get_by_role("button", name="Send reply").click()
        reporter.wait_for_load_state()
        assert "Your reply has been sent." in reporter.content()
        assert ANSWER in reporter.content()

        staff.reload()
        assert ANSWER in staff.content()
        cookies = reporter_context.cookies()
        assert {c["name"] for c in cookies} <= {"speakup_session"}
        assert all(receipt not in c["value"] for c in cookies)
        assert receipt not in reporter.url
        reporter.goto(server.url + "/concerns/check")
        reporter.get_by_role("button", name="Show my concern").click()  # nothing typed
        reporter.wait_for_load_state()
        checks.check("check-error", reporter.content())
        browser.close()
    assert checks.problems == []


@pytest.mark.browser
def test_receipt_on_a_phone_copies_prints_and_never_breaks_a_group(site):
    server, _ = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        # Without JavaScript: no copy button, the receipt is all there.
        plain = browser.new_context(java_script_enabled=False,
                                    viewport={"width": 320, "height": 640}).new_page()
        plain.goto(server.url + "/concerns/new")
        plain.get_by_label("Racism or discrimination").check()
        plain.get_by_label("What happened?").fill(REPORT)
        plain.get_by_role("button", name="Send my concern").click()
        plain.wait_for_load_state()
        assert len(plain.locator("#receipt").inner_text().strip()) == 24
        assert not plain.get_by_role("button", name="Copy the receipt").is_visible()

        # With JavaScript, on a 320-pixel phone with large text.
        context = browser.new_context(viewport={"width": 320, "height": 640},
                                      device_scale_factor=2)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = context.new_page()
        page.goto(server.url + "/concerns/new")
        page.get_by_label("Racism or discrimination").check()
        page.get_by_label("What happened?").fill(REPORT)
        page.get_by_role("button", name="Send my concern").click()
        page.wait_for_load_state()
        receipt = page.locator("#receipt").inner_text().replace("\n", "").strip()
        assert len(receipt) == 24
        page.evaluate("document.documentElement.style.fontSize = '200%'")
        # Every group sits on one line (one box), even when the receipt needs several lines.
        boxes = page.evaluate(
            "[...document.querySelectorAll('#receipt .receipt-group')]"
            ".map(g => g.getClientRects().length)")
        assert boxes == [1, 1, 1, 1, 1]
        tops = page.evaluate(
            "[...document.querySelectorAll('#receipt .receipt-group')]"
            ".map(g => Math.round(g.getBoundingClientRect().top))")
        assert len(set(tops)) > 1  # at this size it did wrap, only between groups
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320
        page.get_by_role("button", name="Copy the receipt").click()
        page.get_by_text("Copied.").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == receipt
        # Printed: the receipt and the advice, no button, no navigation.
        page.emulate_media(media="print")
        assert not page.get_by_role("button", name="Copy the receipt").is_visible()
        assert page.locator("#receipt").is_visible()
        assert not page.locator(".site-header nav").is_visible()
        browser.close()


@pytest.mark.browser
def test_too_large_form_loses_nothing_going_back(live_server, fresh_database_url, tmp_path):
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET)
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        keys.create_recovery_key(session, SystemClock(), ConcernConfig.from_settings(settings),
                                 actor="test")
        add_concern_reader(session, SystemClock(), ConcernConfig.from_settings(settings))
    engine.dispose()
    server = live_server(SPEAKUP_MAX_REQUEST_BYTES="4096")
    long_text = REPORT + " " + "More detail. " * 400  # about 5 KB: over the limit
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(server.url + "/concerns/new")
        page.get_by_label("Racism or discrimination").check()
        page.get_by_label("What happened?").fill(long_text)
        page.get_by_role("button", name="Send my concern").click()
        page.wait_for_load_state()
        assert "Your text is not lost" in page.content()
        page.go_back()
        page.wait_for_load_state()
        assert page.get_by_label("What happened?").input_value() == long_text
        browser.close()
