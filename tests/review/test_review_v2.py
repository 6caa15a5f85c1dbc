"""Review v2 (issue 9): each finding of the review, as a test that failed before its fix."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import random
import re
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from conftest import add_concern_reader
from review_support import csv_tables, page_tables

from concerns.demo import seed_demo_concerns
from concerns.stats import MechanismStats, QuarterStats, published_stats
from review import demo, reports
from review.demo import Respondent
from review.exports import to_csv
from review.mechanisms import TIMELINESS_NOTE, AuditSummary, mechanism_review
from review.tables import Column, Table, TableRow, not_shown_note
from speakup.clock import FrozenClock
from speakup.web import services
from surveys import invitations, responses, rounds
from surveys.models import PublishedResult
from surveys.round_keys import RoundKeyFolder

K = 5
pytest_plugins = ["review_fixtures"]
SPEAK = ["speak_1", "speak_2", "speak_3", "speak_4"]


def publish_by_hand(session, settings, survey, people, opens, opened, closed, published_on):
    """Plan a round at ``opens``, open it at ``opened``, close it at ``closed``, publish."""
    round_ = rounds.add_round(session, survey, opens)
    rounds.open_round(session, round_, FrozenClock(opened), keys=RoundKeyFolder.of(settings),
                      actor="admin@example.org")
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
    svc = services(app)
    add_concern_reader(session, svc.clock, svc.extras["concerns"])  # as `speakup demo`
    seed_demo_concerns(session, svc, lambda _line: None)
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
    # (issue 21: the JSON's number fields hold numbers or null; the status says why)
    running_rows = [r for r in clock_rows if r["quarter"] in {q.quarter for q in running}]
    assert {r["acknowledged_within_7_days_pct"] for r in running_rows} == {None}
    assert all("Acknowledged within 7 days: not yet due" in r["blank_figures"]
               for r in running_rows)


# --- finding 1: every chart reads favourable-to-the-right ------------------------------


def segment_titles(svg: str) -> list[tuple[str, list[str]]]:
    """(row class, answer names of its segments left to right) for each drawn row."""
    parts = re.split(r'<g class="(row(?: row-reversed| row-not-shown)?)">', svg)
    return [(cls, re.findall(r"<title>([^:<]+):", body))
            for cls, body in zip(parts[1::2], parts[2::2], strict=True)
            if cls != "row row-not-shown"]


def test_finding_1_negatively_worded_questions_are_drawn_favourable_to_the_right(
    client, sign_in, published_survey
):
    latest = published_survey[-1]
    report = reports.round_report(latest, None)
    psafe = next(s for s in report.sections if s.instrument_id == "psafe")
    reversed_ids = [r.row.id for r in psafe.rows if r.row.reverse]
    assert reversed_ids == ["psafe_1", "psafe_3", "psafe_5"]
    (chart,) = psafe.charts
    rows = segment_titles(str(chart.svg))
    assert len(rows) == 8  # the scale and its seven questions
    for cls, answers in rows:
        # Then the favourable end is on the right for every row: for "If you make a
        # mistake on this team, it is often held against you" that is "Strongly disagree"
        favourable_end = "Strongly disagree" if cls == "row row-reversed" else "Strongly agree"
        assert answers[-1] == favourable_end, (cls, answers)
    assert sum(cls == "row row-reversed" for cls, _ in rows) == 3
    # And the axis ends say so, and the page names the questions worded negatively
    assert "less favourable" in str(chart.svg) and "more favourable" in str(chart.svg)
    assert psafe.worded_negatively == tuple(
        r.row.label for r in psafe.rows if r.row.reverse)
    sign_in("reviewer")
    for query in ("", "?dimension=team&part=psafe"):
        html = client.get(f"/review/rounds/{latest.round_id}{query}").get_data(as_text=True)
        assert "Worded negatively, so drawn the other way round" in html
        assert "If you make a mistake on this team, it is often held against you" in html
    # With a breakdown, the reversed question's chart is mirrored on every group's row
    by_team = reports.round_report(latest, "team", "psafe")
    (section,) = by_team.shown_sections
    mistake = next(r for r in section.rows if r.row.id == "psafe_1")
    drawn = [answers for cls, answers in segment_titles(str(mistake.chart.svg))]
    assert drawn and all(a[-1] == "Strongly disagree" for a in drawn)
    # The answer table keeps the options in the order people read them
    assert mistake.chart.table_headers[2] == "Strongly disagree"


# --- finding 4: "not shown" names both reasons, everywhere ------------------------------


def test_finding_4_not_shown_key_gives_both_reasons_everywhere(
    client, sign_in, published_survey, tricky_round
):
    note = not_shown_note(K)
    assert "fewer than 5" in note and "subtraction" in note
    sign_in("reviewer")
    base = f"/review/rounds/{tricky_round.round_id}"
    for url in ("/review/", "/review/rounds", base, f"{base}?dimension=team",
                "/review/trends?dimension=team", "/review/mechanisms"):
        html = client.get(url).get_data(as_text=True)
        assert "not shown: either fewer than 5" in html, url
        assert "cannot be worked out by subtraction" in html, url
    tables = csv_tables(client.get(f"{base}.csv?dimension=team").data,
                        client.get(f"{base}.json?dimension=team").data)
    notes = {r["blank_figures"] for r in tables["results"] if r["n"] is None}
    assert notes == {note}


# --- finding 6: a hidden count is a marker on the baseline, never a bar ----------------


def test_finding_6_hidden_counts_on_the_mechanisms_page_have_no_height():
    review = mechanism_review(MECH_STATS, [], _empty_audit(), K)
    hidden_markers = 0
    for chart in review.volume_charts + review.outcome_charts:
        svg = str(chart.svg)
        assert '<rect class="not-shown"' not in svg
        assert "<pattern" not in svg  # no hatching left
        for marker in re.findall(r'<g class="not-shown">(.*?)</g>', svg, re.S):
            assert "<rect" not in marker and "not shown" in marker
            ys = [float(y) for y in re.findall(r"[\d.]+ ([\d.]+)", re.search(
                r' d="([^"]+)"', marker).group(1))]
            assert max(ys) - min(ys) <= 10  # a small triangle, not a bar
            hidden_markers += 1
    assert hidden_markers >= 2


MECH_STATS = MechanismStats(
    k=K, categories=["Racism or discrimination", "Other"], retired_categories=[],
    outcomes=["Upheld", "Not upheld"],
    quarters=[
        QuarterStats("2026-Q1", True, "2026-04-14", K, 14, {"Racism or discrimination": 9,
                     "Other": None}, 3.0, 0.8, 0.5, 0.5, {"Upheld": 7, "Not upheld": None}),
        QuarterStats("2026-Q2", True, "2026-07-14", K, None, None, None, None, None, None,
                     {"Upheld": None, "Not upheld": None}),
    ],
)  # fmt: skip


def _empty_audit() -> AuditSummary:
    return AuditSummary(True, Table("audit_chain", "Chain", (), (), ""),
                        Table("staff_changes", "Staff", (), (), ""))


# --- finding 7: the CSV works in a spreadsheet without a manual -------------------------


def test_finding_7_csv_has_one_labelled_column_set_per_answer_scale(
    client, sign_in, published_survey
):
    latest = published_survey[-1]
    sign_in("reviewer")
    body = client.get(f"/review/rounds/{latest.round_id}.csv?dimension=ethnicity").data
    assert body.startswith("\ufeff".encode())  # the BOM stays
    header = next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert not [h for h in header if h.startswith("answer_")]
    for wanted in ("Round", "Minimum group size", "Breakdown", "Strongly agree % (5-point)",
                   "Strongly agree n (5-point)", "Somewhat agree % (7-point)", "Yes %", "No n",
                   "What favourable means"):
        assert wanted in header, wanted
    twin = client.get(f"/review/rounds/{latest.round_id}.json?dimension=ethnicity").data
    rows = [r for r in csv_tables(body, twin)["results"] if r["id"] == "speak_1" and r["n"]]
    five = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree",
            "Strongly agree"]
    for row in rows:
        assert row["round"] == latest.label and row["k"] == str(latest.k)
        assert row["dimension"] in (None, "Ethnicity group")
        assert sum(int(row[f"{a} n (5-point)"]) for a in five) == int(row["n"])
        assert sum(float(row[f"{a} % (5-point)"]) for a in five) == pytest.approx(100, abs=0.3)
        assert row["Somewhat agree % (7-point)"] is None  # not a 5-point answer
    # Hand-computed: Everyone's "Agree" count is the stored distribution's value 4
    everyone = next(r for r in rows if r["group"] == "Everyone")
    speak_1 = next(i for i in latest.items if i.id == "speak_1")
    assert int(everyone["Agree n (5-point)"]) == speak_1.overall.distribution["4"]


def test_finding_7_csv_still_escapes_formulas():
    table = Table("t", "T", (Column("group", "Group"),),
                  (TableRow({"group": "=SUM(A1)"}),), "note")
    assert "'=SUM(A1)" in to_csv([table])


# --- finding 8: breakdowns are named by their short label ------------------------------


def test_finding_8_breakdowns_use_the_short_label(client, sign_in, session, published_survey):
    # Given rounds whose team question has the short label "Team" (set at survey set-up)
    for published in published_survey:
        stored = session.get(PublishedResult, published.round_id)
        payload = copy.deepcopy(stored.payload)
        for dim in payload["dimensions"]:
            if dim["id"] == "team":
                dim["short_label"] = "Team"
        stored.payload = payload
    session.commit()
    latest = published_survey[-1]
    sign_in("reviewer")

    # Then headings, tabs, chart titles and exports say "Team", never the whole question
    html = client.get(f"/review/rounds/{latest.round_id}?dimension=team").get_data(as_text=True)
    assert "by team</h1>" in html and ">Team</a>" in html
    assert "answers by team" in html
    assert "Team or directorate" not in html
    trends = client.get("/review/trends?dimension=team").get_data(as_text=True)
    assert ">Team</option>" in trends and "Team or directorate" not in trends
    base = f"/review/rounds/{latest.round_id}"
    tables = csv_tables(client.get(f"{base}.csv?dimension=team").data,
                        client.get(f"{base}.json?dimension=team").data)
    assert {r["dimension"] for r in tables["results"]} == {None, "Team"}
    assert {r["dimension"] for r in tables["respondents"]} == {None, "Team"}
    export = client.get(f"/review/rounds/{latest.round_id}.json?dimension=team").get_json()
    assert export["breakdown"] == "Team"
    trend_tables = csv_tables(client.get("/review/trends.csv?dimension=team").data,
                              client.get("/review/trends.json?dimension=team").data)
    assert {r["dimension"] for r in trend_tables["trends"]} <= {None, "Team"}


# --- finding 9: each page is light enough to read at a glance ---------------------------


PAGE_LIMIT = 150 * 1024


def test_finding_9_every_review_page_of_the_demo_is_at_most_150_kb(
    client, sign_in, session, settings, clock
):
    # Given the demo survey (every instrument, both breakdowns) with demo-sized rounds
    survey = demo.create_demo_survey(session, settings, clock)
    rounds_ = demo.publish_synthetic_rounds(session, settings, survey, clock.today(),
                                            [240, 260], random.Random(demo.DEMO_SEED))
    session.commit()
    latest = rounds_[-1]
    sign_in("reviewer")
    base = f"/review/rounds/{latest.round_id}"
    urls = ["/review/", "/review/rounds", base, "/review/mechanisms", "/review/trends",
            "/review/trends?dimension="]
    for dim in latest.dimensions:
        page = client.get(f"{base}?dimension={dim.id}").get_data(as_text=True)
        parts = list(dict.fromkeys(re.findall(r"part=(\w+)", page)))
        assert len(parts) == 5  # a contents list: one instrument (or its subscales) per page
        urls += [f"{base}?dimension={dim.id}&part={p}" for p in parts]
        trends = client.get(f"/review/trends?dimension={dim.id}").get_data(as_text=True)
        measures = list(dict.fromkeys(re.findall(r"measure=(\w+)", trends)))
        assert len(measures) >= 4
        urls += [f"/review/trends?dimension={dim.id}&measure={m}" for m in measures]
    sizes = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        sizes[url] = len(response.data)
    heaviest = max(sizes, key=sizes.get)
    # Then none is heavier than 150 KB of HTML (it was ~390 KB for a team breakdown)
    assert sizes[heaviest] <= PAGE_LIMIT, (heaviest, sizes[heaviest])
