"""Review v2 (issue 9): each finding of the review, as a test that failed before its fix."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from review_support import page_tables

from concerns.demo import seed_demo_concerns
from concerns.stats import published_stats
from review import demo
from review.demo import Respondent
from review.mechanisms import TIMELINESS_NOTE
from speakup.clock import FrozenClock
from speakup.web import services
from surveys import invitations, responses, rounds

K = 5
pytest_plugins = ["review_fixtures"]
SPEAK = ["speak_1", "speak_2", "speak_3", "speak_4"]


def publish_by_hand(session, settings, survey, people, opens, opened, closed, published_on):
    """Plan a round at ``opens``, open it at ``opened``, close it at ``closed``, publish."""
    round_ = rounds.add_round(session, survey, opens)
    rounds.open_round(session, round_, FrozenClock(opened), actor="admin@example.org")
    key = invitations.token_key(settings)
    tokens = invitations.issue_tokens(session, round_.id, len(people), key)
    for token, person in zip(tokens, people, strict=True):
        responses.submit_response(session, key, token, responses.Submission(
            dict(person.answers), dict(person.groups), person.comment))
    rounds.close_round(session, round_, FrozenClock(closed), actor="admin@example.org")
    clock = FrozenClock(dt.datetime.combine(published_on, dt.time(7), dt.UTC))
    published = rounds.publish(session, round_, replace(settings, raw_retention_days=0), clock)
    session.commit()
    return published


# --- finding 2: a scale's favourable share never contradicts its items -------------------


def test_finding_2_scale_favourable_pools_its_items_answers(session, settings, clock, client,
                                                            sign_in):
    # Given 10 people who each answer the four speaking-up items 5, 5, 1, 1: every
    # person's mean is 3 ("neither"), so "share of rounded means in the top two" was 0 %
    survey = demo.create_demo_survey(session, settings, clock, item_ids=SPEAK)
    people = [Respondent({"speak_1": 5, "speak_2": 5, "speak_3": 1, "speak_4": 1}, {})
              for _ in range(10)]
    (published,) = demo.publish_synthetic_rounds(
        session, settings, survey, clock.today(), [10], random.Random(1),
        people=lambda rng, count, step: people)
    session.commit()

    # Then the scale reads 20 favourable answers of 40 = 50 %, between its items' 0 and 100 %
    [scale] = published.scales
    items = [row.overall.favourable for row in published.items]
    assert sorted(items) == [0.0, 0.0, 1.0, 1.0]
    assert scale.overall.favourable == pytest.approx(0.5)
    assert min(items) <= scale.overall.favourable <= max(items)
    # And its mean and distribution still describe people's scale scores (all at 3)
    assert scale.overall.mean == 3.0 and scale.overall.distribution["3"] == 10

    # And the page and the export define the figure in one sentence
    sign_in("reviewer")
    page = client.get(f"/review/rounds/{published.round_id}").get_data(as_text=True)
    assert "50%" in page
    assert SCALE_DEFINITION in page
    export = client.get(f"/review/rounds/{published.round_id}.json").get_json()
    assert SCALE_DEFINITION in export["definitions"]["favourable_scale"]


SCALE_DEFINITION = ("A scale’s favourable share is the share of all answers to its "
                    "questions that are favourable")


# --- finding 5: round dates are what happened, not the plan -----------------------------


def test_finding_5_dates_are_when_the_round_really_opened_and_closed(
    session, settings, clock, client, sign_in
):
    # Given a round planned for 7 to 21 December that an admin opened on 1 December
    # and closed on 3 December, published on 4 December
    survey = demo.create_demo_survey(session, settings, clock, item_ids=SPEAK)
    zone = ZoneInfo(survey.timezone)
    opens = dt.datetime(2026, 12, 7, 9, tzinfo=zone)
    people = demo.synthetic_respondents(random.Random(2), 12, 0.5, item_ids=SPEAK)
    published = publish_by_hand(
        session, settings, survey, people, opens,
        opened=dt.datetime(2026, 12, 1, 10, tzinfo=zone),
        closed=dt.datetime(2026, 12, 3, 23, 30, tzinfo=zone),  # 23:30 in London
        published_on=dt.date(2026, 12, 4),
    )

    # Then the publication keeps the real local dates, and the pages show them
    assert (published.opens_on, published.closes_on) == ("2026-12-01", "2026-12-03")
    assert published.published_on == "2026-12-04"
    sign_in("reviewer")
    page = client.get(f"/review/rounds/{published.round_id}").get_data(as_text=True)
    assert "1 December 2026 to 3 December 2026" in page
    assert "4 December 2026" in page
    assert "2026-12-07" not in page and "21 December" not in page


# --- finding 3: concerns not yet due are "not yet due", never misses --------------------


@pytest.fixture
def demo_concerns(app, session):  # type: ignore[no-untyped-def]
    seed_demo_concerns(session, services(app), lambda _line: None)
    session.commit()


def test_finding_3_a_quarter_still_running_reads_not_yet_due(
    client, sign_in, session, clock, demo_concerns
):
    # Given the demo's concerns, some received this quarter, days ago (deadlines ahead)
    stats = published_stats(session, K, clock.today())
    running = [q for q in stats.quarters if not q.published]
    assert running, "the demo should have concerns in a quarter not yet published"
    sign_in("reviewer")
    html = client.get("/review/mechanisms").get_data(as_text=True)
    tables = {t["caption"]: t for t in page_tables(html)}
    clocks = tables["Timeliness of concern handling per quarter"]["rows"]
    headers, rows = clocks[0], {r[0]: r for r in clocks[1:]}
    ack = headers.index("Acknowledged within 7 days")
    feedback = headers.index("Feedback within 3 months")
    for q in running:
        # Then its timeliness is "not yet due": neither a share nor "not shown"
        assert rows[q.quarter][ack] == rows[q.quarter][feedback] == "not yet due"
    assert TIMELINESS_NOTE in html
    body = client.get("/review/mechanisms.json").get_json()
    clock_rows = next(t for t in body["tables"] if t["id"] == "concern_clocks")["rows"]
    assert {r["acknowledged_within_7_days_pct"] for r in clock_rows
            if r["quarter"] in {q.quarter for q in running}} == {"not yet due"}
