"""Review v3 (issue 21): several surveys side by side, never mixed; figures that answer.

Each test reproduces one finding of the issue and failed before its fix. The
`three_surveys` fixture publishes a pulse survey, an annual survey and a one-off
survey in interleaved order (review_fixtures.py says which was published last).
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import logging
import math
import random
import re
import xml.etree.ElementTree as ET

import openpyxl
import pytest
from conftest import add_concern_reader, post_form
from flask import render_template_string

from concerns.demo import seed_demo_concerns
from review import charts, demo, goals, reports
from review.forms import GoalForm
from review.goals import GoalSpec
from review.reports import headline_value
from review.tables import PERCENT, change_text, display
from speakup import migrate, site_settings
from speakup.auth_views import HOME_BY_ROLE
from speakup.clock import FrozenClock
from speakup.web import services
from surveys import rounds as survey_rounds
from surveys.models import PublishedResult
from surveys.published import PublishedRound
from surveys.round_keys import RoundKeyFolder

pytest_plugins = ["review_fixtures"]
SPEAK_ITEMS = [f"speak_{i}" for i in range(1, 5)]
SECTION = re.compile(r'<section class="survey-section[^"]*" data-survey="(\d+)"(.*?)'
                     r'<!-- end of survey \1 -->', re.S)


def sections(html: str) -> dict[int, str]:
    """The page's per-survey sections, in page order: survey id -> its HTML."""
    return {int(i): body for i, body in SECTION.findall(html)}


def speak_text(published: PublishedRound) -> str:
    (row,) = [r for r in published.scales if r.id == "speak"]
    return display(headline_value(row, row.overall), PERCENT)


def ids(three: dict[str, list[PublishedRound]]) -> dict[str, int]:
    return {name: rounds[-1].survey_id for name, rounds in three.items()}


# --- the intro: which survey is "latest" -------------------------------------------------


def test_latest_survey_is_the_one_published_last_not_the_latest_round_date(
        session, three_surveys):
    # Given the incident round opened before the pulse's third round and was published
    # the same day, after it
    survey = ids(three_surveys)
    # Then the survey published last is the incident one, and every survey is ordered so
    assert reports.survey_rounds(session, None)[-1].survey_id == survey["incident"]
    assert reports.publication_order(session) == [
        survey["incident"], survey["pulse"], survey["annual"]]


# --- the intro: each survey in its own section, never mixed ------------------------------


def test_overview_shows_each_surveys_latest_round_in_its_own_section(
        client, sign_in, three_surveys):
    sign_in("reviewer")
    html = client.get("/review/").get_data(as_text=True)
    found = sections(html)
    survey = ids(three_surveys)
    # Then one section per survey, the one published last first
    assert list(found) == [survey["incident"], survey["pulse"], survey["annual"]]
    for name, rounds in three_surveys.items():
        body = found[survey[name]]
        latest = rounds[-1]
        # And each names its survey and its own latest round, with that round's figure
        assert latest.survey_title in body and latest.label in body
        assert speak_text(latest) in body
        for other, other_rounds in three_surveys.items():
            if other != name:
                assert other_rounds[-1].survey_title not in body
    # And a chooser of plain links names every survey
    for name, rounds in three_surveys.items():
        assert f'href="/review/?survey={survey[name]}"' in html
        assert rounds[-1].survey_title in html


def test_overview_of_one_survey_and_its_export_name_that_survey_only(
        client, sign_in, three_surveys):
    sign_in("reviewer")
    pulse = three_surveys["pulse"]
    survey_id = pulse[-1].survey_id
    html = client.get(f"/review/?survey={survey_id}").get_data(as_text=True)
    assert list(sections(html)) == [survey_id]
    assert 'aria-current="page">Quarterly pulse' in html
    export = client.get(f"/review/overview.json?survey={survey_id}").get_json()
    assert export["survey"] == "Quarterly pulse" and export["survey_id"] == survey_id
    (headlines,) = [t for t in export["tables"] if t["id"] == "headlines"]
    assert {row["survey"] for row in headlines["rows"]} == {"Quarterly pulse"}
    assert {row["round"] for row in headlines["rows"]} == {pulse[-1].label}


def test_mechanisms_page_names_its_survey_and_offers_every_survey(
        client, sign_in, three_surveys):
    sign_in("reviewer")
    survey = ids(three_surveys)
    html = client.get("/review/mechanisms").get_data(as_text=True)
    # The default is the survey published last, named on the page
    assert "After the incident" in html.split('id="speak-h"')[1]
    for name in three_surveys:
        assert f'href="/review/mechanisms?survey={survey[name]}"' in html
    html = client.get(f"/review/mechanisms?survey={survey['pulse']}").get_data(as_text=True)
    assert "Quarterly pulse" in html.split('id="speak-h"')[1]
    export = client.get(f"/review/mechanisms.json?survey={survey['pulse']}").get_json()
    assert export["survey"] == "Quarterly pulse"


def test_trends_page_offers_every_survey_as_a_plain_link(client, sign_in, three_surveys):
    sign_in("reviewer")
    survey = ids(three_surveys)
    html = client.get("/review/trends").get_data(as_text=True)
    for name in three_surveys:
        assert f'href="/review/trends?survey={survey[name]}"' in html
    assert '<select id="survey"' not in html


def test_a_survey_address_that_is_not_a_number_is_not_found_not_another_survey(
        client, sign_in, three_surveys):
    # A mistyped ?survey= must not quietly show (or export) the default survey's figures.
    sign_in("reviewer")
    for path in ("/review/", "/review/overview.json", "/review/rounds", "/review/rounds.csv",
                 "/review/trends", "/review/trends.json", "/review/mechanisms",
                 "/review/mechanisms.csv"):
        assert client.get(path).status_code == 200, path
        for value in ("abc", "3_0", "\u0663", "-1x"):
            assert client.get(path, query_string={"survey": value}).status_code == 404, \
                (path, value)


def test_results_page_gives_each_survey_its_own_section_and_goals(
        client, session, clock, three_surveys):
    survey = ids(three_surveys)
    pulse = three_surveys["pulse"][-1]
    goals.create_goal(session, clock, GoalSpec(
        label="Pulse: more staff feel safe to speak up", metric="favourable", target=90,
        direction="at_least", due_on=clock.today(), owner="Advisory group",
        survey_id=pulse.survey_id, row_id="speak"), actor="test")
    session.commit()
    html = client.get("/results/").get_data(as_text=True)
    found = sections(html)
    assert list(found) == [survey["incident"], survey["pulse"], survey["annual"]]
    for name, rounds in three_surveys.items():
        body = found[survey[name]]
        assert rounds[-1].survey_title in body and speak_text(rounds[-1]) in body
        # A survey's goal is shown with that survey only
        assert ("Pulse: more staff feel safe" in body) == (name == "pulse")


def test_admin_marks_a_headline_survey_and_it_comes_first(
        client, session, sign_in, three_surveys):
    survey = ids(three_surveys)
    sign_in("admin")
    response = post_form(client, "/review/headline-survey", {"survey": str(survey["annual"])})
    assert response.status_code == 302
    assert site_settings.headline_survey_id(session) == survey["annual"]
    assert reports.survey_rounds(session, None)[-1].survey_id == survey["annual"]
    assert list(sections(client.get("/review/").get_data(as_text=True)))[0] == survey["annual"]
    assert list(sections(client.get("/results/").get_data(as_text=True)))[0] == survey["annual"]
    # And "the survey published last" again
    response = post_form(client, "/review/headline-survey", {"survey": ""})
    assert site_settings.headline_survey_id(session) is None
    assert list(sections(client.get("/results/").get_data(as_text=True)))[0] == survey["incident"]


def test_only_admins_choose_the_headline_survey(client, sign_in, three_surveys):
    sign_in("reviewer")
    assert client.get("/review/headline-survey").status_code == 403


# --- finding 1: changes to one decimal -----------------------------------------------------


def test_finding_1_changes_are_shown_to_one_decimal():
    assert change_text(0.664, 0.63, PERCENT) == "+3.4 pts"
    assert change_text(0.66, 0.63, PERCENT) == "+3.0 pts"
    assert change_text(0.6301, 0.63, PERCENT) == "no change"


def test_finding_1_overview_change_column_reads_one_decimal(client, sign_in, three_surveys):
    sign_in("reviewer")
    pulse = three_surveys["pulse"][-1].survey_id
    html = client.get(f"/review/?survey={pulse}").get_data(as_text=True)
    changes = re.findall(r'<td class="num change">([^<]*)<', html)
    assert changes and all(re.fullmatch(r"[+-]\d+\.\d pts|no change|–", c) for c in changes)
    assert any(c.endswith(" pts") for c in changes)


# --- finding 5: every error at once --------------------------------------------------------


GOAL_FORM = {"label": "", "metric": "favourable", "direction": "at_least", "target": "75",
             "due_on": "2027-03-31", "owner": "Advisory group", "note": "", "pair": "",
             "row": ""}


def test_finding_5_goal_form_shows_every_error_at_once(client, sign_in, published_survey):
    sign_in("reviewer")
    response = post_form(client, "/review/goals", {**GOAL_FORM, "target": "many"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter a name for the goal." in html
    assert "Enter a whole number from 0 to 100." in html
    assert "Choose a scale or question from a published survey." in html


# --- finding 4: exports a spreadsheet user can pivot ---------------------------------------


NUMBER_UNITS = {"count", "percent (0-100)", "mean", "days", "percentage points"}
CODE_NAME = re.compile(r"[a-z0-9]+(_[a-z0-9]+)+")


def as_spreadsheet(body: bytes, tmp_path) -> list[list[object]]:
    """Put the CSV's rows in a workbook as a spreadsheet's import does (numbers as numbers),
    save it, load it back and return its rows."""
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        cells: list[object] = []
        for text in row:
            try:
                cells.append(float(text) if text else None)
            except ValueError:
                cells.append(text)
        sheet.append(cells)
    path = tmp_path / "export.xlsx"
    book.save(path)
    loaded = openpyxl.load_workbook(path, read_only=True)
    return [list(r) for r in loaded.active.iter_rows(values_only=True)]


@pytest.fixture
def demo_concerns(app, session):  # type: ignore[no-untyped-def]
    svc = services(app)
    add_concern_reader(session, svc.clock, svc.extras["concerns"])  # as `speakup demo`
    seed_demo_concerns(session, svc, lambda _line: None)
    session.commit()


def test_finding_4_every_export_has_unique_readable_headers_and_typed_columns(
        client, session, clock, sign_in, three_surveys, demo_concerns, tmp_path):
    pulse = three_surveys["pulse"][-1]
    goal = goals.create_goal(session, clock, GoalSpec(
        label="Feel safe", metric="favourable", target=80, direction="at_least",
        due_on=clock.today(), owner="Advisory group", survey_id=pulse.survey_id,
        row_id="speak", note="A note"), actor="test")
    goals.create_goal(session, clock, GoalSpec(
        label="Answer in time", metric="acknowledged_within_7_days", target=90,
        direction="at_least", due_on=clock.today() + dt.timedelta(days=400),
        owner="Guardian", note="Not yet published"), actor="test")
    goals.create_action(session, clock, goals.ActionSpec(
        taken_on=clock.today(), title="Listening", goal_ids=(goal.id,)), actor="test")
    session.commit()
    sign_in("reviewer")
    urls = [f"/review/overview.{{}}?survey={r[-1].survey_id}" for r in three_surveys.values()]
    urls += ["/review/rounds.{}", f"/review/rounds/{pulse.round_id}.{{}}",
             f"/review/rounds/{pulse.round_id}.{{}}?dimension=ethnicity",
             f"/review/trends.{{}}?survey={pulse.survey_id}&dimension=ethnicity",
             "/review/mechanisms.{}", "/review/goals.{}", "/review/actions.{}"]
    words_seen = 0
    for url in urls:
        body = client.get(url.format("csv")).data
        twin = json.loads(client.get(url.format("json")).data)
        sheet = as_spreadsheet(body, tmp_path)
        header = sheet[0]
        # Every header unique and readable: a label, never a code name
        assert len(set(header)) == len(header), (url, header)
        assert not [h for h in header if CODE_NAME.fullmatch(str(h))], (url, header)
        where = {h: i for i, h in enumerate(header)}
        titles = {t["title"]: t for t in twin["tables"]}
        for row in sheet[1:]:
            table = titles[row[0]]
            for column in table["columns"]:
                value = row[where[column["csv_header"]]]
                if column["unit"] in NUMBER_UNITS:
                    # Numbers only in number columns, after the round trip
                    assert value is None or isinstance(value, int | float), (url, column, row)
                elif column["unit"] == "date" and value is not None:
                    dt.date.fromisoformat(value)
            if row[-1] and "not yet" in row[-1]:
                words_seen += 1
        # The JSON: null plus a status, never a word in a number field
        for table in twin["tables"]:
            numbers = [c["key"] for c in table["columns"] if c["unit"] in NUMBER_UNITS]
            for row in table["rows"]:
                for key in numbers:
                    assert row[key] is None or isinstance(row[key], int | float), (url, key, row)
                if row["blank_figures"] and "not yet" in row["blank_figures"]:
                    words_seen += 1
    # "not yet published" and "not yet due" were met, in CSV and JSON, as a status
    assert words_seen >= 2



# --- finding 3: the publication says which measures are blank, in the review's words -----


def _every_ethnicity_group_hidden(session, three_surveys):  # type: ignore[no-untyped-def]
    """The incident survey's latest round, republished as if every ethnicity group were hidden."""
    published = three_surveys["incident"][-1]
    stored = session.get(PublishedResult, published.round_id)
    payload = copy.deepcopy(stored.payload)
    payload["group_counts"]["ethnicity"] = dict.fromkeys(payload["group_counts"]["ethnicity"])
    for row in payload["scales"] + payload["items"]:
        row["by_group"]["ethnicity"] = dict.fromkeys(row["by_group"]["ethnicity"])
    stored.payload = payload
    session.commit()
    return published


def test_finding_3_publication_page_names_the_blank_gap_in_the_review_words(
        client, session, login_as, three_surveys):
    # Given a published round whose every ethnicity group is hidden
    published = _every_ethnicity_group_hidden(session, three_surveys)
    # Then the publication page says the whole gap measure is blank, and why
    login_as("admin")
    html = client.get(f"/admin/surveys/rounds/{published.round_id}/publication"
                      ).get_data(as_text=True)
    assert "Ethnicity group: the gap between two of its groups, for every scale and " \
           "question, because" in html
    assert "“not shown” (fewer than 5 responses, or hidden as well" in html
    assert "too few responses" not in html
    # And a round whose groups are shown says nothing is blank
    other = three_surveys["pulse"][-1]
    html = client.get(f"/admin/surveys/rounds/{other.round_id}/publication"
                      ).get_data(as_text=True)
    assert "Blank in these results" in html


def test_the_blank_measures_are_said_through_the_catalogue(client, session, login_as,
                                                           three_surveys, marked):
    published = _every_ethnicity_group_hidden(session, three_surveys)
    login_as("admin")
    html = client.get(f"/admin/surveys/rounds/{published.round_id}/publication"
                      ).get_data(as_text=True)
    # The sentence and the words inside it each came from the catalogue (marked ⟦…⟧).
    assert "⟦Ethnicity group: the gap between two of its groups" in html
    assert "⟦“not shown” (fewer than 5 responses, or hidden as well" in html


def test_finding_3_publish_confirmation_uses_the_review_words(
        client, session, settings, clock, login_as):
    # Given a closed round, not yet published
    survey = demo.create_demo_survey(session, settings, clock, item_ids=SPEAK_ITEMS,
                                     audience_size=8)
    opened = clock.now() - dt.timedelta(days=10)
    round_ = survey_rounds.add_round(session, survey, opened)
    survey_rounds.open_round(session, round_, FrozenClock(opened), keys=RoundKeyFolder.of(settings))
    survey_rounds.close_round(session, round_, FrozenClock(opened + dt.timedelta(days=3)))
    session.commit()
    # Then its publish confirmation speaks of "not shown", as the review pages do
    login_as("admin")
    html = client.get(f"/admin/surveys/rounds/{round_.id}/publish").get_data(as_text=True)
    assert "too few responses" not in html
    assert "“not shown” (fewer than 5 responses, or hidden as well" in html
    assert "every gap between that breakdown’s groups is blank too" in html


# --- finding 2: one definition of a scale's favourable share, chart and table alike -----


def chart_rows(chart) -> dict[str, tuple[str, ...]]:
    return {row[0]: row for row in chart.table_rows}


def test_finding_2_scale_bars_add_up_to_the_tables_favourable_share(published_survey):
    published = published_survey[-1]
    report = reports.round_report(published, None)
    checked = 0
    for section in report.sections:
        scales = [r for r in section.rows if r.kind == "scale" and r.row.overall]
        for rr in scales:
            items = reports.scale_items(published, rr.row)
            cell = reports.pooled_scale_cell(rr.row, items, rr.row.overall)
            shares = reports.shares(cell, rr.row.response_scale)
            # The top two answers of the pooled bar are the table's favourable share
            assert sum(shares[-2:]) == pytest.approx(rr.row.overall.favourable), rr.row.id
            # And the chart draws exactly that bar
            (row,) = [v for k, v in chart_rows(section.charts[0]).items()
                      if k.startswith(rr.row.label)]
            top_two = [float(x.rstrip("%")) for x in row[-2:]]
            assert abs(sum(top_two) - 100 * rr.row.overall.favourable) <= 1.0, row
            checked += 1
    assert checked >= 2
    # And the same holds for a group's bar on a breakdown
    team = reports.round_report(published, "ethnicity")
    (speak,) = [rr for s in team.sections for rr in s.rows if rr.row.id == "speak"]
    for gc in speak.cells[1:]:
        if gc.cell is None:
            continue
        cell = reports.pooled_scale_cell(speak.row, reports.scale_items(published, speak.row),
                                         gc.cell, "ethnicity", gc.group_id)
        shares = reports.shares(cell, speak.row.response_scale)
        assert sum(shares[-2:]) == pytest.approx(gc.cell.favourable)


# --- finding 6: trend labels inside the chart, never over the data -----------------------


SVG = "{http://www.w3.org/2000/svg}"


def test_finding_6_first_turned_label_starts_inside_the_chart_and_targets_sit_in_the_legend():
    labels = [f"Round {i} · {i} Jun 2026" for i in range(1, 9)]
    chart = charts.line_chart(
        "Speaking up", labels, [charts.Series("Everyone", [60.0 + i for i in range(8)])],
        0, 100, "Favourable (%)", targets=[charts.TargetLine(75, "Goal: at least 75%")],
        marks=[charts.DateMark(dt.date(2026, 6, 3), "Board listening sessions with staff "
                                                    "networks and the guardian", "action")],
        x_dates=[dt.date(2026, 6, i) for i in range(1, 9)])
    root = ET.fromstring(str(chart.svg))  # noqa: S314 - our own SVG, not untrusted input
    (group,) = [g for g in root.iter(SVG + "g") if g.get("class") == "x-labels"]
    first = next(iter(group))
    assert first.text == labels[0]  # whole, never cut
    # Turned (35°), the label reaches this far left of its point.
    reach = charts._text_width(labels[0]) * math.cos(math.radians(35))
    assert float(first.get("x")) - reach >= 0
    # The target's words are in the legend, not on the plot over the data points
    legend = [t.text for g in root.iter(SVG + "g") if g.get("class") == "legend"
              for t in g.iter(SVG + "text")]
    assert "Goal: at least 75%" in legend
    assert not [e for e in root.iter() if "target-label" in (e.get("class") or "")]
    # A long action label keeps as much as fits, and all of it is in the tooltip
    (mark,) = [g for g in root.iter(SVG + "g") if "date-mark" in (g.get("class") or "")]
    (text,) = [t for t in mark.iter(SVG + "text")]
    assert len(text.text) > 30 and float(text.get("x")) + charts._text_width(
        text.text, charts.SMALL_FONT_SIZE) <= charts.WIDTH
    assert "guardian" in "".join(mark.itertext())


# --- finding 8: the small things a newcomer met ------------------------------------------


def test_finding_8_demo_rounds_close_without_warning_of_unsent_mail(
        session, settings, clock, caplog):
    survey = demo.create_demo_survey(session, settings, clock, audience_size=12)
    with caplog.at_level(logging.INFO):
        demo.publish_synthetic_rounds(session, settings, survey, clock.today(), [8, 8],
                                      random.Random(3))
    assert "published" in caplog.text  # the log was really captured
    assert "closed before all its mail was sent" not in caplog.text


def test_finding_8_favicon_is_served_on_every_page(client):
    response = client.get("/favicon.ico")
    body = response.get_data()
    response.close()
    assert response.status_code == 200
    assert body[:4] == b"\x00\x00\x01\x00"  # an icon file
    assert "Set-Cookie" not in response.headers
    assert '<link rel="icon" href="/favicon.ico">' in client.get("/").get_data(as_text=True)


def test_finding_8_reviewers_land_on_the_review_pages():
    assert HOME_BY_ROLE["reviewer"] == "review.overview"


def test_finding_8_error_summary_never_doubles_a_question_mark(client, app):
    with app.test_request_context():
        form = GoalForm(meta={"csrf": False})
        form.label.label.text = "What is it about?"
        form.label.errors = ["Choose a category."]
        html = render_template_string(
            '{% from "_forms.html" import error_summary %}{{ error_summary(form) }}', form=form)
    assert "What is it about? Choose a category." in html
    assert "?:" not in html


def test_finding_8_db_upgrade_says_what_it_did(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    before, after = migrate.upgrade(url)
    assert before is None and after is not None
    assert migrate.upgrade_message(before, after).startswith("Created the database schema")
    again = migrate.upgrade(url)
    assert again == (after, after)
    assert migrate.upgrade_message(*again).startswith("Database is already up to date")


def test_rounds_page_lists_each_surveys_rounds_apart(client, sign_in, three_surveys):
    sign_in("reviewer")
    found = sections(client.get("/review/rounds").get_data(as_text=True))
    survey = ids(three_surveys)
    assert list(found) == [survey["incident"], survey["pulse"], survey["annual"]]
    for name, rounds in three_surveys.items():
        body = found[survey[name]]
        assert body.count('href="/review/rounds/') == len(rounds)
        for other, other_rounds in three_surveys.items():
            if other != name:
                assert other_rounds[-1].survey_title not in body
    export = client.get(f"/review/rounds.json?survey={survey['pulse']}").get_json()
    assert export["survey"] == "Quarterly pulse"
    (table,) = export["tables"]
    assert [r["round_id"] for r in table["rows"]] == [
        r.round_id for r in reversed(three_surveys["pulse"])]
