"""Comparison with peers from their signed reports only (issue 22): import, pinning, page."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from test_results_page import TWO_ROUNDS, cells, publish

from review import demo, peers, progress_report
from speakup import publication_log
from speakup.models import AuditEntry

pytest_plugins = ["review_fixtures"]

NORTH, RIVER = "Northfield", "Riverside"


@pytest.fixture
def own_report(session, settings, clock) -> dict:
    """Two published rounds (speaking up 80% in the latest) and our signed report."""
    publish(session, settings, clock, TWO_ROUNDS)
    entry = progress_report.publish_report(session, settings.min_group_size, clock.today())
    session.commit()
    return json.loads(entry.payload)


def _import(session, clock, name: str, document: dict) -> peers.PeerReport:
    return peers.import_report(session, clock, organisation=name, text=json.dumps(document),
                               actor="admin@example.org")


def test_reviewers_see_our_figure_beside_each_peer_and_their_median_and_range(
    client, session, clock, own_report, sign_in
):
    _import(session, clock, NORTH, demo.peer_file(own_report, -0.06))
    _import(session, clock, RIVER, demo.peer_file(own_report, 0.04))
    session.commit()
    sign_in("reviewer")
    html = client.get("/review/peers").get_data(as_text=True)
    header, *rows = cells(html, "compact-table peers-table")
    assert header == ["Measure", "Us", NORTH, RIVER, "Peers’ median", "Peers’ range"]
    # 80% moved by -6 and +4 points: 74% and 84%, median 79%.
    assert rows == [["Speaking up", "80%", "74%", "84%", "79%", "74% to 84%"]]
    sources = cells(html, "compact-table sources-table")
    assert [r[0] for r in sources[1:]] == ["Us", NORTH, RIVER]
    assert all(r[3] == "5" and r[4] == "suppress" for r in sources[1:])
    for words in ("Peers’ median: the middle of the peers’ shown figures",
                  "Peers’ range: the lowest and the highest", "Favourable is the share"):
        assert words in html
    assert 'aria-current="page">Peers</a>' in html


def test_the_first_key_is_pinned_and_a_stranger_key_is_refused(session, clock, own_report):
    first = demo.peer_file(own_report, -0.06)
    _import(session, clock, NORTH, first)
    pinned = session.scalar(select(peers.PeerOrganisation.pinned_fingerprint))
    assert pinned == json.loads(first["header"])["key"]
    # Someone else's file passed off as Northfield's (a fresh key): refused by name.
    with pytest.raises(peers.PeerImportError, match="Wrong key"):
        _import(session, clock, NORTH, demo.peer_file(own_report, 0.5))
    with pytest.raises(peers.PeerImportError, match="already imported"):
        _import(session, clock, NORTH, first)
    detail = session.scalars(select(AuditEntry.detail).where(
        AuditEntry.action == peers.AUDIT_ACTION)).all()
    assert detail == [json.dumps({"key": pinned, "seq": 2}, sort_keys=True)]


@pytest.mark.parametrize("spoil, message", [
    (lambda d: d.update(payload=d["payload"].replace("74%", "94%")),
     "Not imported: .*the figures do not match the signed hash"),
    (lambda d: d.update(signature=d["keys"][0]["signature"]),
     "Not imported: .*the signature does not match"),
    (lambda d: d.clear(), "Not imported: This is not a signed Speak Up publication"),
])
def test_an_altered_file_is_refused_and_nothing_is_stored(session, clock, own_report, spoil,
                                                          message):
    document = demo.peer_file(own_report, -0.06)
    spoil(document)
    with pytest.raises(peers.PeerImportError, match=message):
        _import(session, clock, NORTH, document)
    assert session.scalars(select(peers.PeerOrganisation)).all() == []


def test_only_progress_reports_are_compared(session, clock, own_report):
    round_entry = publication_log.latest(session, publication_log.SURVEY_ROUND)
    with pytest.raises(peers.PeerImportError, match="is a survey-round, not a progress report"):
        _import(session, clock, NORTH, publication_log.signed_file(session, round_entry))


def test_before_our_own_report_the_page_says_what_to_do(client, sign_in):
    sign_in("reviewer")
    html = client.get("/review/peers").get_data(as_text=True)
    assert "our own progress report has not been signed" in html
    assert "speakup publications publish-report" in html


def test_an_admin_imports_from_the_command_line(app, session, clock, own_report, tmp_path):
    path = tmp_path / "north.json"
    path.write_text(json.dumps(demo.peer_file(own_report, -0.06)))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["publications", "import-peer", str(path), "--organisation",
                                 NORTH])
    assert result.exit_code == 0, result.output
    assert f"Imported {NORTH}'s signed report (entry 2)." in result.output
    path.write_text("not json")
    result = runner.invoke(args=["publications", "import-peer", str(path), "--organisation",
                                 NORTH])
    assert result.exit_code == 1 and "The file is not JSON" in result.output
