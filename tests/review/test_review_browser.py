"""The review pages in Debian's Chromium: JavaScript off, axe-core, screenshots.

Runs `speakup demo` against a real server (gunicorn), signs in as the demo
reviewer and looks at every review page with JavaScript disabled, saving
screenshots of the overview, a round report, the trends and the mechanisms pages
at 1366 × 768 and 390 × 844 under test-artifacts/. Then, with JavaScript on only so
that axe-core can run (the pages themselves ship no script), it checks every review page and the
staff-facing pages for WCAG 2.2 A/AA violations and fails on any serious or
critical one. The axe results are written to test-artifacts/axe-results.json.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts"
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
SCREEN = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PUBLIC_PAGES = ["/", "/login", "/privacy", "/concerns/new", "/concerns/check",
                "/s/this-is-not-a-valid-token-0000"]
STAFF_PAGES = ["/staff", "/account/password"]  # what a reviewer sees besides the review pages

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install)"),
]


def run_demo(env: dict[str, str]) -> str:
    """Seed the demo and return the reviewer's one-time password from its output."""
    out = subprocess.run([str(VENV_BIN / "speakup"), "demo"], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=180)
    match = re.search(r"reviewer\s+\S+\s+password: (\S+)", out.stdout)
    assert match, out.stdout
    return match.group(1)


def sign_in(page, base: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/login")
    page.fill("#email", "reviewer@demo.speakup.local")
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]


def review_urls(page, base: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every review page, each round report with every breakdown it offers."""
    page.goto(base + "/review/rounds")
    rounds = [a.get_attribute("href") for a in page.locator("table a").all()]
    assert len(rounds) >= 6, rounds
    latest = rounds[0]
    page.goto(base + latest)
    breakdowns = [a.get_attribute("href") for a in page.locator(".breakdown a").all()]
    return ["/review/", "/review/rounds", *rounds, *breakdowns[1:], "/review/trends",
            "/review/trends?dimension=team", "/review/trends?dimension=", "/review/mechanisms"]


def run_axe(page) -> dict:  # type: ignore[no-untyped-def]
    """Run axe-core on the page; a chart counts as one image (its parts are presentational)."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """tags => axe.run({include: [document], exclude: [["svg.chart *"]]},
                           {runOnly: {type: 'tag', values: tags}})""",
        AXE_TAGS,
    )


def test_review_pages_in_chromium(live_server):  # type: ignore[no-untyped-def]
    server = live_server(workers=2, threads=4)
    password = run_demo(server.env)
    base = server.url
    ARTIFACTS.mkdir(exist_ok=True)
    sync = playwright.sync_playwright
    with sync() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            # JavaScript off, as a cautious reader might browse: everything must be there.
            context = browser.new_context(viewport=SCREEN, java_script_enabled=False)
            page = context.new_page()
            sign_in(page, base, password)
            urls = review_urls(page, base)

            page.goto(base + "/review/")
            assert page.locator("svg.chart").count() == 1
            assert page.locator(".headline-table tbody tr").count() == 3
            assert page.locator(".clocks dd").count() == 4  # the demo concerns' clocks
            page.screenshot(path=str(ARTIFACTS / "review-overview.png"))
            page.screenshot(path=str(ARTIFACTS / "review-overview-1366x768.png"))
            overview = page.locator(".overview").bounding_box()
            # The overview fits one 1366 × 768 screen without scrolling.
            assert overview["y"] + overview["height"] <= SCREEN["height"], overview

            latest = urls[2]
            page.goto(base + latest + "?dimension=team")
            # One scale per page with a breakdown, and a contents list to the others.
            assert page.locator("svg.chart-diverging").count() >= 5
            assert page.locator("nav.contents li").count() >= 5
            assert page.get_by_text("not shown: either fewer than 5 responses").count() >= 1
            estates = page.locator(".compact-table tr", has_text="Estates")
            assert estates.locator("td").inner_text() == "not shown"
            page.goto(base + latest)
            page.screenshot(path=str(ARTIFACTS / "review-round.png"), full_page=True)
            page.screenshot(path=str(ARTIFACTS / "review-round-1366x768.png"))
            page.emulate_media(media="print")
            assert not page.locator(".breakdown").is_visible()
            page.emulate_media(media="screen")

            page.goto(base + "/review/trends")
            assert page.locator("svg.chart-gap").count() >= 1
            page.screenshot(path=str(ARTIFACTS / "review-trends.png"), full_page=True)
            page.screenshot(path=str(ARTIFACTS / "review-trends-1366x768.png"))

            page.goto(base + "/review/mechanisms")
            assert page.get_by_text("Do staff feel safe to speak up?").count() == 1
            # Hidden counts are markers on the baseline, never bars with height.
            assert page.locator("svg.chart rect.not-shown").count() == 0
            page.screenshot(path=str(ARTIFACTS / "review-mechanisms-1366x768.png"))
            # Every page type is checked by axe; older rounds only differ in their figures.
            axe_urls = [u for u in urls if not u.startswith("/review/rounds/") or
                        u.startswith(latest)]
            for url in urls:
                response = page.goto(base + url)
                assert response.status == 200, url
            context.close()

            # A phone: the same pages at 390 × 844, nothing wider than the screen.
            phone = browser.new_context(viewport=PHONE, java_script_enabled=False)
            page = phone.new_page()
            sign_in(page, base, password)
            for name, url in (("overview", "/review/"), ("round", latest),
                              ("trends", "/review/trends"), ("mechanisms", "/review/mechanisms")):
                page.goto(base + url)
                page.screenshot(path=str(ARTIFACTS / f"review-{name}-390x844.png"))
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 1, (url, overflow)
            phone.close()

            # axe-core needs script: JavaScript on, CSP bypassed only to inject it.
            results: dict[str, dict] = {}
            public = browser.new_context(viewport=SCREEN, bypass_csp=True)
            page = public.new_page()
            for url in PUBLIC_PAGES:
                response = page.goto(base + url)
                if response.status == 404 and not url.startswith("/s/"):
                    continue  # that package has no such page (yet)
                results[url] = run_axe(page)
            public.close()
            staff = browser.new_context(viewport=SCREEN, bypass_csp=True)
            page = staff.new_page()
            sign_in(page, base, password)
            for url in STAFF_PAGES:
                if page.goto(base + url).status == 200:
                    results[url] = run_axe(page)
            for url in urls:
                if url in axe_urls:
                    page.goto(base + url)
                    results[url] = run_axe(page)
            staff.close()
        finally:
            browser.close()

    summary = {
        url: {
            "violations": [
                {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]),
                 "help": v["help"]}
                for v in result["violations"]
            ],
            "passes": len(result["passes"]),
            "incomplete": [v["id"] for v in result["incomplete"]],
        }
        for url, result in results.items()
    }
    (ARTIFACTS / "axe-results.json").write_text(json.dumps(summary, indent=2))
    serious = [
        f"{url}: {v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']} — "
        f"{v['nodes'][0]['target']}"
        for url, result in results.items()
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, "\n".join(serious)
    assert len(results) >= 8 + 5
