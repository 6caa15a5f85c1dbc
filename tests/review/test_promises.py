"""Every promise true where a person reads it (issue 17, finding 5).

The wording lives in speakup/promises.py. Each statement is on the page it belongs to
(and in the README), and the limit the review pages state is real: it is shown here,
from the downloads, as the attacker would use it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from review_support import json_tables
from sqlalchemy.orm import Session

from review import demo
from review.demo import Respondent, synthetic_respondents
from speakup.clock import FrozenClock
from speakup.promises import DIFFERENCING_LIMIT, protection_statement
from speakup.settings import Settings

pytest_plugins = ["review_fixtures"]

README = Path(__file__).resolve().parents[2] / "README.md"
# Not a sensitive item: this limit holds for every item, whatever stricter rule the
# sensitive ones get. 1 is "Strongly disagree".
NEWCOMER_ITEM = "speak_1"


def _text(html: str) -> str:
    """A page's words as a reader sees them: tags gone, entities and spaces normalised."""
    text = re.sub(r"<[^>]+>", " ", html)
    text = text.replace("&#39;", "'").replace("&amp;", "&").replace("&quot;", '"')
    return " ".join(text.split())


def _words(text: str) -> str:
    return " ".join(text.replace("`", "").replace("**", "").replace("> ", " ").split())


def _person(i: int, crowd: list[Respondent]) -> Respondent:
    """Everyone answers every question (a skipped one would make Estates smaller than k
    in that row, and so hidden everywhere): a skip takes the next person's answer."""
    team = "estates" if i < 6 else ("emergency" if i % 2 else "surgery")
    answers = {item: next(p.answers[item] for p in [*crowd[i:], *crowd] if item in p.answers)
               for item in demo.ITEM_IDS}
    if team == "estates":
        # Mixed yes and no on the sensitive items: a group of fewer than 2k whose
        # members nearly all gave one answer there is hidden (and Estates with it).
        answers.update({item: 1 + i % 2 for item in demo.ITEM_IDS if item.startswith("wres")})
    return Respondent(answers, {"team": team, "ethnicity": "white"})


@pytest.fixture
def joined_rounds(session: Session, settings: Settings, clock: FrozenClock):
    """Two published rounds: the same 40 people answer alike in both, and in the second
    one more person joins Estates (6 → 7), strongly disagreeing that they would feel secure
    raising concerns."""
    survey = demo.create_demo_survey(session, settings, clock, title="Differencing")
    crowd = synthetic_respondents(random.Random(11), 40, 0.5)
    base = [_person(i, crowd) for i in range(40)]
    newcomer = Respondent({**base[0].answers, NEWCOMER_ITEM: 1},
                          {"team": "estates", "ethnicity": "white"})

    def people(_rng: random.Random, count: int, _step: float) -> list[Respondent]:
        return base if count == 40 else [*base, newcomer]

    published = demo.publish_synthetic_rounds(session, settings, survey, clock.today(),
                                              [40, 41], random.Random(1), people=people)
    session.commit()
    return published, newcomer


def _estates_counts(client, round_id: int, item: str) -> dict[str, float]:
    tables = json_tables(client.get(f"/review/rounds/{round_id}.json?dimension=team").data)
    row = next(r for r in tables["results"] if r["id"] == item and r["group"] == "Estates")
    assert row["n"] is not None, "Estates is shown in both rounds"
    return {key: float(value) for key, value in row.items()
            if re.search(r" n( \(|$)", key) and value is not None}


def test_the_differencing_limit_is_real_one_person_joining_shows_their_answer(
    client, sign_in, joined_rounds
):
    (first, second), newcomer = joined_rounds
    sign_in("reviewer")
    before = _estates_counts(client, first.round_id, NEWCOMER_ITEM)
    after = _estates_counts(client, second.round_id, NEWCOMER_ITEM)
    # The attacker subtracts the two rounds' shown counts for the group...
    difference = {answer: after[answer] - before.get(answer, 0) for answer in after}
    # ...and finds exactly one answer: the newcomer's "Strongly disagree".
    assert sorted(difference.values()) == [0.0] * (len(difference) - 1) + [1.0]
    assert max(difference, key=difference.get).startswith("Strongly disagree")
    assert newcomer.answers[NEWCOMER_ITEM] == 1
    # So the statement is true, and it is on the pages where rounds can be compared.
    for url in (f"/review/rounds/{second.round_id}", "/review/trends",
                f"/review/rounds/{first.round_id}?dimension=team",
                "/review/trends?dimension=team"):
        assert DIFFERENCING_LIMIT in _text(client.get(url).get_data(as_text=True)), url


def test_the_staff_results_page_states_the_differencing_limit(client, published_survey):
    html = client.get("/results/").get_data(as_text=True)
    assert "gap" in html  # it compares rounds
    assert DIFFERENCING_LIMIT in _text(html)


@pytest.fixture
def open_link(make_open_link: Callable[..., str]) -> str:
    return make_open_link(["speak", "wres"], 7)


def test_the_opening_page_says_per_attacker_what_is_and_is_not_protected(client, open_link):
    page = _text(client.get(f"/s/{open_link}").get_data(as_text=True))
    statement = protection_statement(7)  # the round's own k, filled in
    for sentence in statement.sentences():
        assert sentence in page, sentence
    assert "smaller than 7" in page and "{k}" not in page
    # Before the questions: the first thing a respondent reads about who could look.
    assert page.index(statement.guarantee) < page.index("Send my answers")
    whos = [a.who for a in statement.attackers]
    assert whos == ["Anyone who reads the results", "A colleague who answered too",
                    "A manager with the HR list"]


def test_the_readme_says_the_same_and_no_longer_overpromises():
    readme = _words(README.read_text(encoding="utf-8"))
    for sentence in protection_statement("k").sentences():
        assert _words(sentence) in readme, sentence
    assert _words(DIFFERENCING_LIMIT) in readme
    # Findings 3-4 disproved this for insiders; and the trends page now states the limit.
    assert "so nobody can prove that a member of a small group" not in readme
    assert "(stated on the trends page)" not in readme
