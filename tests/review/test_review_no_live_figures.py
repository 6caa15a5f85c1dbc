"""No live figure about reporters or respondents anywhere a reviewer can look (issue 17).

Tried as the attacker of finding 1 would: download every reviewer page and export
(and the public results page), let one reporter or respondent act, download again.
Anything that differs tells that person's act and its month. Both engines.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from review_support import csv_tables, json_tables
from sqlalchemy import select
from sqlalchemy.orm import Session

from concerns import conflicts, keys, services
from concerns.config import ConcernConfig
from concerns.crypto import Argon2Params
from concerns.demo import seed_demo_concerns
from concerns.models import Concern
from review import goals
from speakup import audit
from speakup.clock import FrozenClock
from speakup.models import AuditEntry
from speakup.settings import Settings
from speakup.site_settings import set_results_page_enabled
from speakup.web import services as app_services
from surveys.published import PublishedRound

pytest_plugins = ["review_fixtures"]

CHEAP_ARGON2 = Argon2Params(memory_kib=8, iterations=1, lanes=1)
TEXT = "The team lead keeps making remarks about my accent in meetings."
# A CSRF token is per session and signed with the time: the only part of a page that may
# differ between two downloads, and nothing a reporter can change.
CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')


def _normalised(body: bytes) -> bytes:
    return CSRF_INPUT.sub('<input name="csrf_token">', body.decode("utf-8")).encode()


@pytest.fixture
def concern_config(app: Flask, settings: Settings) -> ConcernConfig:
    config = ConcernConfig.from_settings(settings).with_changes(argon2=CHEAP_ARGON2)
    app_services(app).extras["concerns"] = config
    return config


@pytest.fixture
def named_handler(session: Session, clock: FrozenClock, concern_config: ConcernConfig,
                  make_user: Callable[..., Any]) -> Any:
    """The organisation's recovery key and two handlers with key pairs and names; the
    first is returned (a reporter can keep them out, the second still reads it)."""
    keys.create_recovery_key(session, clock, concern_config, actor="test")
    handlers = []
    for name in ("Sam Doe", "Alex Smith"):
        account = make_user("handler")
        assert keys.unlock_handler_key(session, clock, concern_config, account.user,
                                       account.password) is not None
        conflicts.set_display_name(session, clock, account.user.id, name, actor="admin@x")
        handlers.append(account.user)
    session.commit()
    return handlers[0]


def _hidden_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


def _form(html: str, action: str) -> dict[str, str]:
    found = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', html, re.S)
    assert found, f"no form posting to {action}"
    return _hidden_fields(found.group(0))


def _submit(reporter: FlaskClient, *, excluded: str | None = None,
            files: list[tuple[str, bytes]] = ()) -> str:
    """Raise a concern as a browser would; return the receipt shown."""
    page = reporter.get("/concerns/new").get_data(as_text=True)
    data: dict[str, Any] = {"csrf_token": _hidden_fields(page)["csrf_token"], "category": "1",
                            "what_happened": TEXT, "what_wanted": ""}
    if excluded:
        data["excluded"] = excluded
    if files:
        data["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    response = reporter.post("/concerns/new", data=data, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    match = re.search(r'id="receipt"[^>]*>(.*?)</p>', html, re.S)
    assert match, "no receipt shown"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def _check(reporter: FlaskClient, receipt: str) -> str:
    page = reporter.get("/concerns/check").get_data(as_text=True)
    response = reporter.post("/concerns/check", data={
        "csrf_token": _hidden_fields(page)["csrf_token"], "receipt": receipt})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _reply(reporter: FlaskClient, receipt: str, text: str) -> None:
    page = _check(reporter, receipt)
    response = reporter.post("/concerns/reply", data={**_form(page, "/concerns/reply"),
                                                      "text": text})
    assert response.status_code == 200, response.get_data(as_text=True)


def _concern_id(session: Session, config: ConcernConfig, receipt: str) -> str:
    """The concern this receipt opens (concern ids are random: never "the latest")."""
    concern_id = services.open_conversation(session, services.receipt_keys(config,
                                                                           receipt)).concern.id
    session.commit()  # (a rollback would undo the app's own writes on this shared connection)
    return concern_id


def _actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


MECHANISMS = ("/review/mechanisms", "/review/mechanisms.csv", "/review/mechanisms.json")


def _download(client: FlaskClient, urls: tuple[str, ...]) -> dict[str, bytes]:
    out = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        out[url] = _normalised(response.data)
    return out


# --- finding 1, as found -------------------------------------------------------------------


def test_mechanisms_page_does_not_move_with_a_reporters_exclusion_or_reopening(
    app, client, session, clock, concern_config, named_handler, sign_in
):
    """Two downloads around one reporter's act: the old audit table grew a row
    "concern.exclude_handlers" (and "concern.reopen") for the month."""
    sign_in("reviewer")
    reporter = app.test_client()
    before = _download(client, MECHANISMS)
    _submit(reporter, excluded=str(named_handler.id))
    assert "concern.exclude_handlers" in _actions(session)
    assert _download(client, MECHANISMS) == before

    receipt = _submit(reporter)
    concern_id = _concern_id(session, concern_config, receipt)
    services.change_status(session, clock, concern_config, named_handler, concern_id,
                           new_status="closed", outcome="resolved", expected_status="new")
    session.commit()
    before = _download(client, MECHANISMS)
    _reply(reporter, receipt, "It has started again.")
    assert _actions(session)[-1] == "concern.reopen"
    assert _download(client, MECHANISMS) == before


def test_the_audit_view_shows_the_chain_frozen_per_publication_and_staff_changes_only(
    app, client, session, clock, concern_config, named_handler, sign_in
):
    seed_demo_concerns(session, app_services(app), lambda _line: None)
    session.commit()
    for action in ("account.update", "concern.read", "review.export", "login"):
        audit.record(session, clock, actor="someone@example.org", action=action)
    session.commit()
    sign_in("reviewer")
    tables = json_tables(client.get("/review/mechanisms.json").data)
    chain = tables["audit_chain"]
    assert chain, "every published quarter carries the chain as it stood then"
    entries = [int(r["entries"]) for r in chain]
    assert entries == sorted(entries)
    for row in chain:
        assert row["head"].startswith(f"{row['entries']}:") and len(row["head"]) == 64 + len(
            str(row["entries"])) + 1
        # The frozen head is a real head the chain still runs through.
        assert audit.verify(session, row["head"]).ok
    staff = {r["action"] for r in tables["staff_changes"]}
    assert "account.update" in staff
    assert not staff & {"concern.read", "review.export", "login", "concern.status"}
    assert not any(a.startswith("concern") for a in staff)
    html = client.get("/review/mechanisms").get_data(as_text=True)
    assert "verifies today" in html and "frozen with those figures" in html
    assert chain[-1]["head"] in html
    csv_chain = csv_tables(client.get("/review/mechanisms.csv").data,
                           client.get("/review/mechanisms.json").data)["audit_chain"]
    assert [r["head"] for r in csv_chain] == [r["head"] for r in chain]


# --- every reviewer page and export, around every act we can drive -----------------------


@pytest.fixture
def open_link(make_open_link: Callable[..., str]) -> str:
    """An open round of another survey, with one unused personal link."""
    return make_open_link(["speak"], 5)


def _reviewer_urls(published: list[PublishedRound]) -> tuple[str, ...]:
    pages = ["/review/", "/review/rounds", "/review/trends", "/review/mechanisms",
             "/review/goals", "/review/actions", "/results/"]
    for r in published:
        pages.append(f"/review/rounds/{r.round_id}")
        for dimension in r.dimensions:
            pages.append(f"/review/rounds/{r.round_id}?dimension={dimension.id}")
            pages.append(f"/review/trends?dimension={dimension.id}")
    exports = ["/review/overview", "/review/rounds", "/review/trends", "/review/mechanisms",
               "/review/goals", "/review/actions",
               *(f"/review/rounds/{r.round_id}" for r in published)]
    return (*pages, *(f"{e}.{fmt}" for e in exports for fmt in ("csv", "json")))


def test_no_reviewer_page_or_export_moves_with_any_reporter_or_respondent_act(
    app, client, session, clock, settings, concern_config, named_handler, sign_in,
    published_survey, open_link
):
    seed_demo_concerns(session, app_services(app), lambda _line: None)
    set_results_page_enabled(session, clock, "admin@x", True)
    goal = goals.create_goal(session, clock, goals.GoalSpec(
        label="Feel safe to speak up", metric="favourable", target=70, direction="at_least",
        due_on=clock.today().replace(year=clock.today().year + 1), owner="People team",
        survey_id=published_survey[0].survey_id, row_id=published_survey[0].scales[0].id,
    ), actor="admin@x")
    goals.create_action(session, clock, goals.ActionSpec(
        clock.today(), "Listening sessions with every team", goal_ids=(goal.id,)),
        actor="admin@x")
    session.commit()
    sign_in("reviewer")
    urls = _reviewer_urls(published_survey)
    reporter = app.test_client()
    first = _download(client, urls)

    # A reporter with an attachment, then one who keeps a handler out.
    receipt = _submit(reporter, files=[("notes.txt", b"Dates and times of each remark.\n")])
    acts: list[tuple[str, Callable[[], None]]] = []

    def new_with_exclusion() -> None:
        _submit(reporter, excluded=str(named_handler.id))

    def reply() -> None:
        _reply(reporter, receipt, "One more detail about the last meeting.")

    def reopen_by_reply() -> None:
        concern_id = _concern_id(session, concern_config, receipt)
        services.change_status(session, clock, concern_config, named_handler, concern_id,
                               new_status="closed", outcome="resolved",
                               expected_status=_status(session, concern_id),
                               closing_message="We spoke to the team lead.")
        session.commit()
        # The handler's act is before `first` is compared again: take a fresh baseline.
        baseline.update(_download(client, urls))
        _reply(reporter, receipt, "It has started again.")
        assert _actions(session)[-1] == "concern.reopen"

    def verdict_answer() -> None:
        page = _check(reporter, receipt)
        response = reporter.post("/concerns/verdict", data={
            **_form(page, "/concerns/verdict"), "speak_again": "yes", "felt_safe": "4",
            "kept_informed": "4"})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "saved" in response.get_data(as_text=True).lower()

    def reporter_downloads_attachment() -> None:
        page = _check(reporter, receipt)
        response = reporter.post("/concerns/file", data=_form(page, "/concerns/file"))
        assert response.status_code == 200 and b"Dates and times" in response.data

    def survey_response() -> None:
        page = client_for_respondent.get(f"/s/{open_link}").get_data(as_text=True)
        response = client_for_respondent.post(f"/s/{open_link}", data={
            "csrf_token": _hidden_fields(page)["csrf_token"], "item-speak_1": "5",
            "item-speak_2": "4", "item-speak_3": "4", "item-speak_4": "5",
            "group-team": "estates"})
        assert response.status_code == 302, response.get_data(as_text=True)

    client_for_respondent = app.test_client()
    baseline: dict[str, bytes] = {}
    acts = [("a new concern with an attachment", lambda: None),
            ("a new concern keeping a handler out", new_with_exclusion),
            ("a reporter's reply", reply),
            ("a reopening by reply", reopen_by_reply),
            ("a verdict answer", verdict_answer),
            ("the reporter downloading their file", reporter_downloads_attachment),
            ("a survey response", survey_response)]
    assert _download(client, urls) == first, acts[0][0]
    for name, act in acts[1:]:
        baseline.clear()
        act()
        after = _download(client, urls)
        expected = dict(baseline) or first
        changed = [u for u in urls if after[u] != expected[u]]
        assert not changed, (name, changed)
        first = expected


def _status(session: Session, concern_id: str) -> str:
    session.expire_all()
    concern = session.get(Concern, concern_id)
    assert concern is not None
    return concern.status
