"""Answer a survey in Welsh in Chromium with JavaScript switched off."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TEST_SECRET
from sqlalchemy import select
from surveys_testlib import make_survey, open_round_now, opened, tokens_for
from test_surveys_browser import AXE, _serious_violations, browser  # noqa: F401 - fixture

from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys.models import Response

SAFE_TO_RISK = "Mae’n ddiogel mentro yn y tîm hwn."
CONFIDENT = "Rwy’n hyderus y byddai fy sefydliad yn mynd i’r afael â’m pryder."


def _one_link(fresh_database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=tmp_path / "instance")
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        survey = make_survey(session, SystemClock(), settings, ["a@example.org"])
        round_ = open_round_now(session, SystemClock(), survey, settings)
        [token] = tokens_for(session, settings, round_, 1)
        session.commit()
    return settings, engine, round_, token


@pytest.mark.browser
def test_answer_a_survey_in_welsh_without_javascript(browser, fresh_database_url,  # noqa: F811
                                                     live_server, tmp_path: Path):
    settings, engine, round_, token = _one_link(fresh_database_url, tmp_path)
    server = live_server()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/s/{token}")
    # The English page links to the same page in Welsh.
    page.get_by_role("link", name="Cymraeg").click()
    assert page.locator("html").get_attribute("lang") == "cy"
    assert page.get_by_role("heading", name="Diogelwch seicolegol y tîm").is_visible()
    page.get_by_role("group", name=SAFE_TO_RISK).get_by_label("Cytuno", exact=True).check()
    page.get_by_role("group", name=CONFIDENT, exact=True).get_by_label("Cytuno’n gryf").check()
    page.get_by_role("group", name="Â pha grŵp ethnig ydych chi’n uniaethu?").get_by_label(
        "Mwyafrif Byd-eang").check()
    page.get_by_label("Unrhyw beth arall? (dewisol)").fill("Diolch.")
    page.get_by_role("button", name="Anfon fy atebion").click()

    # The partial-answer step, in Welsh, with its plural: 2 of 15 questions.
    assert "Rydych wedi ateb 2 o’r 15 cwestiwn." in page.locator("main").inner_text()
    page.get_by_role("button", name="Mynd yn ôl").click()
    assert page.get_by_role("group", name=SAFE_TO_RISK).get_by_label(
        "Cytuno", exact=True).is_checked()
    page.get_by_role("button", name="Anfon fy atebion").click()
    page.get_by_role("button", name="Anfon beth bynnag").click()

    assert page.url.endswith("/s/thanks?lang=cy")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Diolch — mae eich atebion wedi’u cadw")
    # The choice was remembered in the preference cookie, and it holds only the language.
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    assert cookies.get("speakup_lang") == "cy"
    context.close()

    with make_session_factory(engine)() as session:
        session.scalars(select(Response)).one()
        [response] = opened(session, settings, round_)
        # The same ids and values an English answer stores: no language anywhere.
        assert response.answers == {"psafe_4": 6, "speak_2": 5}
        assert response.groups == {"ethnicity": "global_majority"}
        assert response.comment == "Diolch."
    engine.dispose()


@pytest.mark.browser
def test_the_welsh_answering_page_has_no_serious_accessibility_violations(
        browser, fresh_database_url, live_server, tmp_path: Path):  # noqa: F811
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make browser-deps`")
    _settings, engine, _round, token = _one_link(fresh_database_url, tmp_path)
    engine.dispose()
    server = live_server()
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(f"{server.url}/s/{token}?lang=cy")
    violations = _serious_violations(page)
    context.close()
    assert violations == [], [(v["id"], v["help"]) for v in violations]
