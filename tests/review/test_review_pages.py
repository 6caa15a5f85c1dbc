"""The review pages and their exports through HTTP: content, suppression, audit."""

from __future__ import annotations

import json
import re

import pytest
from review_support import (
    assert_breakdown_safe,
    assert_round_tables_safe,
    csv_tables,
    json_tables,
    number,
    page_tables,
)
from sqlalchemy import select

from review.tables import not_shown_note
from speakup.models import AuditEntry

K = 5
PAGES = ("/review/", "/review/rounds", "/review/trends", "/review/mechanisms")

# Fixtures shared by the review tests (a tests/review/conftest.py would shadow the root one).
pytest_plugins = ["review_fixtures"]


def round_urls(published) -> list[str]:  # type: ignore[no-untyped-def]
    urls = []
    for r in published:
        urls.append(f"/review/rounds/{r.round_id}")
        urls += [f"/review/rounds/{r.round_id}?dimension={d.id}" for d in r.dimensions]
    return urls


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_every_review_page_renders_server_side_for_reviewers_and_admins(
    client, sign_in, published_survey, role
):
    sign_in(role)
    for url in [*PAGES, *round_urls(published_survey),
                "/review/trends?dimension=team", "/review/trends?dimension="]:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        # Everything is in the HTML: no script is needed (or present) to show anything.
        assert "<script" not in html, url
        assert "not shown: either fewer than 5" in html, url
        assert 'href="/static/review.css"' in html, url


def test_pages_say_so_when_nothing_is_published(client, sign_in):
    sign_in("reviewer")
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
    assert "Nothing has been published yet" in client.get("/review/").get_data(as_text=True)
    assert "Nothing has been published yet" in client.get("/review/trends").get_data(
        as_text=True)


def test_round_exports_obey_suppression_on_every_breakdown(
    client, sign_in, published_survey, tricky_round
):
    sign_in("reviewer")
    hidden_rows = 0
    for published in [*published_survey, tricky_round]:
        for dim in [None, *(d.id for d in published.dimensions)]:
            query = f"?dimension={dim}" if dim else ""
            base = f"/review/rounds/{published.round_id}"
            twin = client.get(f"{base}.json{query}").data
            as_csv = csv_tables(client.get(f"{base}.csv{query}").data, twin)
            as_json = json_tables(twin)
            hidden_rows += assert_round_tables_safe(as_csv, K)
            assert assert_round_tables_safe(as_json, K) == assert_round_tables_safe(as_csv, K)
            # The CSV and the JSON carry the same figures.
            for table in ("respondents", "results"):
                assert len(as_csv[table]) == len(as_json[table])
                for c, j in zip(as_csv[table], as_json[table], strict=True):
                    assert number(c["n"]) == number(j["n"])
                    if "favourable_pct" in j:
                        assert number(c["favourable_pct"]) == number(j["favourable_pct"])
    assert hidden_rows > 0  # Estates and the tricky groups really were hidden


def test_round_page_shows_exactly_what_its_export_shows(client, sign_in, tricky_round):
    sign_in("reviewer")
    base = f"/review/rounds/{tricky_round.round_id}"
    html = client.get(f"{base}?dimension=ethnicity").get_data(as_text=True)
    export = json.loads(client.get(f"{base}.json?dimension=ethnicity").data)
    results = next(t for t in export["tables"] if t["id"] == "results")["rows"]
    # A breakdown draws one scale per page: read every page of the contents list.
    tables = {}
    for part in dict.fromkeys(re.findall(r"part=(\w+)", html)):
        page = client.get(f"{base}?dimension=ethnicity&part={part}").get_data(as_text=True)
        tables.update({t["caption"].split(":")[0]: t for t in page_tables(page)
                       if "score-table" in t["class"]})
    checked = 0
    for row in results:
        table = tables[row["label"]]
        cells = next(r for r in table["rows"] if r[0] == row["group"])
        if row["n"] is None:
            # Hidden and empty groups read "not shown" in every column, nothing else.
            assert cells[1:] in (["not shown"] * 3, ["not shown", "–", "not shown"]), cells
        else:
            assert cells[1] == str(row["n"])
        checked += 1
    assert checked == len(results)
    respondents = next(t for t in page_tables(html) if "Respondents" in t["caption"])
    shown = {r[0]: r[1] for r in respondents["rows"][1:]}
    assert shown["Prefer not to say"] == "not shown"
    # The legend is on the page, in the words the issue asks for (both reasons).
    assert not_shown_note(K) in html


def test_trend_exports_never_show_a_gap_or_a_cell_that_could_be_recovered(
    client, sign_in, published_survey
):
    sign_in("reviewer")
    for query in ("", "?dimension=", "?dimension=team&first=emergency&second=estates",
                  "?dimension=ethnicity"):
        twin = client.get(f"/review/trends.json{query}").data
        for fmt in ("csv", "json"):
            body = client.get(f"/review/trends.{fmt}{query}").data
            tables = csv_tables(body, twin) if fmt == "csv" else json_tables(body)
            by_point: dict[tuple, list] = {}
            for row in tables["trends"]:
                by_point.setdefault((row["measure_id"], str(row["round_id"])), []).append(row)
                if row["n"] is None:
                    assert row["favourable_pct"] is None and row["mean"] is None
                    assert row["blank_figures"] == not_shown_note(K)
            for key, rows in by_point.items():
                head, *groups = rows
                assert head["group"] == "Everyone"
                assert_breakdown_safe(head["n"], [g["n"] for g in groups], K, str(key))
            for gap in tables["gaps"]:
                either_hidden = gap["first_pct"] is None or gap["second_pct"] is None
                assert (gap["gap_pts"] is None) == either_hidden, gap
                if not either_hidden:
                    assert number(gap["gap_pts"]) == pytest.approx(
                        number(gap["first_pct"]) - number(gap["second_pct"]), abs=0.11)


def test_each_export_is_audited(client, sign_in, session, published_survey):
    user = sign_in("reviewer")
    latest = published_survey[-1]
    urls = [f"/review/rounds/{latest.round_id}.csv?dimension=team", "/review/trends.json",
            "/review/mechanisms.csv", "/review/overview.json", "/review/rounds.csv"]
    for url in urls:
        assert client.get(url).status_code == 200, url
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "review.export").order_by(AuditEntry.id)
    ).all()
    assert [e.subject for e in entries] == [u.split("?")[0] for u in urls]
    assert all(e.actor == user.email for e in entries)
    assert json.loads(entries[0].detail) == {"format": "csv", "dimension": "team"}
    # Pages are not exports: looking does not write to the log.
    client.get("/review/trends")
    assert session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc())) == entries[-1].id


def test_exports_download_as_spreadsheet_files(client, sign_in, published_survey):
    sign_in("reviewer")
    rid = published_survey[-1].round_id
    response = client.get(f"/review/rounds/{rid}.csv?dimension=ethnicity")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="speakup-round-{rid}-ethnicity.csv"')
    assert response.data.startswith("\ufeff".encode())  # spreadsheets read it as UTF-8
    assert response.headers["Cache-Control"] == "no-store"
    response = client.get(f"/review/rounds/{rid}.json")
    assert response.headers["Content-Type"] == "application/json"
    payload = json.loads(response.data)
    assert payload["minimum_group_size"] == 5 and payload["round_id"] == rid
    assert isinstance(payload["comments"], list)


def test_unknown_rounds_breakdowns_and_formats_are_not_found(client, sign_in,
                                                               published_survey):
    sign_in("reviewer")
    rid = published_survey[-1].round_id
    for url in (
        "/review/rounds/999999", "/review/rounds/999999.csv", f"/review/rounds/{rid}?dimension=pay",
        f"/review/rounds/{rid}.json?dimension=pay", f"/review/rounds/{rid}.xlsx",
        "/review/trends?dimension=pay", "/review/trends.csv?survey=999999",
        "/review/mechanisms?survey=999999",
    ):
        assert client.get(url).status_code == 404, url


def test_round_report_prints_as_a_board_paper(client, sign_in, published_survey):
    sign_in("reviewer")
    html = client.get(f"/review/rounds/{published_survey[-1].round_id}").get_data(as_text=True)
    assert 'href="/static/print.css" media="print"' in html
    with client.get("/static/review.css") as response:
        css = response.get_data(as_text=True)
    print_rules = css[css.index("@media print"):]
    for hidden in (".review-nav", ".breakdown", ".exports"):
        assert hidden in print_rules
    assert "break-inside: avoid" in print_rules


def test_every_chart_has_a_how_to_read_line_before_it(client, sign_in, published_survey):
    sign_in("reviewer")
    for url in ["/review/", "/review/trends", *round_urls(published_survey)[:2]]:
        html = client.get(url).get_data(as_text=True)
        charts = html.count("<svg")
        assert charts, url
        # Every chart block is introduced by one plain sentence saying how to read it.
        first_chart = html.index("<svg")
        assert "How to read this:" in html[:first_chart], url
