"""A partial answer gets one JavaScript-free step before it is final, with every choice kept."""

from __future__ import annotations

import re

import pytest
from conftest import csrf_token_from
from sqlalchemy import func, select
from surveys_testlib import make_survey, open_round_now, opened, tokens_for

from surveys.models import Response, Round, TokenHash


@pytest.fixture
def link(session, clock, settings):
    survey = make_survey(session, clock, settings, ["someone@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    [token] = tokens_for(session, settings, round_, 1)
    session.commit()
    return survey, token


def _fields(html: str) -> dict[str, str]:
    """The fields a browser would send from the step page's form (hidden inputs, textarea)."""
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))
    fields.update(re.findall(r'<textarea name="(comment)" hidden>([^<]*)</textarea>', html))
    return fields


def _responses(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Response))


def test_partial_answer_asks_then_goes_back_with_choices_then_sends(client, session, link,
                                                                   settings):
    survey, token = link
    url = f"/s/{token}"
    csrf = csrf_token_from(client.get(url).get_data(as_text=True))
    chosen = {"item-psafe_1": "2", "item-speak_3": "5", "item-psafe_2": "",
              "group-team": "estates", "comment": "More training & support"}
    # Given 2 of the survey's 15 questions answered (psafe 7 + speak 4 + wres 4) …
    step = client.post(url, data={"csrf_token": csrf, **chosen})
    html = step.get_data(as_text=True)
    assert step.status_code == 200
    assert "You answered 2 of 15 questions. Send anyway, or go back" in html
    assert "<script" not in html
    assert _responses(session) == 0  # nothing saved by the step
    carried = _fields(html)
    assert {k: v for k, v in carried.items() if k != "csrf_token"} == {
        "item-psafe_1": "2", "item-speak_3": "5", "group-team": "estates",
        "comment": "More training &amp; support"}
    carried["comment"] = "More training & support"  # as the browser decodes it
    # When they go back, every choice is still selected.
    back = client.post(url, data={**carried, "go_back": "1"}).get_data(as_text=True)
    assert re.search(r'name="item-psafe_1" id="[^"]+" value="2" checked', back)
    assert re.search(r'name="group-team" id="[^"]+" value="estates" checked', back)
    assert ">More training &amp; support</textarea>" in back
    assert _responses(session) == 0
    # When they send anyway, exactly those answers are saved and the link is used.
    sent = client.post(url, data={**carried, "send_anyway": "1"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/s/thanks")
    assert _responses(session) == 1
    round_ = session.scalars(select(Round).where(Round.survey_id == survey.id)).one()
    [response] = opened(session, settings, round_)
    assert sorted(response.answers) == ["psafe_1", "speak_3"]
    assert session.scalar(select(TokenHash.used)) is True


def test_a_complete_answer_is_sent_without_the_step(client, session, link):
    survey, token = link
    url = f"/s/{token}"
    csrf = csrf_token_from(client.get(url).get_data(as_text=True))
    answers = {f"item-{item_id}": "1" for item_id in survey.item_ids}
    answers.update({f"item-{i}": "0" for i in survey.item_ids if i.startswith("wres")})
    sent = client.post(url, data={"csrf_token": csrf, **answers})
    assert sent.status_code == 302 and _responses(session) == 1
