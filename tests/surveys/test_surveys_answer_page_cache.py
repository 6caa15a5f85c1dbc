"""The answering page is built once per survey: nobody's link or CSRF token reaches another.

`surveys/answer_views.py` keeps the page with nothing chosen with the respondent's link
and CSRF token cut out (issue 23: rendering it was about a quarter of an answer's CPU). Tested
from the respondent's side: each page holds its own link and token and nobody else's,
is what a fresh rendering gives, and works to the end.
"""

from __future__ import annotations

import pytest
from conftest import csrf_token_from
from flask.testing import FlaskClient
from sqlalchemy import func, select
from surveys_testlib import make_survey, open_round_now, tokens_for

from surveys.answer_views import PAGE_CACHE
from surveys.models import Response


@pytest.fixture
def links(session, clock, settings):
    survey = make_survey(session, clock, settings, ["a@example.org", "b@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    tokens = tokens_for(session, settings, round_, 3)
    session.commit()
    return survey, tokens


def _page(client: FlaskClient, token: str, query: str = "") -> str:
    response = client.get(f"/s/{token}{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_each_respondent_gets_their_own_link_and_token_and_nobody_elses(app, links):
    _, (first, second, third) = links
    one, two = app.test_client(), app.test_client()  # two people's browsers
    page_one = _page(one, first)
    page_two = _page(two, second)
    assert app.extensions[PAGE_CACHE], "the second page should come from the kept one"

    token_one, token_two = csrf_token_from(page_one), csrf_token_from(page_two)
    assert token_one != token_two
    assert first not in page_two and token_one not in page_two
    assert second in page_two and f"/s/{second}?lang=cy" in page_two  # the language link
    # Apart from the link and the CSRF token, the two pages are the same page.
    assert page_two.replace(second, first).replace(token_two, token_one) == page_one
    assert "\x00" not in page_two

    # What a fresh rendering would give for the third person.
    app.extensions[PAGE_CACHE].clear()
    three = app.test_client()
    fresh = _page(three, third)
    app.extensions[PAGE_CACHE].clear()
    _page(app.test_client(), first)  # someone else's visit fills the cache again
    kept = _page(three, third)
    assert kept.replace(csrf_token_from(kept), "T") == fresh.replace(csrf_token_from(fresh), "T")


def test_the_kept_page_sends_answers_with_its_own_token(app, links, session):
    _, (first, second, _) = links
    _page(app.test_client(), first)
    browser = app.test_client()
    page = _page(browser, second)
    answered = browser.post(f"/s/{second}", data={
        "csrf_token": csrf_token_from(page), "item-psafe_1": "3", "send_anyway": "1"})
    assert answered.status_code == 302 and answered.headers["Location"].endswith("/s/thanks")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Response)) == 1
    # Another browser's token is refused: the kept page did not carry someone's session.
    other = _page(app.test_client(), first)
    refused = browser.post(f"/s/{first}", data={
        "csrf_token": csrf_token_from(other), "item-psafe_1": "3", "send_anyway": "1"})
    assert refused.status_code == 400


def test_an_edited_survey_and_another_language_get_their_own_page(app, links, session):
    survey, (first, second, third) = links
    english = _page(app.test_client(), first)
    welsh = _page(app.test_client(), second, "?lang=cy")
    assert 'lang="cy"' in welsh and 'lang="cy"' not in english.split(">", 2)[1]
    survey.title = "Pulse, renamed"
    session.commit()
    renamed = _page(app.test_client(), third)
    assert "Pulse, renamed" in renamed and "Pulse, renamed" not in english
