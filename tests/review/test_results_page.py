"""The staff results page `/results/`: public, cookie-free, suppressed, switchable."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from review import demo, goals, results
from review.demo import Respondent
from speakup import migrate, site_settings
from speakup.app import create_app
from speakup.clock import FrozenClock
from speakup.models import AuditEntry
from speakup.settings import Settings
from speakup.web import services
from surveys.models import Survey

pytest_plugins = ["review_fixtures"]

SPEAK = [f"speak_{i}" for i in range(1, 5)]
GM, WHITE = "global_majority", "white"


def answering(spec: Sequence[Sequence[tuple[int, str, int]]]
              ) -> Callable[[random.Random, int, float], list[Respondent]]:
    """People per round: (how many, ethnicity group, the answer they give to every question)."""
    calls = iter(spec)

    def people(rng: random.Random, count: int, step: float) -> list[Respondent]:
        crowd = [Respondent({item: answer for item in SPEAK}, {"ethnicity": group})
                 for n, group, answer in next(calls) for _ in range(n)]
        assert len(crowd) == count
        return crowd

    return people


def publish(session: Session, settings: Settings, clock: FrozenClock,
            spec: Sequence[Sequence[tuple[int, str, int]]]) -> None:
    survey = demo.create_demo_survey(session, settings, clock, title="Results page",
                                     item_ids=SPEAK, audience_size=20)
    demo.publish_synthetic_rounds(
        session, settings, survey, clock.today(), [sum(n for n, _, _ in r) for r in spec],
        random.Random(1), people=answering(spec),
    )  # fmt: skip
    session.commit()


# Agree5: 4 and 5 are favourable. Worked by hand:
# round 1: Global Majority 2 of 5 favourable (40%), White 4 of 5 (80%), everyone 6/10 = 60%;
# round 2: Global Majority 4 of 5 (80%), White 4 of 5 (80%), everyone 8/10 = 80%.
TWO_ROUNDS = (
    [(2, GM, 4), (3, GM, 2), (4, WHITE, 5), (1, WHITE, 3)],
    [(4, GM, 4), (1, GM, 1), (4, WHITE, 4), (1, WHITE, 2)],
)
# One round where Global Majority (3 people, all favourable: 100%) is below k = 5, so
# White (9 people, 3 favourable: 33%) is hidden too; everyone: 6 of 12 = 50%.
HIDDEN_GROUPS = ([(3, GM, 5), (3, WHITE, 4), (6, WHITE, 2)],)


def cells(html: str, table_class: str) -> list[list[str]]:
    table = re.search(rf'<table class="{table_class}">(.*?)</table>', html, re.S)
    assert table, html
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip()
             for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)] for row in rows]


def test_page_shows_the_published_headline_change_and_gap_without_sign_in_or_cookies(
    client, session, settings, clock
):
    publish(session, settings, clock, TWO_ROUNDS)
    response = client.get("/results/")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    html = response.get_data(as_text=True)
    header, row = cells(html, "headline-table")
    assert header[0] == "Scale" and header[1] == "Favourable"
    assert header[2].startswith("Change since") and header[3] == "Gap: Global Majority minus White"
    assert row[0] == "Speaking up" or row[0].startswith("Speak")
    assert row[1:] == ["80%", "+20.0 pts", "0 pts"]
    # 10 responses of 20 invited; every figure has its one-sentence definition.
    assert re.search(r"<dt>Responses</dt><dd[^>]*>10</dd>", html)
    assert re.search(r"<dt>Response rate</dt><dd>50%</dd>", html)
    for words in ("Responses: the number of people who answered",
                  "Response rate: the responses as a share of the 20 people invited",
                  "Minimum group size: no figure is shown for fewer than 5 people",
                  "Favourable is the share of all answers",
                  "Change: the favourable share in", "Gap: the favourable share of Global "
                  "Majority staff minus that of White staff, in percentage points"):
        assert words in html, words
    # The gap chart over both rounds: -40 points, then none.
    assert 'class="chart chart-gap"' in html or "chart-gap" in html
    gap_rows = cells(html, "data-table")[1:]
    assert [r[1:] for r in gap_rows] == [["40%", "80%", "-40"], ["80%", "80%", "+0"]]
    assert "<script" not in html
    # Nothing from the review pages' sign-in area, nothing about anyone.
    assert "/review/" not in html


def test_hidden_groups_say_not_shown_and_never_a_number(client, session, settings, clock):
    publish(session, settings, clock, HIDDEN_GROUPS)
    html = client.get("/results/").get_data(as_text=True)
    header, row = cells(html, "headline-table")
    assert row[1] == "50%"
    assert row[-1] == "not shown"
    assert "not shown: either fewer than 5 responses, or hidden as well so that a smaller " \
           "group cannot be worked out by subtraction (or none)." in html
    gap_rows = cells(html, "data-table")[1:]
    assert gap_rows[0][1:] == ["not shown", "not shown", "not shown"]
    # The hidden groups' figures (100%, 33%, a gap of 67 points) appear nowhere, the
    # chart's drawing and description included.
    # (The signing key's fingerprint is hex digits, not a figure.)
    text = re.sub(r"<[^>]+>", " ", re.sub(r'<code class="fingerprint">.*?</code>', "", html))
    for figure in ("100%", "33%", "67"):
        assert figure not in text, figure


def test_page_without_any_published_round_says_so(client):
    response = client.get("/results/")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    html = response.get_data(as_text=True)
    assert "No survey results have been published yet." in html
    assert "No goals have been set yet." in html
    assert "No actions have been logged yet." in html
    assert "%" not in re.sub(r"<(style|head).*?</\1>", "", html, flags=re.S)


def test_data_function_reads_only_published_rounds(session, settings, clock):
    assert results.results_page(session, 5, clock.today()).view.latest is None
    publish(session, settings, clock, TWO_ROUNDS)
    page = results.results_page(session, 5, clock.today())
    (headline,) = page.view.headlines
    assert headline.value == pytest.approx(0.8) and headline.previous == pytest.approx(0.6)
    assert headline.gap == pytest.approx(0.0)
    assert page.gap_chart is not None
    assert (page.goals, page.actions) == ([], [])


def test_switch_off_hides_the_page_and_every_link_to_it(client, session, settings, clock):
    publish(session, settings, clock, TWO_ROUNDS)
    assert 'href="/results/"' in client.get("/").get_data(as_text=True)
    thanks = client.get("/s/thanks").get_data(as_text=True)
    assert 'href="/results/">What happened after the last round</a>' in thanks

    site_settings.set_results_page_enabled(session, clock, "admin@example.org", False)
    session.commit()
    response = client.get("/results/")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers
    assert "Page not found" in response.get_data(as_text=True)
    for url in ("/", "/s/thanks"):
        html = client.get(url).get_data(as_text=True)
        assert "/results/" not in html and "What happened after the last round" not in html

    site_settings.set_results_page_enabled(session, clock, "admin@example.org", True)
    session.commit()
    assert client.get("/results/").status_code == 200


def test_staff_home_links_the_page_while_it_is_on(client, session, sign_in, clock):
    sign_in("handler")
    assert 'href="/results/">What happened after the last round' in client.get(
        "/staff").get_data(as_text=True)
    site_settings.set_results_page_enabled(session, clock, "admin@example.org", False)
    session.commit()
    assert "/results/" not in client.get("/staff").get_data(as_text=True)


def test_setting_defaults_to_on_and_each_change_is_audited(session, clock):
    assert site_settings.results_page_enabled(session) is True
    assert site_settings.set_results_page_enabled(session, clock, "a@example.org", False)
    assert site_settings.results_page_enabled(session) is False
    assert not site_settings.set_results_page_enabled(session, clock, "a@example.org", False)
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "settings.results_page").order_by(AuditEntry.id)).all()
    assert [(e.actor, e.subject, e.detail) for e in entries] == [
        ("a@example.org", "results_page", '{"from": "on", "to": "off"}'),
        ("a@example.org", "results_page", '{"from": "off", "to": "off"}'),
    ]


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_admin_switches_the_page_off_and_on(client, session, sign_in):
    admin = sign_in("admin")
    index = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/results-page"' in index
    page = client.get("/admin/results-page").get_data(as_text=True)
    assert 'value="on" checked' in page or re.search(r'checked[^>]*value="on"', page)

    response = client.post("/admin/results-page", data={"csrf_token": csrf(page),
                                                         "enabled": "off"})
    assert response.status_code == 302
    assert site_settings.results_page_enabled(session) is False
    assert client.get("/results/").status_code == 404
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.actor) == ("settings.results_page", admin.email)
    assert "It is <strong>off</strong> now." in client.get("/admin/results-page").get_data(
        as_text=True)

    # A value that is neither on nor off is refused and changes nothing.
    page = client.get("/admin/results-page").get_data(as_text=True)
    bad = client.post("/admin/results-page", data={"csrf_token": csrf(page), "enabled": "maybe"})
    assert bad.status_code == 400
    assert "There is a problem" in bad.get_data(as_text=True)
    assert site_settings.results_page_enabled(session) is False
    missing = client.post("/admin/results-page", data={"csrf_token": csrf(page)})
    assert missing.status_code == 400 and "Choose on or off." in missing.get_data(as_text=True)

    client.post("/admin/results-page", data={"csrf_token": csrf(page), "enabled": "on"})
    assert site_settings.results_page_enabled(session) is True


@pytest.mark.parametrize("role", ["reviewer", "handler"])
def test_only_admins_reach_the_switch(client, sign_in, role):
    sign_in(role)
    assert client.get("/admin/results-page").status_code == 403


def test_home_page_still_works_without_a_database_and_the_page_says_503(tmp_path):
    path = tmp_path / "speakup.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    app = create_app(Settings(instance_path=tmp_path / "instance",
                              database_url=f"sqlite:///{path}", secret_key="k" * 48,
                              secure_cookies=False, testing=True))
    client = app.test_client()
    assert 'href="/results/"' in client.get("/").get_data(as_text=True)
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"speakup.sqlite3{suffix}").unlink(missing_ok=True)
    home = client.get("/")
    assert home.status_code == 200 and "/results/" not in home.get_data(as_text=True)
    assert client.get("/results/").status_code == 503
    services(app).engine.dispose()


def test_headlines_match_what_the_review_overview_shows(client, sign_in, published_survey):
    public = cells(client.get("/results/").get_data(as_text=True), "headline-table")[1:]
    sign_in("reviewer")
    review = cells(client.get("/review/").get_data(as_text=True), "headline-table")[1:]
    assert len(public) == len(review) == 3
    for shown, reviewed in zip(public, review, strict=True):
        # Scale, favourable and change are the same; the overview adds the previous gap.
        assert shown[:3] == reviewed[:3]
        assert reviewed[3].startswith(shown[3].removesuffix(" pts"))


def test_goals_and_actions_show_their_published_progress(client, session, settings, clock):
    publish(session, settings, clock, TWO_ROUNDS)
    survey_id = session.scalar(select(Survey.id).where(Survey.title == "Results page"))
    goal = goals.create_goal(session, clock, goals.GoalSpec(
        label="More staff feel safe to speak up", metric="favourable", target=75,
        direction="at_least", due_on=clock.today() + dt.timedelta(days=90),
        owner="Advisory group", survey_id=survey_id, row_id="speak",
    ), actor="r@example.org")  # fmt: skip
    goals.create_action(session, clock, goals.ActionSpec(
        taken_on=clock.today(), title="Listening sessions",
        description="Monthly sessions with the board.", goal_ids=(goal.id,),
    ), actor="r@example.org")  # fmt: skip
    session.commit()
    html = client.get("/results/").get_data(as_text=True)
    row = cells(html, "data-table goals-table")[1]
    # Speaking up: 80% in the latest round (worked above), 60% before: +20 pts, on track.
    assert row[0] == "More staff feel safe to speak up"
    assert row[2] == "at least 75%" and row[4] == "Advisory group"
    assert row[5].startswith("80%") and row[6].startswith("+20.0 pts")
    assert row[7] == "on track"
    assert "Listening sessions" in html and "Monthly sessions with the board." in html
    assert "Towards: More staff feel safe to speak up" in html
    # Nothing on the staff page leads to the reviewers' own pages or their forms.
    assert "/review/" not in html and "Archive" not in html and "Edit" not in html
