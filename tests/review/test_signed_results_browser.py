"""A member of the public checks the published figures, as issue 22's "done when" reads.

JavaScript off: from /results/ they download the signed progress report and the log,
copy the fingerprint, save the page, and run the single-file verifier (stdlib and
`cryptography` only). Then a figure is edited and the verifier says so. The page with
its "Check these figures" block, and a reviewer's comparison with two imported peers,
pass axe-core.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyotp
import pytest
from conftest import PASSWORD, TEST_SECRET
from playwright import sync_api as playwright
from test_results_browser import AXE, CHROMIUM, LAUNCH_ARGS, SCREEN, run_axe
from test_results_page import TWO_ROUNDS, publish
from verifier_support import isolated_verifier, run_isolated

from review import demo, peers, progress_report
from speakup import accounts
from speakup.clock import FrozenClock
from speakup.db import make_engine, make_session_factory
from speakup.derived_keys import session_keys
from speakup.settings import Settings

REVIEWER = "peers.reviewer@example.org"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install)"),
]


def seed(url: str, instance: Path) -> str:
    """Two published rounds, a signed progress report, two imported peers and a reviewer.

    Returns the reviewer's TOTP secret.
    """
    settings = Settings(instance_path=instance, database_url=url, secret_key=TEST_SECRET)
    engine = make_engine(url)
    try:
        with make_session_factory(engine, session_keys(TEST_SECRET))() as session:
            clock = FrozenClock()
            publish(session, settings, clock, TWO_ROUNDS)
            entry = progress_report.publish_report(session, settings.min_group_size,
                                                   clock.today())
            for name, shift in demo.PEERS:
                peers.import_report(session, clock, organisation=name, actor="test",
                                    text=json.dumps(demo.peer_file(json.loads(entry.payload),
                                                                   shift)))
            user = accounts.create_user(session, clock, email=REVIEWER, role="reviewer",
                                        password=PASSWORD, actor="test", with_totp=True)
            session.commit()
            return user.totp_secret or ""
    finally:
        engine.dispose()


def download(page, name: str, folder: Path) -> Path:  # type: ignore[no-untyped-def]
    with page.expect_download() as info:
        page.get_by_role("link", name=name).click()
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return target


def test_a_member_of_the_public_verifies_the_figures_offline(live_server, fresh_database_url,
                                                             tmp_path):
    secret = seed(fresh_database_url, tmp_path / "instance")
    server = live_server(workers=1, threads=4)
    base = server.url
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            reader = browser.new_context(viewport=SCREEN, java_script_enabled=False,
                                         accept_downloads=True)
            page = reader.new_page()
            page.goto(base + "/results/")
            assert page.get_by_role("heading", name="Check these figures").count() == 1
            fingerprint = page.locator("code.fingerprint").inner_text()
            assert re.fullmatch(r"(?:[0-9a-f]{4} ){15}[0-9a-f]{4}", fingerprint)
            saved_page = downloads / "results.html"
            saved_page.write_text(page.content())
            report = download(page, "Progress report, signed (JSON)", downloads)
            log = download(page, "Log of every publication (JSON)", downloads)
            assert report.name.startswith("speakup-progress-report-")
            reader.close()

            checker = browser.new_context(viewport=SCREEN, bypass_csp=True)
            axe_page = checker.new_page()
            axe_page.goto(base + "/results/")
            found = {"/results/": run_axe(axe_page)}
            # A reviewer's comparison with the two imported peers.
            axe_page.goto(base + "/login")
            axe_page.fill("#email", REVIEWER)
            axe_page.fill("#password", PASSWORD)
            axe_page.fill("#totp", pyotp.TOTP(secret).now())
            axe_page.click("main button[type=submit]")
            axe_page.wait_for_load_state()
            axe_page.goto(base + "/review/peers")
            rows = axe_page.locator(".peers-table tbody tr")
            assert rows.count() == 1
            assert rows.first.locator("td").all_inner_texts() == ["80%", "74%", "84%", "79%",
                                                                  "74% to 84%"]
            found["/review/peers"] = run_axe(axe_page)
            checker.close()
        finally:
            browser.close()
    for url, result in found.items():
        assert result["passes"] and not result["violations"], (url, result["violations"])

    folder = isolated_verifier(tmp_path)
    result = run_isolated(folder, str(report), "--key", fingerprint, "--log", str(log),
                          "--results", str(saved_page))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The results page shows the signed figures" in result.stdout
    # Someone edits the speaking-up figure in the downloaded report: reported.
    document = json.loads(report.read_text())
    document["payload"] = document["payload"].replace('"favourable_shown":"80%"',
                                                      '"favourable_shown":"90%"')
    report.write_text(json.dumps(document))
    result = run_isolated(folder, str(report), "--key", fingerprint)
    assert result.returncode == 1
    assert "the figures do not match the signed hash" in result.stdout
