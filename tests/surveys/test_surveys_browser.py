"""Answer a survey through the real page in Chromium with JavaScript switched off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, TEST_SECRET
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import select
from surveys_testlib import make_survey, open_round_now, tokens_for

from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys.models import Response, ResponseAnswer, ResponseGroup

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.browser
def test_answer_a_survey_without_javascript(browser, fresh_database_url, live_server,
                                            tmp_path: Path):
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=tmp_path / "instance")
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        survey = make_survey(session, SystemClock(), settings, ["a@example.org"])
        round_ = open_round_now(session, SystemClock(), survey)
        [token] = tokens_for(session, settings, round_, 1)
        session.commit()
    server = live_server()
    url = f"{server.url}/s/{token}"

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url)
    assert page.get_by_role("heading", level=1).inner_text() == "Pulse check"
    # Radio groups are reachable by their question, options by their label.
    page.get_by_role("group", name="It is safe to take a risk on this team.").get_by_label(
        "Agree", exact=True).check()
    page.get_by_role("group", name="I am confident that my organisation would address my "
                     "concern.").get_by_label("Strongly agree").check()
    page.get_by_role("group", name="Which ethnicity group do you identify with?").get_by_label(
        "Global Majority").check()
    comment = page.get_by_label("Anything else? (optional)")
    comment.fill("x" * 2001)
    page.get_by_role("button", name="Send my answers").click()

    # A validation error: nothing saved, every choice still made, the text still there.
    assert page.get_by_role("heading", name="There is a problem").is_visible()
    assert page.get_by_role("group", name="It is safe to take a risk on this team."
                            ).get_by_label("Agree", exact=True).is_checked()
    assert page.get_by_role("group", name="Which ethnicity group do you identify with?"
                            ).get_by_label("Global Majority").is_checked()
    assert len(comment.input_value()) == 2001
    comment.fill("Please keep running these.")
    page.get_by_role("button", name="Send my answers").click()

    assert page.url.endswith("/s/thanks")
    assert "answers have been saved" in page.get_by_role("heading", level=1).inner_text()
    page.goto(url)
    assert "already been used" in page.get_by_role("heading", level=1).inner_text()
    context.close()

    with make_session_factory(engine)() as session:
        saved = session.scalars(select(Response)).one()
        assert saved.comment == "Please keep running these."
        answers = dict(session.execute(select(ResponseAnswer.item_id, ResponseAnswer.value)).all())
        assert answers == {"psafe_4": 6, "speak_2": 5}
        groups = dict(session.execute(select(ResponseGroup.dimension, ResponseGroup.option)).all())
        assert groups == {"ethnicity": "global_majority"}
    engine.dispose()


@pytest.mark.browser
def test_the_answering_page_has_no_serious_accessibility_violations(
    browser, fresh_database_url, live_server, tmp_path: Path
):
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make browser-deps`")
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=tmp_path / "instance")
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        survey = make_survey(session, SystemClock(), settings, ["a@example.org"])
        round_ = open_round_now(session, SystemClock(), survey)
        [token] = tokens_for(session, settings, round_, 1)
        session.commit()
    engine.dispose()
    server = live_server()
    # axe needs JavaScript; the page itself never runs any (CSP: no inline scripts).
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(f"{server.url}/s/{token}")
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    violations = [v for v in json.loads(result)["violations"]
                  if v["impact"] in ("serious", "critical")]
    context.close()
    assert violations == [], [(v["id"], v["help"]) for v in violations]
