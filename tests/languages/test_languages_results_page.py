"""The public results page `/results/` in Welsh (issue 20): every word, the same figures.

The page is rendered with published rounds, a gap chart, goals, an action and a signed
report, so each part of it is there to check; then no text of the catalogue may be left
in English on the Welsh page, and every figure must be the one the English page shows.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import random
import re

import pytest
from babel.messages.pofile import read_po
from conftest import REPO
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from staff_sources import staff_only
from test_languages_staff_strings import unwrapped_in_template

from review import demo, goals, progress_report, results_words
from review.demo import Respondent
from review.models import QUARTER_METRICS
from speakup.clock import FrozenClock
from speakup.settings import Settings
from speakup.translatable import TRANSLATIONS
from surveys.models import Survey

SPEAK = [f"speak_{i}" for i in range(1, 5)]
# Per round: (how many, ethnicity group, the answer each gives to every question).
ROUNDS = (
    [(2, "global_majority", 4), (3, "global_majority", 2), (4, "white", 5), (1, "white", 3)],
    [(4, "global_majority", 4), (1, "global_majority", 1), (4, "white", 4), (1, "white", 2)],
)
# Words an admin typed (titles, names): shown as typed in every language.
TYPED = ("Staff pulse", "Feel safe to raise things", "Advisory board", "Listening sessions",
         "Monthly sessions with the board.")
# Names and words Welsh writes the same way.
SAME_IN_WELSH = {"CSV", "JSON", "PEM", "JSON Schema", "Python", "Speak Up", "staff"}
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sd]|%%|<[^>]+>")


@pytest.fixture
def published(session: Session, settings: Settings, clock: FrozenClock) -> None:
    """Two published rounds with an ethnicity gap, two survey goals (a share, a gap), a
    concern goal, an action and a signed progress report."""
    survey = demo.create_demo_survey(session, settings, clock, title=TYPED[0],
                                     item_ids=SPEAK, audience_size=20)
    crowds = iter(ROUNDS)

    def people(rng: random.Random, count: int, step: float) -> list[Respondent]:
        return [Respondent({item: answer for item in SPEAK}, {"ethnicity": group})
                for n, group, answer in next(crowds) for _ in range(n)]

    demo.publish_synthetic_rounds(session, settings, survey, clock.today(),
                                  [sum(n for n, _, _ in r) for r in ROUNDS],
                                  random.Random(1), people=people)
    session.commit()
    survey_id = session.scalar(select(Survey.id).where(Survey.title == TYPED[0]))
    due = clock.today() + dt.timedelta(days=90)
    goal = goals.create_goal(session, clock, goals.GoalSpec(
        label=TYPED[1], metric="favourable", target=75, direction="at_least", due_on=due,
        owner=TYPED[2], survey_id=survey_id, row_id="speak"), actor="r@example.org")
    goals.create_goal(session, clock, goals.GoalSpec(
        label=TYPED[1] + " everywhere", metric="gap", target=5, direction="at_most",
        due_on=due, owner=TYPED[2], survey_id=survey_id, row_id="speak",
        dimension_id="ethnicity", first_group="global_majority", second_group="white"),
        actor="r@example.org")
    goals.create_goal(session, clock, goals.GoalSpec(
        label=TYPED[1] + " sooner", metric="acknowledged_within_7_days", target=90,
        direction="at_least", due_on=due, owner=TYPED[2]), actor="r@example.org")
    goals.create_action(session, clock, goals.ActionSpec(
        taken_on=clock.today(), title=TYPED[3], description=TYPED[4], goal_ids=(goal.id,)),
        actor="r@example.org")
    session.commit()
    progress_report.publish_report(session, settings.min_group_size, clock.today())
    session.commit()


def visible_text(page: str) -> str:
    """The words a reader sees or hears: text, aria-labels, the chart's words and table."""
    body = page.split("<main", 1)[1].split("</main>", 1)[0]
    # A command and a key's fingerprint are typed as they stand, in every language.
    body = re.sub(r"<(script|style|code)\b.*?</\1>", " ", body, flags=re.S)
    labels = " ".join(re.findall(r'aria-label="([^"]*)"', body))
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", body) + " " + labels)
    for typed in TYPED:
        text = text.replace(typed, " ")
    return re.sub(r"\s+", " ", text)


def english_pieces() -> set[str]:
    """Each stretch of English words of every catalogue message (placeholders cut out)."""
    with (TRANSLATIONS / "cy" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalogue = read_po(f, locale="cy")
    pieces = set()
    for message in catalogue:
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            for piece in PLACEHOLDER.split(msgid or ""):
                piece = piece.strip(" .,:;()–“”")
                if re.search(r"[A-Za-z]{3,}", piece) and piece not in SAME_IN_WELSH:
                    pieces.add(piece)
    return pieces


def english_left(english: str, welsh: str) -> list[str]:
    """Catalogue text shown on the English page that the Welsh page still shows."""
    def found(piece: str, text: str) -> bool:
        return re.search(rf"(?<![\w’]){re.escape(piece)}(?![\w’])", text) is not None

    return sorted(p for p in english_pieces() if found(p, english) and found(p, welsh))


def pages(client: FlaskClient) -> tuple[str, str]:
    english = client.get("/results/?lang=en")
    welsh = client.get("/results/?lang=cy")
    assert english.status_code == welsh.status_code == 200
    return english.get_data(as_text=True), welsh.get_data(as_text=True)


def test_the_welsh_results_page_leaves_no_catalogue_text_in_english(client, published):
    english, welsh = pages(client)
    assert '<html lang="cy">' in welsh
    # Every part of the page is there: figures, the gap chart, goals, the action, signing.
    for part in ('class="headline-table"', 'class="chart-figure"', "goals-table",
                 'class="actions-log"', 'class="fingerprint"'):
        assert part in english and part in welsh
    assert english.count("goals-table") == welsh.count("goals-table") == 2
    shown_in_english = [p for p in english_pieces() if p in visible_text(english)]
    assert len(shown_in_english) > 60  # the check does see the page's own sentences
    left = english_left(visible_text(english), visible_text(welsh))
    assert left == [], left
    # The names respondents read are the item bank's Welsh ones, the dates Welsh too.
    assert "Codi llais" in welsh and "Speaking up" not in visible_text(welsh)
    assert "Cyhoeddwyd" in welsh and "Mawrth 2026" in welsh
    assert not re.search(r"\d (January|February|March|April|May|June|July|August|September|"
                         r"October|November|December|Jan|Feb|Mar) \d{4}", welsh)
    # Rounds are named as surveys.naming names them, in Welsh: "Cylch 2 · 2 Chwef 2026".
    assert "Round 2 · 2 Feb 2026" in english and "Cylch 2 · 2 Chwef 2026" in welsh
    assert "ar y trywydd" in welsh and "heb ei gyhoeddi eto" in welsh
    assert "dim mwy na 5 pwynt" in welsh and "0 pwynt" in welsh  # the gap goal
    # The chart's drawing says its words in Welsh too (what a screen reader reads).
    svg = re.search(r"<svg\b.*?</svg>", welsh, re.S)
    assert svg and "Siart linell" in svg.group(0) and " llai " in svg.group(0)


def test_the_check_finds_english_left_on_a_welsh_page() -> None:
    english = "What happened after the last survey. Goal Owner"
    assert english_left(english, "Beth ddigwyddodd Owner") == ["Owner"]
    assert english_left(english, "Beth ddigwyddodd ar ôl yr arolwg diwethaf") == []


def figures(page: str) -> list[str]:
    """Every number in the page's tables and facts, in order."""
    found = []
    for block in re.findall(r'<(?:table|dl)\b.*?</(?:table|dl)>', page, re.S):
        block = re.sub(r"<caption.*?</caption>", "", block, flags=re.S)
        found += re.findall(r"[+\-−]?\d+(?:\.\d+)?%?", re.sub(r"<[^>]+>", " ", block))
    return found


def test_the_welsh_page_shows_the_same_figures_as_the_english_one(client, published):
    english, welsh = pages(client)
    shown = figures(english)
    # Round 2: 80% favourable, +20.0 points on round 1, no gap; the goal's target 75%.
    assert {"80%", "+20.0", "75%", "90%", "5"} <= set(shown)
    assert figures(welsh) == shown


def test_every_string_of_the_results_page_goes_through_the_catalogue() -> None:
    template = (REPO / "templates" / "results" / "page.html").read_text()
    assert unwrapped_in_template(template) == []
    # Public: its messages count as read by everyone, so each one needs its Welsh.
    assert not staff_only([("review/results_views.py", 60)])
    assert not staff_only([("review/results_words.py", 30)])
    assert not staff_only([("templates/results/page.html", None)])



def test_the_goal_words_marked_for_the_page_are_the_ones_review_goals_writes() -> None:
    # review.goals words goals in English for reviewers and exports; the page marks a copy
    # for the catalogue, which must stay word for word the same to translate at all.
    assert results_words._GOAL_DEFINITIONS == goals.DEFINITIONS
    measures = {m: goals.METRIC_LABELS[m].removeprefix("Concerns ").capitalize()
                for m in QUARTER_METRICS}
    assert measures == results_words._QUARTER_MEASURES
    assert set(results_words._STATUSES) == set(results_words._STATUSES.values()) == {
        goals.ON_TRACK, goals.OFF_TRACK, goals.NOT_MEASURABLE}


def test_the_welsh_results_page_before_anything_is_published(client):
    english, welsh = pages(client)
    assert "Nid oes unrhyw ganlyniadau arolwg wedi’u cyhoeddi eto." in welsh
    assert "Nid oes unrhyw nodau wedi’u gosod eto." in welsh
    assert "Nid oes unrhyw gamau wedi’u cofnodi eto." in welsh
    left = english_left(visible_text(english), visible_text(welsh))
    assert left == [], left
