"""Themes of the Freedom to Speak Up return: tagging, the handlers' CSV, the reviewers' view."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import re
import secrets

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, post_form, submit
from sqlalchemy import select

from concerns import publication, themes
from concerns.models import Concern, ConcernStatsPublication, ConcernTheme, ConcernThemeTag
from concerns.stats import published_stats
from speakup.models import AuditEntry

K = 5
TODAY = dt.date(2026, 3, 2)
DEFAULT_THEMES = ["Element of patient safety or quality", "Worker safety or wellbeing",
                  "Bullying or harassment", "Inappropriate attitudes or behaviours",
                  "Detriment indicated"]


@pytest.fixture
def reporter(app):
    return app.test_client()


def _ids(session):
    return {t.label: t.id for t in themes.list_themes(session, active_only=False)}


def _audit(session, action):
    return [e for e in session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                       .order_by(AuditEntry.id))]


def _add(session, received, theme_labels=(), outcome=None):
    concern = Concern(id=secrets.token_hex(5), category_id=1, status="new",
                      received_on=received, acknowledge_by=received + dt.timedelta(days=7),
                      feedback_by=received + dt.timedelta(days=91), last_seq=1)
    if outcome:
        concern.status, concern.outcome, concern.closed_on = "closed", outcome, received
    session.add(concern)
    session.flush()
    ids = _ids(session)
    for label in theme_labels:
        session.add(ConcernThemeTag(concern_id=concern.id, theme_id=ids[label]))
    return concern


def test_the_migration_seeds_the_guardians_themes(session):
    assert [t.label for t in themes.list_themes(session)] == DEFAULT_THEMES


def test_handler_tags_and_untags_and_each_change_is_audited(client, reporter, session,
                                                            login_as, recovery_key):
    handler = login_as("handler")
    submit(reporter)
    concern_id = session.scalar(select(Concern.id))
    ids = _ids(session)
    page_url = f"/handle/{concern_id}"
    page = client.get(page_url).get_data(as_text=True)
    assert "Themes for the Freedom to Speak Up return" in page
    fields = hidden_fields(page)
    response = client.post(f"/handle/{concern_id}/themes", data={
        **fields, "themes-themes": [str(ids["Bullying or harassment"]),
                                    str(ids["Detriment indicated"])]})
    assert response.status_code == 302
    assert themes.concern_theme_ids(session, concern_id) == {ids["Bullying or harassment"],
                                                              ids["Detriment indicated"]}
    fields = hidden_fields(client.get(page_url).get_data(as_text=True))
    client.post(f"/handle/{concern_id}/themes", data={
        **fields, "themes-themes": [str(ids["Bullying or harassment"])]})
    assert themes.concern_theme_ids(session, concern_id) == {ids["Bullying or harassment"]}
    entries = _audit(session, themes.TAG_ACTION)
    assert [(e.actor, e.subject) for e in entries] == [(handler.user.email, concern_id)] * 2
    assert json.loads(entries[0].detail) == {
        "added": ["Bullying or harassment", "Detriment indicated"], "removed": []}
    assert json.loads(entries[1].detail) == {"added": [], "removed": ["Detriment indicated"]}
    # An unknown theme is refused, and what was ticked stays ticked on the page.
    fields = hidden_fields(client.get(page_url).get_data(as_text=True))
    response = client.post(f"/handle/{concern_id}/themes", data={
        **fields, "themes-themes": [str(ids["Worker safety or wellbeing"]), "9999"]})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Choose themes from the list." in html
    assert re.search(rf'<input checked[^>]*value="{ids["Worker safety or wellbeing"]}"', html)
    assert len(_audit(session, themes.TAG_ACTION)) == 2


def test_admin_renames_retires_and_adds_themes(client, session, login_as):
    login_as("admin")
    ids = _ids(session)
    response = post_form(client, f"/admin/concern-themes/{ids['Detriment indicated']}",
                         {"label": "Detriment indicated by the reporter"})
    assert response.status_code == 302
    theme = session.get(ConcernTheme, ids["Detriment indicated"])
    session.refresh(theme)
    assert theme.label == "Detriment indicated by the reporter" and not theme.active
    response = post_form(client, "/admin/concern-themes/", {"label": "Racism"})
    assert response.status_code == 302
    response = post_form(client, "/admin/concern-themes/", {"label": "racism"})
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)
    assert [e.action for e in session.scalars(select(AuditEntry).where(
        AuditEntry.action.like("theme.%")).order_by(AuditEntry.id))] == [
        "theme.update", "theme.create"]
    assert "Racism" in [t.label for t in themes.list_themes(session)]
    assert "Detriment indicated by the reporter" not in [
        t.label for t in themes.list_themes(session)]


def test_handlers_csv_has_exact_counts_and_is_audited(client, session, login_as):
    # 2025-Q4: four concerns received (one more closed as spam, left out).
    _add(session, dt.date(2025, 10, 3), ["Bullying or harassment", "Detriment indicated"])
    _add(session, dt.date(2025, 11, 9), ["Bullying or harassment"])
    _add(session, dt.date(2025, 12, 30), ["Worker safety or wellbeing"])
    _add(session, dt.date(2025, 12, 31))
    _add(session, dt.date(2025, 12, 1), ["Bullying or harassment"], outcome="spam")
    _add(session, dt.date(2026, 1, 1), ["Bullying or harassment"])  # 2026-Q1
    session.commit()
    handler = login_as("handler")
    page = client.get("/handle/themes")
    assert page.status_code == 200 and "2025-Q4" in page.get_data(as_text=True)
    response = client.get("/handle/themes?quarter=2025-Q4")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["quarter", "figure", "concerns"]
    assert {r[1]: int(r[2]) for r in rows[1:]} == {
        "Concerns received": 4, "Raised anonymously": 4,
        "Element of patient safety or quality": 0, "Worker safety or wellbeing": 1,
        "Bullying or harassment": 2, "Inappropriate attitudes or behaviours": 0,
        "Detriment indicated": 1}
    (entry,) = _audit(session, themes.EXPORT_ACTION)
    assert (entry.actor, entry.subject) == (handler.user.email, "2025-Q4")
    assert client.get("/handle/themes?quarter=nonsense").status_code == 400


def test_csv_escapes_theme_names_a_spreadsheet_would_run(session, clock):
    themes.add_theme(session, clock, label="=HYPERLINK(\"x\")", actor="admin")
    _, body = themes.export_quarter_return(session, clock, "2025-Q4", actor="handler")
    assert "'=HYPERLINK" in body and "\n=HYPERLINK" not in body


def test_reviewers_see_theme_counts_only_at_or_above_k(session, clock, client, login_as):
    # 2025-Q4: 8 concerns; bullying on 6, worker safety on 2, both on one.
    for i in range(8):
        labels = ["Bullying or harassment"] if i < 6 else []
        if i in (5, 6):
            labels.append("Worker safety or wellbeing")
        _add(session, dt.date(2025, 11, 1 + i), labels)
    published = publication.publish_quarter(session, clock, "2025-Q4", TODAY, k=K,
                                            grace_days=14, actor="test")
    assert published.hidden_by_audit == ()
    q = next(q for q in published_stats(session, K, TODAY).quarters if q.quarter == "2025-Q4")
    assert q.received == 8
    assert q.themes == {"Element of patient safety or quality": None,
                        "Worker safety or wellbeing": None, "Bullying or harassment": 6,
                        "Inappropriate attitudes or behaviours": None,
                        "Detriment indicated": None}
    session.commit()
    login_as("reviewer")
    body = client.get("/review/mechanisms.json").get_json()
    rows = {r["theme"]: r["concerns"] for t in body["tables"] if t["id"] == "concern_themes"
            for r in t["rows"] if r["quarter"] == "2025-Q4"}
    assert rows["Bullying or harassment"] == 6
    assert all(v is None or v >= K for v in rows.values())
    # The audit accepts it (each hidden theme only known to lie between 0 and 8).
    payload = copy.deepcopy(session.get(ConcernStatsPublication, "2025-Q4").payload)
    assert publication.audit_publications(K, [payload]).ok


def test_a_quarter_below_k_shows_no_theme(session, clock):
    for i in range(3):
        _add(session, dt.date(2025, 11, 1 + i), ["Bullying or harassment"])
    publication.publish_quarter(session, clock, "2025-Q4", TODAY, k=K, grace_days=14,
                                actor="test")
    q = next(q for q in published_stats(session, K, TODAY).quarters if q.quarter == "2025-Q4")
    assert q.received is None and q.themes is None
    payload = copy.deepcopy(session.get(ConcernStatsPublication, "2025-Q4").payload)
    # Under-suppressed on purpose: the theme cell of 3 shown while the total is hidden.
    payload["published"]["figures"]["themes"] = {"Bullying or harassment": 3}
    report = publication.audit_publications(K, [payload])
    assert not report.ok and any(e.key[1] == "received" for e in report.exposures)
