"""The actions log ("you said, we did"): services, pages, exports, and marks on trend charts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import csrf_token_from, post_form
from flask import render_template_string
from review_support import csv_tables, json_tables
from sqlalchemy import func, select

from review import charts, goals
from review.goals import ActionSpec, GoalError, GoalSpec
from review.models import Action

pytest_plugins = ["review_fixtures"]

K = 5
DUE = dt.date(2027, 3, 31)


def make_goals(session, clock, published):  # type: ignore[no-untyped-def]
    favourable = goals.create_goal(session, clock, GoalSpec(
        label="Feel safe to speak up", metric="favourable", target=75, direction="at_least",
        due_on=DUE, owner="Advisory group", survey_id=published.survey_id, row_id="speak",
    ), actor="r")  # fmt: skip
    gap = goals.create_goal(session, clock, GoalSpec(
        label="Close the gap", metric="gap", target=5, direction="at_most", due_on=DUE,
        owner="Network", survey_id=published.survey_id, row_id="speak",
        dimension_id="ethnicity", first_group="global_majority", second_group="white",
    ), actor="r")  # fmt: skip
    session.commit()
    return favourable, gap


def test_actions_are_listed_newest_first_with_their_goals(session, clock, published_survey):
    favourable, gap = make_goals(session, clock, published_survey[-1])
    goals.create_action(session, clock, ActionSpec(dt.date(2026, 1, 10), "Older", "",
                                                   (favourable.id,)), actor="r")
    goals.create_action(session, clock, ActionSpec(dt.date(2026, 2, 20), "Newer", "Both.",
                                                   (gap.id, favourable.id)), actor="r")
    session.commit()
    views = goals.list_actions(session)
    assert [(a.title, a.date, a.goal_labels) for a in views] == [
        ("Newer", "20 February 2026", ("Feel safe to speak up", "Close the gap")),
        ("Older", "10 January 2026", ("Feel safe to speak up",)),
    ]


def test_action_validation(session, clock):
    with pytest.raises(GoalError) as caught:
        goals.create_action(session, clock, ActionSpec(None, "  ", "x" * 4001, (12345,)),
                            actor="r")
    assert {name for name, _ in caught.value.problems} == {"taken_on", "title", "description",
                                                           "goals"}
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Action)) == 0


def test_log_and_edit_an_action_through_the_pages(client, session, clock, sign_in,
                                                  published_survey):
    favourable, gap = make_goals(session, clock, published_survey[-1])
    sign_in("reviewer")
    typed = {"taken_on": "2026-02-20", "title": "y" * 201, "description": "Kept ✓",
             "goals": [str(gap.id)]}
    response = post_form(client, "/review/actions", typed)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Kept ✓</textarea>" in html and 'value="2026-02-20"' in html
    assert re.search(rf'checked[^>]*value="{gap.id}"|value="{gap.id}"[^>]*checked', html)
    response = post_form(client, "/review/actions", {**typed, "title": "Listening sessions"})
    assert response.status_code == 302
    (action,) = session.scalars(select(Action)).all()
    assert [g.id for g in action.goals] == [gap.id]
    page = client.get(f"/review/actions/{action.id}/edit").get_data(as_text=True)
    assert 'value="Listening sessions"' in page
    response = client.post(f"/review/actions/{action.id}/edit", data={
        "csrf_token": csrf_token_from(page), "taken_on": "2026-02-21",
        "title": "Board listening sessions", "description": "",
        "goals": [str(favourable.id), str(gap.id)]})
    assert response.status_code == 302
    session.expire_all()
    action = session.get(Action, action.id)
    assert action.taken_on == dt.date(2026, 2, 21) and len(action.goals) == 2
    html = client.get("/review/actions").get_data(as_text=True)
    assert "21 February 2026" in html and "Towards: Feel safe to speak up; Close the gap" in html
    assert client.get("/review/actions/999/edit").status_code == 404


def test_actions_export_csv_and_json(client, session, clock, sign_in, published_survey):
    favourable, _ = make_goals(session, clock, published_survey[-1])
    goals.create_action(session, clock, ActionSpec(dt.date(2026, 2, 20), "=Formula-like title",
                                                   "Done.", (favourable.id,)), actor="r")
    session.commit()
    sign_in("admin")
    (row,) = csv_tables(client.get("/review/actions.csv").data,
                        client.get("/review/actions.json").data)["actions"]
    assert row["date"] == "2026-02-20" and row["goals"] == "Feel safe to speak up"
    assert row["title"] == "'=Formula-like title"  # spreadsheet formula injection defused
    (data,) = json_tables(client.get("/review/actions.json").data)["actions"]
    assert data["title"] == "=Formula-like title" and data["description"] == "Done."


def test_trend_charts_draw_targets_due_dates_and_actions(client, session, clock, sign_in,
                                                         published_survey):
    favourable, gap = make_goals(session, clock, published_survey[-1])
    goals.create_action(session, clock, ActionSpec(dt.date(2026, 1, 15), "Listening sessions",
                                                   "", (favourable.id,)), actor="r")
    goals.create_action(session, clock, ActionSpec(dt.date(2026, 1, 20), "Unrelated to speak",
                                                   "", (gap.id,)), actor="r")
    session.commit()
    sign_in("reviewer")
    html = client.get("/review/trends?dimension=").get_data(as_text=True)
    block = html.split('id="trend-speak"')[1].split('class="trend-block"')[0]
    headline, gap_chart = block.split('class="chart chart-gap"')[0], \
        block.split('class="chart chart-gap"')[1]
    assert headline.count('class="target-line"') == 1
    assert "Goal: at least 75%" in headline
    assert "Listening sessions" in headline and "date-mark-action" in headline
    assert "Unrelated to speak" not in headline  # linked to the gap goal: on the gap chart
    assert "date-mark-due" in headline
    assert ("Vertical line, due date, 31 March 2027: Feel safe to speak up, after the "
            "last round shown") in headline
    assert gap_chart.split("</svg>")[0].count('class="target-line"') == 2  # +5 and -5
    assert "Unrelated to speak" in gap_chart
    # Another measure with no goal shows no target line.
    other = html.split('id="trend-psafe"')[1].split('class="trend-block"')[0]
    assert "target-line" not in other


def test_chart_marks_are_placed_by_date_and_said_in_words():
    days = [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    chart = charts.line_chart(
        "t", ["Jan", "Feb"], [charts.Series("Everyone", [60.0, 70.0])], 0, 100, "Favourable",
        targets=[charts.TargetLine(75.0, "Goal: at least 75%")],
        marks=[charts.DateMark(dt.date(2026, 1, 16), "Midway"),
               charts.DateMark(dt.date(2027, 3, 31), "due: goal", "due")],
        x_dates=days,
    )  # fmt: skip
    assert chart.notes == (
        "Dashed horizontal line: Goal: at least 75% (75%).",
        "Vertical line, action 1, 16 January 2026: Midway.",
        "Vertical line, due date, 31 March 2027: due: goal, after the last round shown (Feb): "
        "marked at the right edge.",
    )
    lines = re.findall(r'<line x1="([\d.]+)" y1="[\d.]+" x2="\1"[^>]*stroke-dasharray="2 3"',
                       str(chart.svg))
    # Rounds sit 32 px inside the plot; 15 of 31 days along is 15/31 of the way across.
    # The legend's swatch is the first circle; the two points of the line come last.
    xs = [float(x) for x in re.findall(r'<circle[^>]*cx="([\d.]+)"', str(chart.svg))][-2:]
    assert len(lines) == 1
    assert float(lines[0]) == pytest.approx(xs[0] + (xs[1] - xs[0]) * 15 / 31, abs=0.01)
    for text in chart.notes:
        assert text in chart.description
    with pytest.raises(ValueError):
        charts.line_chart("t", ["Jan"], [charts.Series("E", [1.0])], 0, 100, "F",
                          targets=[charts.TargetLine(120.0, "too high")])
    with pytest.raises(ValueError):
        charts.line_chart("t", ["Jan"], [charts.Series("E", [1.0])], 0, 100, "F",
                          marks=[charts.DateMark(dt.date(2026, 1, 1), "no dates")])


def test_partials_for_staff_link_to_no_reviewer_page(app, session, clock, published_survey):
    favourable, _ = make_goals(session, clock, published_survey[-1])
    goals.create_action(session, clock, ActionSpec(dt.date(2026, 2, 20), "Sessions", "",
                                                   (favourable.id,)), actor="r")
    session.commit()
    progress = goals.goal_progress(session, K, clock.today())
    actions = goals.list_actions(session)
    source = ('{% from "review/_goals_table.html" import goals_table %}'
              '{% from "review/_actions_list.html" import actions_list %}'
              "{{ goals_table(progress) }}{{ actions_list(actions) }}")
    with app.test_request_context("/results/"):
        html = render_template_string(source, progress=progress, actions=actions)
        editable = render_template_string(
            '{% from "review/_goals_table.html" import goals_table %}'
            "{{ goals_table(progress, editable=True) }}", progress=progress)
    assert "Feel safe to speak up" in html and "Sessions" in html
    assert progress[0].status in html and progress[0].latest_text in html
    assert "href" not in html and "<form" not in html
    assert "/review/goals/" in editable and "<form" in editable
