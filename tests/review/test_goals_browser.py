"""Goals, actions and the overview in Debian's Chromium: JavaScript off, then axe-core.

Runs `speakup demo` (which sets two goals and logs one action) against gunicorn,
sets a third goal through the form with JavaScript off, sees a refused form keep
what was typed, then checks the goals, actions, overview and trends pages with
axe-core for WCAG 2.2 A/AA: no violation of any impact.
"""

from __future__ import annotations

import pytest
from test_review_browser import (
    ARTIFACTS,
    AXE,
    CHROMIUM,
    LAUNCH_ARGS,
    PHONE,
    SCREEN,
    playwright,
    run_axe,
    run_demo,
    sign_in,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install)"),
]

PAGES = ["/review/", "/review/goals", "/review/goals/1/edit", "/review/actions",
         "/review/actions/1/edit", "/review/trends?dimension="]


def test_goals_pages_in_chromium(live_server):  # type: ignore[no-untyped-def]
    server = live_server(workers=2, threads=4)
    password = run_demo(server.env)
    base = server.url
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport=SCREEN, java_script_enabled=False)
            page = context.new_page()
            sign_in(page, base, password)

            page.goto(base + "/review/goals")
            rows = page.locator("#current-h ~ .table-scroll .goals-table tbody tr")
            assert rows.count() == 2  # the demo's two goals
            assert "at least 75%" in rows.nth(0).inner_text()
            assert "at most 5 pts" in rows.nth(1).inner_text()

            # A refused form keeps what was typed.
            page.fill("#label", "Fewer staff harassed by colleagues")
            page.select_option("#metric", "favourable")
            incl = page.locator("#row option[value$=':incl']").get_attribute("value")
            page.select_option("#row", incl)  # inclusive leadership, not speaking up
            page.fill("#target", "60")
            page.fill("#due_on", "2027-06-30")
            page.click("form.stack button[type=submit]")  # no owner yet
            assert page.locator(".error-summary").count() == 1
            assert "Enter an owner" in page.locator(".error-summary").inner_text()
            assert page.input_value("#label") == "Fewer staff harassed by colleagues"
            assert (page.input_value("#target"), page.input_value("#due_on")) == (
                "60", "2027-06-30")
            page.fill("#owner", "HR")
            page.click("form.stack button[type=submit]")
            assert page.locator(".error-summary").count() == 0
            assert rows.count() == 3
            page.screenshot(path=str(ARTIFACTS / "review-goals.png"), full_page=True)

            page.goto(base + "/review/")
            goals = page.locator(".goals-tile .goals-table tbody tr")
            assert goals.count() == 3
            statuses = {goals.nth(i).locator(".goal-status").inner_text() for i in range(3)}
            assert statuses <= {"on track", "off track", "not measurable"}
            # The one-screen summary above the goals still fits one screen.
            overview = page.locator(".overview").bounding_box()
            assert overview["y"] + overview["height"] <= SCREEN["height"], overview

            page.goto(base + "/review/actions")
            assert page.locator(".actions-log li").count() == 1
            assert "Board listening sessions" in page.locator(".actions-log").inner_text()

            page.goto(base + "/review/trends?dimension=")
            speak = page.locator("#trend-speak").locator("xpath=..")
            assert speak.locator("line.target-line").count() == 3  # favourable, gap +5 and -5
            assert speak.locator("g.date-mark-action").count() == 2  # on both charts
            assert speak.locator(".chart-notes li").count() >= 4
            page.screenshot(path=str(ARTIFACTS / "review-trends-goals.png"), full_page=True)
            context.close()

            # A phone: nothing wider than the screen (wide tables scroll inside their box).
            phone = browser.new_context(viewport=PHONE, java_script_enabled=False)
            page = phone.new_page()
            sign_in(page, base, password)
            for url in PAGES:
                page.goto(base + url)
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 1, (url, overflow)
            phone.close()

            staff = browser.new_context(viewport=SCREEN, bypass_csp=True)
            page = staff.new_page()
            sign_in(page, base, password)
            violations = {}
            for url in PAGES:
                assert page.goto(base + url).status == 200, url
                found = run_axe(page)["violations"]
                if found:
                    violations[url] = [(v["id"], v["impact"], v["nodes"][0]["target"])
                                       for v in found]
            staff.close()
        finally:
            browser.close()
    assert violations == {}
