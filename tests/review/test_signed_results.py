"""Signed publications on /results/ (issue 22): downloads, the progress report, its schema.

A member of the public downloads the report and the log from /results/ and checks them
offline; the figures the page shows must be the signed ones.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from test_results_page import TWO_ROUNDS, publish

from concerns import publication as concern_publication
from concerns.models import ConcernStatsPublication
from review import demo, peers, progress_report
from speakup import publication_log, signing, site_settings, verify_report
from speakup.web import services
from surveys.models import PublishedResult, Survey

pytest_plugins = ["review_fixtures"]

README = Path(__file__).resolve().parents[2] / "README.md"

DOWNLOADS = ("/results/signing-key.pem", "/results/signing-key.json", "/results/log.json",
             "/results/report.json", "/results/report.csv", "/results/verify_report.py",
             f"/results/{progress_report.SCHEMA_NAME}", "/results/publications/2.json")


def published_with_goals(session, settings, clock):
    """Two rounds, the demo's two goals and one action, and a signed progress report."""
    publish(session, settings, clock, TWO_ROUNDS)
    survey_id = session.scalar(select(Survey.id).where(Survey.title == "Results page"))
    demo.seed_goals(session, clock, survey_id)
    entry = progress_report.publish_report(session, settings.min_group_size, clock.today())
    session.commit()
    assert entry is not None
    return entry


def test_each_round_is_signed_as_published_without_its_comments(client, session, settings,
                                                                   clock):
    publish(session, settings, clock, TWO_ROUNDS)
    log = verify_report.verify_log(client.get("/results/log.json").get_json())
    assert [h["kind"] for h in log.headers] == ["signing-key", "survey-round", "survey-round"]
    for header in log.headers[1:]:
        stored = session.get(PublishedResult, int(header["ref"]))
        response = client.get(f"/results/publications/{header['seq']}.json")
        assert response.status_code == 200
        assert "attachment" in response.headers["Content-Disposition"]
        found = verify_report.verify_publication(response.get_json(), log=log)
        assert found.payload == {k: v for k, v in stored.payload.items() if k != "comments"}
    assert client.get("/results/publications/1.json").status_code == 404  # a key change
    assert client.get("/results/publications/99.json").status_code == 404


def test_a_concern_quarter_is_signed_without_the_withheld_true_counts(session, clock):
    published = concern_publication.publish_quarter(session, clock, "2025-Q4", clock.today(),
                                                    k=5, grace_days=14, actor="test")
    assert published is not None
    entry = publication_log.latest(session, publication_log.CONCERN_QUARTER)
    stored = session.get(ConcernStatsPublication, "2025-Q4")
    assert entry.ref == "2025-Q4" and json.loads(entry.payload) == stored.payload["published"]
    assert "withheld" not in entry.payload and "withheld" in stored.payload


def test_the_page_shows_the_fingerprint_and_links_and_its_figures_are_the_signed_ones(
    client, session, settings, clock, tmp_path
):
    entry = published_with_goals(session, settings, clock)
    html = client.get("/results/").get_data(as_text=True)
    key = signing.active_key(session)
    assert f'<code class="fingerprint">{signing.grouped(key.fingerprint)}</code>' in html
    for url in DOWNLOADS[:7]:
        assert f'href="{url}"' in html, url
    report = client.get("/results/report.json")
    assert report.headers["Content-Disposition"] == (
        f'attachment; filename="speakup-progress-report-{entry.ref}.json"')
    (tmp_path / "report.json").write_bytes(report.data)
    (tmp_path / "log.json").write_bytes(client.get("/results/log.json").data)
    (tmp_path / "page.html").write_text(html)
    out = io.StringIO()
    code = verify_report.run([str(tmp_path / "report.json"), "--key", key.fingerprint, "--log",
                              str(tmp_path / "log.json"), "--results",
                              str(tmp_path / "page.html")], out)
    assert code == 0, out.getvalue()
    assert "The results page shows the signed figures (1 headline figures)." in out.getvalue()
    # The page edited after signing (80% was published) is caught.
    edited = html.replace('<td class="num">80%</td>', '<td class="num">85%</td>', 1)
    assert edited != html
    (tmp_path / "page.html").write_text(edited)
    out = io.StringIO()
    assert verify_report.run([str(tmp_path / "report.json"), "--results",
                              str(tmp_path / "page.html")], out) == 1
    assert "The results page shows 85% for 'Speaking up'; the signed report says 80%." in \
        out.getvalue()


def test_the_report_follows_its_published_schema(client, session, settings, clock):
    published_with_goals(session, settings, clock)
    schema = client.get(f"/results/{progress_report.SCHEMA_NAME}").get_json()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == progress_report.SCHEMA_ID == "speakup-progress-report/1.0"
    report = verify_report.verify_publication(client.get("/results/report.json").get_json()
                                              ).payload
    jsonschema.validate(report, schema)
    survey = report["survey"]
    assert (survey["round_label"], survey["k"], survey["protection"]) == (
        "Round 2 · 2 Feb 2026", 5, "suppress")
    (headline,) = survey["headlines"]
    assert headline["favourable"]["value"] == pytest.approx(0.8)
    assert headline["favourable_shown"] == "80%" and headline["gap"]["shown"] == "0 pts"
    assert [g["label"] for g in report["goals"]] == ["More staff feel safe to speak up",
                                                     "Close the speaking-up gap"]
    assert report["goals"][0]["latest"]["shown"] == "80%"
    assert [a["title"] for a in report["actions"]] == ["Board listening sessions with staff "
                                                       "networks"]
    assert [s["kind"] for s in report["sources"]] == ["survey-round", "survey-round"]
    # Every figure has its definition, k and protection; the schema insists on each.
    broken = json.loads(json.dumps(report))
    del broken["survey"]["headlines"][0]["favourable"]["k"]
    with pytest.raises(jsonschema.ValidationError, match="'k' is a required property"):
        jsonschema.validate(broken, schema)
    with pytest.raises(progress_report.ReportError, match="does not match its schema"):
        progress_report.validate(broken)


def test_the_csv_holds_the_same_figures_with_their_definitions(client, session, settings, clock):
    published_with_goals(session, settings, clock)
    report = verify_report.verify_publication(client.get("/results/report.json").get_json()
                                              ).payload
    response = client.get("/results/report.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_section = {}
    for row in rows:
        by_section.setdefault(row["section"], []).append(row)
    assert [r["shown"] for r in by_section["headline"]] == ["80%"]
    assert float(by_section["headline"][0]["value"]) == report["survey"]["headlines"][0][
        "favourable"]["value"]
    assert len(by_section["goal"]) == 2 and len(by_section["action"]) == 1
    for row in [*by_section["headline"], *by_section["gap"], *by_section["goal"],
                *by_section["survey"]]:
        assert row["k"] == "5" and row["protection"] and row["definition"], row


def test_the_key_is_served_at_stable_addresses_and_matches_the_page(client, session, settings,
                                                                      clock):
    published_with_goals(session, settings, clock)
    pem = client.get("/results/signing-key.pem").data
    public = serialization.load_pem_public_key(pem)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    document = client.get("/results/signing-key.json").get_json()
    assert hashlib.sha256(raw).hexdigest() == document["fingerprint"]
    assert document["fingerprint_grouped"] in client.get("/results/").get_data(as_text=True)
    served = client.get("/results/verify_report.py").get_data(as_text=True)
    assert served == Path(verify_report.__file__).read_text(encoding="utf-8")


def test_every_download_vanishes_with_the_page(client, session, settings, clock):
    published_with_goals(session, settings, clock)
    for url in DOWNLOADS:
        assert client.get(url).status_code == 200, url
    site_settings.set_results_page_enabled(session, clock, "admin@example.org", False)
    session.commit()
    for url in DOWNLOADS:
        assert client.get(url).status_code == 404, url


def test_nothing_signed_yet_means_no_block_and_no_report(client):
    html = client.get("/results/").get_data(as_text=True)
    assert "Check these figures" not in html
    assert client.get("/results/report.json").status_code == 404
    assert client.get("/results/signing-key.pem").status_code == 404
    assert client.get("/results/log.json").get_json() == {
        "format": publication_log.LOG_FORMAT, "entries": []}


def test_a_second_report_the_same_day_corrects_the_first(session, settings, clock):
    first = published_with_goals(session, settings, clock)
    second = progress_report.publish_report(session, settings.min_group_size, clock.today())
    assert json.loads(second.header)["replaces"] == first.seq
    assert dt.date.fromisoformat(second.ref) == clock.today()


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Verifying published figures")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_commands_work_as_written(client, session, settings, clock, tmp_path,
                                             monkeypatch):
    published_with_goals(session, settings, clock)
    (tmp_path / "report.json").write_bytes(client.get("/results/report.json").data)
    (tmp_path / "log.json").write_bytes(client.get("/results/log.json").data)
    (tmp_path / "results.html").write_bytes(client.get("/results/").data)
    fingerprint = signing.grouped(signing.active_key(session).fingerprint)
    monkeypatch.chdir(tmp_path)
    commands = [line for line in _readme_section().splitlines()
                if line.startswith("python verify_report.py ")]
    assert len(commands) == 2
    for line in commands:
        args = shlex.split(line.replace("FINGERPRINT", fingerprint))[2:]
        out = io.StringIO()
        assert verify_report.run(args, out) == 0, (line, out.getvalue())
        assert "NOT VERIFIED" not in out.getvalue()


def test_the_readme_lists_exactly_the_addresses_served(client, session, settings, clock):
    published_with_goals(session, settings, clock)
    listed = set(re.findall(r"`(/results/[^`]+)`", _readme_section()))
    assert {u.replace("/N.json", "/2.json") for u in listed} == set(DOWNLOADS)


def test_sign_past_signs_what_was_published_before_signing(app, runner, session, settings,
                                                           clock):
    seal = session.info.pop("signing_seal_key")  # as a publication made before this feature
    publish(session, settings, clock, TWO_ROUNDS)
    concern_publication.publish_quarter(session, clock, "2025-Q4", clock.today(), k=5,
                                        grace_days=14, actor="test")
    session.commit()
    assert publication_log.entries(session) == []
    session.info["signing_seal_key"] = seal
    result = runner.invoke(args=["publications", "sign-past"])
    assert result.exit_code == 0, result.output
    assert "Signed 2 survey rounds and 1 concern quarters" in result.output
    log = verify_report.verify_log(publication_log.log_document(session))
    assert [h["kind"] for h in log.headers] == [
        "signing-key", "survey-round", "survey-round", "concern-quarter"]
    again = runner.invoke(args=["publications", "sign-past"])
    assert "Signed 0 survey rounds and 0 concern quarters" in again.output


def test_publish_report_command_signs_todays_report(app, runner, session, settings, clock):
    publish(session, settings, clock, TWO_ROUNDS)
    result = runner.invoke(args=["publications", "publish-report"])
    assert result.exit_code == 0, result.output
    entry = publication_log.latest(session, publication_log.PROGRESS_REPORT)
    assert f"as entry {entry.seq} of the publication log" in result.output
    assert entry.ref == clock.today().isoformat()


def test_the_demo_signs_a_progress_report(app, session, monkeypatch):
    whole = demo.publish_synthetic_rounds
    # Two small rounds instead of six of about 250 people: the same steps, a tenth the time.
    monkeypatch.setattr(demo, "publish_synthetic_rounds", lambda session, settings, survey,
                        today, sizes, rng: whole(session, settings, survey, today, [30, 30], rng))
    lines: list[str] = []
    demo.seed(session, services(app), lines.append)
    session.commit()
    assert any(line.startswith("Demo progress report: signed as entry") for line in lines)
    report = json.loads(publication_log.latest(session, publication_log.PROGRESS_REPORT).payload)
    assert len(report["goals"]) == 2 and report["survey"]["headlines"]
    verify_report.verify_log(publication_log.log_document(session))
    # Two synthetic peers, imported from their own signed reports.
    assert any(line.startswith("Demo peers: ") for line in lines)
    view = peers.comparison(session)
    assert len(view.peers) == 2 and len(view.lines) == 3
