"""Publish through the real pages in Chromium, JavaScript off: the status page reloads itself."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from conftest import PASSWORD, REPO, TEST_SECRET, VENV_BIN
from playwright.sync_api import Browser, expect, sync_playwright
from surveys_testlib import make_survey, open_round_now, tokens_for

from speakup import accounts
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys import rounds
from surveys.invitations import token_key
from surveys.responses import Submission, submit_response

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
GROUPS = ([{"ethnicity": "white"}] * 4 + [{"ethnicity": "global_majority"}] * 4)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _serious_violations(page) -> list[dict]:  # type: ignore[no-untyped-def]
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    return [v for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.browser
def test_publish_and_follow_the_self_refreshing_page_to_the_results(
        browser, fresh_database_url, live_server, tmp_path: Path):
    instance = tmp_path / "instance"
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=instance)
    clock = SystemClock()
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        admin = accounts.create_user(session, clock, email="admin@example.org", role="admin",
                                     password=PASSWORD, actor="test")
        survey = make_survey(session, clock, settings, ["a@example.org"])
        round_ = open_round_now(session, clock, survey, settings)
        for token, groups in zip(tokens_for(session, settings, round_, len(GROUPS)), GROUPS,
                                 strict=True):
            submit_response(session, token_key(settings), token, Submission(
                answers={"psafe_1": 4, "speak_1": 3}, groups=groups))
        rounds.close_round(session, round_, clock)
        session.commit()
        secret, survey_id, round_id = admin.totp_secret or "", survey.id, round_.id
    engine.dispose()
    server = live_server(workers=1, threads=2)

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("#email", "admin@example.org")
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{server.url}/admin/surveys/{survey_id}")
    page.get_by_role("link", name="Publish now…").click()
    page.get_by_label("I understand that the raw answers will be deleted").check()
    page.get_by_role("button", name="Publish Round 1").click()

    # The web server only queued it: no scheduler runs yet, so it waits, and says so.
    assert page.url.endswith(f"/admin/surveys/rounds/{round_id}/publication")
    status = page.get_by_role("status")
    expect(status).to_contain_text("Checking what can be shown safely")
    assert "Waiting for the scheduler" in page.locator("main").inner_text()
    # axe (a script, so in a second context of the same session) finds nothing serious
    # on the page with its reloading stopped (axe counts any timed reload as a violation:
    # hence the page's link to stop it).
    checked = browser.new_context(storage_state=context.storage_state(), bypass_csp=True)
    axe_page = checked.new_page()
    axe_page.goto(f"{page.url}?reload=off")
    violations = _serious_violations(axe_page)

    # The separate scheduler process (as in production) picks the job up; the page
    # reloads itself (meta refresh, no JavaScript) until it shows the result.
    with (tmp_path / "scheduler.log").open("wb") as log:
        scheduler = subprocess.Popen([str(VENV_BIN / "speakup"), "scheduler"],
                                     env=server.env, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=tmp_path)
    try:
        expect(page.get_by_text("Published.")).to_be_visible(timeout=90_000)
    finally:
        # Its other jobs may be mid-way (an erasure waits for older transactions).
        scheduler.terminate()
        try:
            scheduler.wait(timeout=120)
        except subprocess.TimeoutExpired:
            scheduler.kill()
            scheduler.wait()
    axe_page.goto(page.url)
    violations += _serious_violations(axe_page)
    checked.close()
    assert violations == [], [(v["id"], v["help"]) for v in violations]
    page.get_by_role("link", name="See the published results of Round 1").click()
    assert page.url.endswith(f"/review/rounds/{round_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Round 1")
    context.close()
