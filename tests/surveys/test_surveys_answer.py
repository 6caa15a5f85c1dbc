"""The answering page: link states, validation that keeps choices, one response per link."""

from __future__ import annotations

import re

import pytest
from conftest import csrf_token_from, post_form
from sqlalchemy import func, select
from surveys_testlib import make_survey, open_round_now, opened, tokens_for

from surveys import rounds
from surveys.invitations import new_token, token_key
from surveys.models import Response, TokenHash
from surveys.responses import (
    AnswerError,
    LinkNotUsable,
    LinkState,
    Submission,
    submit_response,
)


@pytest.fixture
def link(session, clock, settings):
    """An open round of a survey with one unused personal link; returns (round, token)."""
    survey = make_survey(session, clock, settings, ["someone@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    [token] = tokens_for(session, settings, round_, 1)
    session.commit()
    return round_, token


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def checked(html: str, name: str, value: str) -> bool:
    pattern = rf'<input type="radio" name="{re.escape(name)}" id="[^"]+" value="{value}" checked>'
    return re.search(pattern, html) is not None


def test_the_page_says_what_is_collected_and_uses_accessible_radio_groups(client, link):
    _, token = link
    html = client.get(f"/s/{token}").get_data(as_text=True)
    assert "What is saved" in html and "What is not saved" in html
    assert "Results for a group are shown only if at least 3 people in it answer" in html
    assert "one person’s answers, or any group of fewer than 3 people" in html
    assert "at least 10 people answer" in html  # comments need max(k, 10)
    assert html.count("<fieldset") == html.count("<legend>") == 7 + 4 + 4 + 2
    assert '<label for="item-psafe_1-7">Strongly agree</label>' in html
    assert '<label for="item-wres_5-0">Prefer not to say</label>' in html
    assert '<label for="group-ethnicity-prefer_not">Prefer not to say</label>' in html
    assert "Do not write any names" in html
    assert "<script" not in html and "style=" not in html


def test_a_partial_answer_is_saved_once_without_anything_that_links_it(client, session, link,
                                                                      settings):
    round_, token = link
    response = post_form(client, f"/s/{token}", {
        "item-psafe_1": "2", "item-speak_3": "5", "item-wres_5": "0", "item-psafe_2": "",
        "group-ethnicity": "global_majority", "group-team": "prefer_not",
        "comment": "  More training, please.  ", "send_anyway": "1",
    })
    assert response.status_code == 302 and response.headers["Location"].endswith("/s/thanks")
    assert "answers have been saved" in client.get("/s/thanks").get_data(as_text=True)

    saved = session.scalars(select(Response)).one()
    assert re.fullmatch(r"[0-9a-f]{32}", saved.id)
    assert saved.round_id == round_.id
    # One sealed blob: no plaintext column, and the comment's text is not in it.
    assert set(Response.__table__.columns.keys()) == {"id", "round_id", "sealed"}
    assert b"More training" not in saved.sealed and b"global_majority" not in saved.sealed
    [response] = opened(session, settings, round_)
    assert response.comment == "More training, please."
    assert response.answers == {"psafe_1": 2, "speak_3": 5, "wres_5": 0}
    assert response.groups == {"ethnicity": "global_majority", "team": "prefer_not"}
    assert session.scalar(select(TokenHash.used)) is True

    again = client.get(f"/s/{token}")
    assert again.status_code == 409
    assert "already been used" in again.get_data(as_text=True)
    assert count(session, Response) == 1


def test_unknown_and_malformed_links_get_a_clear_page(client):
    for token in (new_token(), "short", "x" * 40, "%00"):
        response = client.get(f"/s/{token}")
        assert response.status_code == 404
        assert "do not recognise this link" in response.get_data(as_text=True)


def test_a_link_of_a_closed_round_says_so(client, session, clock, link):
    round_, token = link
    csrf = csrf_token_from(client.get(f"/s/{token}").get_data(as_text=True))
    rounds.close_round(session, round_, clock)
    session.commit()
    response = client.get(f"/s/{token}")
    assert response.status_code == 410
    assert "This survey has closed" in response.get_data(as_text=True)
    # A form that was open when the round closed is refused the same way.
    posted = client.post(f"/s/{token}", data={"csrf_token": csrf, "item-psafe_1": "3"})
    assert posted.status_code == 410
    assert count(session, Response) == 0


def _post_raw(client, token: str, data: dict) -> tuple[int, str]:
    html = client.get(f"/s/{token}").get_data(as_text=True)
    response = client.post(f"/s/{token}", data={"csrf_token": csrf_token_from(html), **data})
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.parametrize("bad", [
    {"item-evil_1": "3"},                     # forged item id
    {"item-incl_1": "3"},                     # a real item, but not in this survey
    {"item-psafe_1": "8"},                    # out of the 7-point scale
    {"item-speak_1": "0"},                    # "prefer not" is not on agree scales
    {"item-speak_2": "two"},
    {"item-speak_2": ["1", "2"]},             # two answers to one question
    {"group-ethnicity": "purple"},            # not an option
    {"group-religion": "none"},               # not a question of this survey
])
def test_bad_answers_are_refused_clearly_and_every_choice_is_kept(client, session, link, bad):
    _, token = link
    status, html = _post_raw(client, token, {
        "item-psafe_4": "6", "group-team": "estates", "comment": "Kept text", **bad})
    assert status == 400
    assert "There is a problem" in html and "Nothing has been saved yet" in html
    assert checked(html, "item-psafe_4", "6")
    assert checked(html, "group-team", "estates")
    assert ">Kept text</textarea>" in html
    assert count(session, Response) == 0
    assert session.scalar(select(TokenHash.used)) is False


def test_an_oversized_comment_is_refused_and_kept_for_shortening(client, session, link):
    _, token = link
    status, html = _post_raw(client, token, {"item-psafe_4": "6", "comment": "a" * 2001})
    assert status == 400
    assert "Your comment is 2,001 characters long; the limit is 2,000" in html
    assert "a" * 2001 in html and checked(html, "item-psafe_4", "6")
    assert count(session, Response) == 0
    status, _ = _post_raw(client, token, {"item-psafe_4": "6", "comment": "a" * 2000,
                                          "send_anyway": "1"})
    assert status == 302


def test_an_empty_form_is_refused(client, session, link):
    _, token = link
    status, html = _post_raw(client, token, {"group-ethnicity": "white"})
    assert status == 400 and "Answer at least one question" in html
    assert checked(html, "group-ethnicity", "white")


def test_the_service_refuses_used_unknown_and_invalid_without_saving(session, settings, link):
    round_, token = link
    key = token_key(settings)
    with pytest.raises(AnswerError):
        submit_response(session, key, token, Submission(answers={"psafe_1": 9}))
    with pytest.raises(AnswerError):
        submit_response(session, key, token, Submission(answers={"nope": 1}))
    with pytest.raises(LinkNotUsable) as unknown:
        submit_response(session, key, new_token(), Submission(answers={"psafe_1": 1}))
    assert unknown.value.state is LinkState.UNKNOWN
    submit_response(session, key, token, Submission(answers={"psafe_1": 1}))
    with pytest.raises(LinkNotUsable) as used:
        submit_response(session, key, token, Submission(answers={"psafe_1": 1}))
    assert used.value.state is LinkState.USED
    assert count(session, Response) == 1
