"""Answer a survey through the real page in Chromium with JavaScript switched off."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pyotp
import pytest
from conftest import PASSWORD, REPO, TEST_SECRET
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import select
from surveys_testlib import make_survey, open_round_now, opened, tokens_for

from speakup import accounts
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys import rounds
from surveys.models import Response

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts"


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
        round_ = open_round_now(session, SystemClock(), survey, settings)
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

    # Two of fifteen questions answered: one step, then go back and find every choice kept.
    assert "You answered 2 of 15 questions." in page.locator("main").inner_text()
    page.get_by_role("button", name="Go back").click()
    assert page.get_by_role("group", name="It is safe to take a risk on this team."
                            ).get_by_label("Agree", exact=True).is_checked()
    assert comment.input_value() == "Please keep running these."
    page.get_by_role("button", name="Send my answers").click()
    page.get_by_role("button", name="Send anyway").click()

    assert page.url.endswith("/s/thanks")
    assert "answers have been saved" in page.get_by_role("heading", level=1).inner_text()
    page.goto(url)
    assert "already been used" in page.get_by_role("heading", level=1).inner_text()
    context.close()

    with make_session_factory(engine)() as session:
        saved = session.scalars(select(Response)).one()
        assert b"Please keep running" not in saved.sealed
        [response] = opened(session, settings, round_)
        assert response.comment == "Please keep running these."
        assert response.answers == {"psafe_4": 6, "speak_2": 5}
        assert response.groups == {"ethnicity": "global_majority"}
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
        round_ = open_round_now(session, SystemClock(), survey, settings)
        [token] = tokens_for(session, settings, round_, 1)
        session.commit()
    engine.dispose()
    server = live_server()
    # axe needs JavaScript; the page itself never runs any (CSP: no inline scripts).
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(f"{server.url}/s/{token}")
    violations = _serious_violations(page)
    # The "you answered 1 of 15 questions" step too.
    page.get_by_role("group", name="It is safe to take a risk on this team.").get_by_label(
        "Agree", exact=True).check()
    page.get_by_role("button", name="Send my answers").click()
    assert "You answered 1 of 15 questions." in page.locator("main").inner_text()
    violations += _serious_violations(page)
    context.close()
    assert violations == [], [(v["id"], v["help"]) for v in violations]


def _serious_violations(page) -> list[dict]:  # type: ignore[no-untyped-def]
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    return [v for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]


LONG_TITLE = ("Which directorate, department, service line or hosted organisation "
              "(Cardiothoracic-and-vascular-surgery-and-interventional-radiology) do you work in?")


@pytest.mark.browser
def test_scale_layout_at_1280_and_390_px_with_screenshots(browser, fresh_database_url,
                                                          live_server, tmp_path: Path):
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=tmp_path / "instance")
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        survey = make_survey(session, SystemClock(), settings, ["a@example.org"], demographics=[
            {"id": "team", "label": LONG_TITLE, "options": ["Nursing", "Estates"]}])
        round_ = open_round_now(session, SystemClock(), survey, settings)
        [token] = tokens_for(session, settings, round_, 1)
        session.commit()
    engine.dispose()
    server = live_server()
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        context = browser.new_context(java_script_enabled=False,
                                      viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(f"{server.url}/s/{token}")
        group = page.get_by_role("group", name="It is safe to take a risk on this team.")
        boxes = [o.bounding_box() for o in group.locator(".option").all()]
        assert len(boxes) == 8  # seven points and "No answer"
        labels = [b.bounding_box() for b in group.locator(".option label").all()]
        if width == 1280:
            # One line: every option starts at the same height, left to right, no overlap.
            assert len({round(b["y"]) for b in boxes}) == 1, boxes
            assert all(a["x"] + a["width"] <= b["x"] for a, b in pairwise(labels))
        else:
            # Stacked: each option below the one before.
            assert all(a["y"] + a["height"] <= b["y"] for a, b in pairwise(boxes)), boxes
        # Long titles stay inside their box, and nothing scrolls sideways.
        long_group = page.get_by_role("group", name=LONG_TITLE)
        box = long_group.bounding_box()
        legend = long_group.locator("legend").bounding_box()
        assert legend["x"] + legend["width"] <= box["x"] + box["width"] + 0.5
        # A locator's evaluate runs in the page even with the page's JavaScript off.
        assert page.locator("html").evaluate("e => e.scrollWidth") <= width
        page.screenshot(path=str(ARTIFACTS / f"survey-answer-{width}px.png"), full_page=True)
        context.close()


@pytest.mark.browser
def test_admin_confirms_open_and_close_and_previews_with_no_serious_violations(
        browser, fresh_database_url, live_server, tmp_path: Path):
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make browser-deps`")
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=tmp_path / "instance")
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        admin = accounts.create_user(session, SystemClock(), email="admin@example.org",
                                     role="admin", password=PASSWORD, actor="test")
        survey = make_survey(session, SystemClock(), settings, ["a@example.org"])
        rounds.add_round(session, survey, SystemClock().now() + dt.timedelta(days=1))
        session.commit()
        secret, survey_id = admin.totp_secret or "", survey.id
    engine.dispose()
    server = live_server(workers=1, threads=2)
    context = browser.new_context(bypass_csp=True)  # axe runs as a script; the pages need none
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("#email", "admin@example.org")
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{server.url}/admin/surveys/{survey_id}")
    violations = _serious_violations(page)

    page.get_by_role("link", name="Open now…").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Open Round 1 · ")
    violations += _serious_violations(page)
    page.get_by_role("button", name="Open Round 1").click()
    assert "Round opened" in page.locator("main").inner_text()

    page.get_by_role("link", name="Close now…").click()
    assert "raw answers are deleted for good" in page.locator("main").inner_text()
    violations += _serious_violations(page)
    page.get_by_role("button", name="Close Round 1").click()  # box not ticked: refused
    assert page.get_by_role("heading", name="There is a problem").is_visible()
    page.get_by_label("I understand that the raw answers will be deleted").check()
    page.get_by_role("button", name="Close Round 1").click()
    assert "Round closed" in page.locator("main").inner_text()

    page.get_by_role("link", name="Preview as staff see it").click()
    assert "this is exactly what staff see" in page.locator("main").inner_text()
    violations += _serious_violations(page)
    context.close()
    assert violations == [], [(v["id"], v["help"]) for v in violations]
