"""The staff results page in Debian's Chromium: the demo's figures with JavaScript off, axe.

Seeds `speakup demo` into a real server (gunicorn), reads `/results/` as any member of
staff would (no sign-in, JavaScript off), has an admin switch it off and on by keyboard-
free form posts, and checks the page and the admin switch with axe-core (WCAG 2.2 A/AA):
no violation of any impact. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyotp
import pytest
from conftest import PASSWORD, REPO, VENV_BIN

from speakup import accounts
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts"
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
SCREEN = {"width": 1366, "height": 768}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
EMAIL = "results.admin@example.org"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install)"),
]


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


def sign_in(page, base: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in once per test: a TOTP code works only once."""
    page.goto(base + "/login")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url(base + "/admin/")


def switch(page, base: str, label: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/admin/results-page")
    page.get_by_label(label).check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(base + "/admin/results-page")


def run_axe(page) -> dict:  # type: ignore[no-untyped-def]
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """tags => axe.run({include: [document], exclude: [["svg.chart *"]]},
                           {runOnly: {type: 'tag', values: tags}})""",
        AXE_TAGS,
    )


def test_results_page_shows_the_demo_with_javascript_off_and_passes_axe(
    live_server, fresh_database_url
):
    secret = seed_admin(fresh_database_url)
    server = live_server(workers=1, threads=4)
    subprocess.run([str(VENV_BIN / "speakup"), "demo"], env=server.env, cwd=REPO,
                   capture_output=True, text=True, check=True, timeout=300)
    base = server.url
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            # Any member of staff, JavaScript off: from the home page to the results.
            staff = browser.new_context(viewport=SCREEN, java_script_enabled=False)
            page = staff.new_page()
            page.goto(base + "/")
            page.get_by_role("link", name="See the results").click()
            page.wait_for_url(base + "/results/")
            response = page.goto(base + "/results/")
            assert response.status == 200
            assert "set-cookie" not in response.all_headers()
            assert page.locator("h1").inner_text() == "What happened after the last survey"
            # The demo's three headline scales, each with a figure, and one gap chart.
            rows = page.locator(".headline-table tbody tr")
            assert rows.count() == 3
            for i in range(3):
                assert rows.nth(i).locator("td").first.inner_text().endswith("%")
            assert page.locator("svg.chart-gap").count() == 1
            assert page.get_by_role("heading", name="Our goals").count() == 1
            assert page.get_by_role("heading", name="What we did").count() == 1
            assert staff.cookies() == []
            page.screenshot(path=str(ARTIFACTS / "results-page.png"), full_page=True)

            # An admin switches it off: not found, and the home page no longer links it.
            # (The admin pages ship no script either; JavaScript is on here only so that
            # axe-core can run below, with CSP bypassed only to inject it.)
            admin = browser.new_context(viewport=SCREEN, bypass_csp=True)
            admin_page = admin.new_page()
            sign_in(admin_page, base, secret)
            switch(admin_page, base, "Off: the page is not found and nothing links to it")
            assert "now off" in admin_page.content()
            assert page.goto(base + "/results/").status == 404
            page.goto(base + "/")
            assert page.get_by_role("link", name="See the results").count() == 0
            switch(admin_page, base, "On: anyone can see the latest published results, "
                                     "goals and actions at /results/, linked from survey "
                                     "e-mails")
            assert page.goto(base + "/results/").status == 200
            staff.close()

            # axe-core needs script: JavaScript on, CSP bypassed only to inject it.
            results = {}
            checker = browser.new_context(viewport=SCREEN, bypass_csp=True)
            page = checker.new_page()
            for url in ("/results/", "/"):
                page.goto(base + url)
                results[url] = run_axe(page)
            checker.close()
            for url in ("/admin/results-page", "/admin/", "/staff"):
                admin_page.goto(base + url)
                results[url] = run_axe(admin_page)
            admin.close()
        finally:
            browser.close()

    summary = {url: [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                      "target": v["nodes"][0]["target"]} for v in r["violations"]]
               for url, r in results.items()}
    (ARTIFACTS / "axe-results-results-page.json").write_text(json.dumps(summary, indent=2))
    assert all(r["passes"] for r in results.values())
    assert not any(summary.values()), summary
