"""`speakup demo` shows every handler feature working (issue 19, finding 7): two handlers
signing in with the printed details, overdue and due-soon rows in each one's inbox,
tagged themes, a concern that keeps one handler out, recusal from a shared concern, a
reply thread that was answered, closed with a verdict and reopened. Run twice, it makes
nothing twice."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures (cheap Argon2)
from concern_helpers import hidden_fields
from conftest import post_form
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from concerns import conflicts, handling, publication, services, sharing, themes
from concerns.demo import seed_demo_concerns
from concerns.demo_cases import (
    DUE_SOON,
    EXCLUDED,
    FEEDBACK_DUE_SOON,
    FEEDBACK_OVERDUE,
    OVERDUE,
    REOPENING_REPLY,
    THREAD,
    THREAD_MESSAGES,
)
from concerns.digest import DUE_SOON_DAYS
from concerns.errors import ConcernNotFoundError, RecusalError
from concerns.messages import handler_ids_with_access
from concerns.models import (
    Concern,
    ConcernExclusion,
    ConcernMessage,
    ConcernStatsPublication,
    ConcernThemeTag,
    MessageKind,
)
from speakup import accounts
from speakup.clock import FrozenClock
from speakup.demo import DEMO_ACCOUNTS, DEMO_HANDLERS, seed_demo
from speakup.models import User
from speakup.web import services as app_services

K = 5
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Demo:
    output: str
    handlers: list[User]
    passwords: dict[str, str]
    totp: dict[str, str]
    receipts: dict[str, str]  # what a scripted case shows -> its receipt


@pytest.fixture
def demo(app: Flask, session: Session) -> Demo:
    """`speakup demo`'s accounts and concerns; the survey seeders (a minute of published
    rounds, nothing a handler sees) run in the last test only."""
    svc = app_services(app)
    seeders = svc.extras["demo_seeders"]
    svc.extras["demo_seeders"] = [seed_demo_concerns]
    said: list[str] = []
    try:
        seed_demo(app, said.append)
    finally:
        svc.extras["demo_seeders"] = seeders
    output = "\n".join(said)
    passwords = dict(re.findall(r"handler\s+(\S+)\s+password: (\S+)", output))
    secrets_ = re.findall(r"TOTP secret (\S+)", output)
    emails = re.findall(r"^\s+(?:admin|handler)\s+(\S+)\s+password:", output, re.M)
    receipts = {case.shows: re.search(rf"{re.escape(case.shows)}\s+(\S+)$", output, re.M)[1]
                for case in (OVERDUE, EXCLUDED, THREAD)}
    handlers = [accounts.find_user(session, email) for email in DEMO_HANDLERS]
    assert all(handlers)
    return Demo(output, handlers, passwords, dict(zip(emails, secrets_, strict=True)), receipts)


def _sign_in(app: Flask, clock: FrozenClock, demo: Demo, user: User) -> FlaskClient:
    """Sign in (in a browser of one's own) with the details `speakup demo` printed."""
    client = app.test_client()
    code = pyotp.TOTP(demo.totp[user.email]).at(clock.now())
    response = post_form(client, "/login", {"email": user.email,
                                            "password": demo.passwords[user.email],
                                            "totp": code})
    assert response.status_code == 302, response.get_data(as_text=True)
    clock.advance(seconds=30)  # the next sign-in needs a fresh code
    return client


def _excluded_concern(session: Session) -> str:
    return session.scalars(select(ConcernExclusion.concern_id)).one()


def test_the_demo_prints_two_handlers_who_both_sign_in_and_see_deadlines(
        app, session, clock, demo):
    assert set(demo.passwords) == set(DEMO_HANDLERS)
    assert [name for _u, name in conflicts.offered_handlers(session)] == [
        "Demo Handler 1", "Demo Handler 2"]
    config = app_services(app).extras["concerns"]
    for user in demo.handlers:
        rows = handling.inbox(session, clock, config, user)
        assert any(r.acknowledgement_overdue for r in rows), user.email
        assert any(r.feedback_overdue for r in rows), user.email
        assert sum(r.due_soon for r in rows) >= 2, user.email  # acknowledgement and feedback
        client = _sign_in(app, clock, demo, user)
        page = client.get("/handle/").get_data(as_text=True)
        assert "Acknowledgement overdue" in page and "Feedback overdue" in page
        assert 'class="tag due-soon"' in page


def test_demo_concerns_carry_themes_counted_in_the_return(app, session, clock, demo):
    tagged = session.scalar(select(func.count(func.distinct(ConcernThemeTag.concern_id))))
    acknowledged = session.scalar(select(func.count()).select_from(Concern).where(
        Concern.acknowledged_on.is_not(None)))
    assert tagged >= 20 and tagged > acknowledged / 2  # "most concerns ... acknowledged"
    counted = [n for _id, _label, _active, n in themes.theme_counts(session, true())]
    assert len([n for n in counted if n]) == len(counted) == 5  # every theme in use
    thread = _concern_of(session, app, demo.receipts[THREAD.shows])
    client = _sign_in(app, clock, demo, demo.handlers[0])
    page = client.get(f"/handle/{thread}").get_data(as_text=True)
    assert len(re.findall(r'<input[^>]*\bchecked\b[^>]*>', page)) == 2, page


def _concern_of(session: Session, app: Flask, receipt: str) -> str:
    config = app_services(app).extras["concerns"]
    return services.open_conversation(session, services.receipt_keys(config, receipt)).concern.id


def test_the_excluded_handler_cannot_read_the_concern_the_other_can(
        app, session, clock, demo):
    first, second = demo.handlers
    concern_id = _excluded_concern(session)
    assert concern_id == _concern_of(session, app, demo.receipts[EXCLUDED.shows])
    assert handler_ids_with_access(session, concern_id) == [first.id]
    for other in session.scalars(select(Concern.id).where(Concern.id != concern_id)):
        assert sorted(handler_ids_with_access(session, other)) == sorted([first.id, second.id])
    config = app_services(app).extras["concerns"]
    assert concern_id not in {r.summary.id for r in handling.inbox(session, clock, config,
                                                                   second)}
    with pytest.raises(ConcernNotFoundError):
        handling.read_concern(session, clock, config, second, concern_id, None)
    client = _sign_in(app, clock, demo, second)
    assert client.get(f"/handle/{concern_id}").status_code == 404
    client = _sign_in(app, clock, demo, first)
    page = client.get(f"/handle/{concern_id}")
    assert page.status_code == 200
    assert "I have kept one handler out" in page.get_data(as_text=True)
    # The only reader cannot recuse: there would be nobody left to answer.
    with pytest.raises(RecusalError):
        sharing.recuse(session, clock, config, first, concern_id)


def test_a_handler_can_recuse_from_a_concern_both_read(app, session, clock, demo):
    first, second = demo.handlers
    concern_id = _concern_of(session, app, demo.receipts[OVERDUE.shows])
    assert sorted(handler_ids_with_access(session, concern_id)) == sorted([first.id, second.id])
    client = _sign_in(app, clock, demo, second)
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    fields = {k: v for k, v in hidden_fields(page).items() if k.startswith("recuse-")}
    done = client.post(f"/handle/{concern_id}/recuse", data={**fields, "recuse-confirm": "y"})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert client.get(f"/handle/{concern_id}").status_code == 404
    assert handler_ids_with_access(session, concern_id) == [first.id]


def test_a_reopened_thread_with_a_verdict_from_both_handlers(app, session, demo):
    concern_id = _concern_of(session, app, demo.receipts[THREAD.shows])
    concern = session.get(Concern, concern_id)
    assert concern is not None
    assert (concern.status, concern.closed_on, concern.outcome) == ("in_progress", None, None)
    assert concern.reopened_on is not None and concern.sealed_verdicts is not None
    kinds = list(session.scalars(select(ConcernMessage.kind).where(
        ConcernMessage.concern_id == concern_id).order_by(ConcernMessage.seq)))
    assert kinds == [MessageKind.REPORT, *(k for k, _ in THREAD_MESSAGES),
                     MessageKind.REPORTER_REPLY]
    authors = set(session.scalars(select(ConcernMessage.author_id).where(
        ConcernMessage.concern_id == concern_id,
        ConcernMessage.kind == MessageKind.HANDLER_REPLY)))
    assert authors == {u.id for u in demo.handlers}
    # The reporter reads the whole thread with the receipt the demo printed.
    config = app_services(app).extras["concerns"]
    thread = services.open_conversation(session, services.receipt_keys(
        config, demo.receipts[THREAD.shows]))
    texts = [m.body["text"] for m in thread.messages[1:] if m.body]
    assert texts == [*(text for _k, text in THREAD_MESSAGES), REOPENING_REPLY]


def test_the_demo_runs_twice_without_duplicates_and_publishes_safely(app, session):
    assert seed_demo_concerns in app_services(app).extras["demo_seeders"]
    seed_demo(app, lambda _line: None)  # everything, as `speakup demo` runs it
    counts = {model: session.scalar(select(func.count()).select_from(model))
              for model in (User, Concern, ConcernMessage, ConcernThemeTag, ConcernExclusion)}
    said: list[str] = []
    seed_demo(app, said.append)
    assert "Demo accounts already exist" in "\n".join(said)
    assert not [line for line in said if "password:" in line or "TOTP secret" in line]
    assert "Demo concerns already exist." in said
    assert {model: session.scalar(select(func.count()).select_from(model))
            for model in counts} == counts
    payloads = [row.payload for row in session.scalars(select(ConcernStatsPublication))]
    assert payloads and publication.audit_publications(K, payloads).ok


def test_the_readme_names_every_demo_account_and_feature_receipt():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Trying the demo", 1)[1].split("\n## ", 1)[0]
    for email, _role in DEMO_ACCOUNTS:
        assert f"`{email}`" in section, email
    for case in (OVERDUE, DUE_SOON, FEEDBACK_OVERDUE, FEEDBACK_DUE_SOON, EXCLUDED, THREAD):
        assert f"`{case.shows}`" in section, case.shows
    assert '"Demo Handler 1"' in section and '"Demo Handler 2"' in section
    assert DUE_SOON_DAYS == 2 and "within two days" in section


def test_an_older_demo_gets_the_second_handler_with_every_concern(app, session, monkeypatch):
    # Given an instance made by the one-handler demo,
    svc = app_services(app)
    monkeypatch.setitem(svc.extras, "demo_seeders", [seed_demo_concerns])
    monkeypatch.setattr("speakup.demo.DEMO_ACCOUNTS",
                        tuple(a for a in DEMO_ACCOUNTS if a[0] != DEMO_HANDLERS[1]))
    seed_demo(app, lambda _line: None)
    assert accounts.find_user(session, DEMO_HANDLERS[1]) is None
    # when today's demo runs there,
    monkeypatch.setattr("speakup.demo.DEMO_ACCOUNTS", DEMO_ACCOUNTS)
    said: list[str] = []
    seed_demo(app, said.append)
    # the second handler is made, named, and reads every concern (through the demo key).
    second = accounts.find_user(session, DEMO_HANDLERS[1])
    assert second is not None and any(DEMO_HANDLERS[1] in line for line in said)
    assert any(line.startswith(f"Gave {DEMO_HANDLERS[1]} the ") for line in said)
    assert "Demo Handler 2" in [name for _u, name in conflicts.offered_handlers(session)]
    concerns = set(session.scalars(select(Concern.id)))
    assert {c for c in concerns if second.id in handler_ids_with_access(session, c)} == concerns


def test_the_demos_guardian_return_matches_a_hand_count(app, session, clock, demo):
    """Issue 19's "done when": the return is one download whose figures match a hand count
    on the demo. The count here reads each concern as a handler would (its page shows the
    reporter's professional group) and tallies in Python, apart from the return's queries."""
    import csv
    import datetime as dt
    import io
    import statistics

    from concerns.models import EXCLUDED_OUTCOMES, ConcernTheme

    today = app_services(app).extras["concerns"].today(clock)
    this_quarter = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last_day = this_quarter - dt.timedelta(days=1)
    first_day = dt.date(last_day.year, last_day.month - 2, 1)
    quarter = f"{last_day.year}-Q{(last_day.month - 1) // 3 + 1}"
    counted = [c for c in session.scalars(select(Concern))
               if first_day <= c.received_on <= last_day and c.outcome not in EXCLUDED_OUTCOMES]
    assert len(counted) >= 5  # a quarter of the demo's traffic

    client = _sign_in(app, clock, demo, demo.handlers[0])
    groups: dict[str, int] = {}
    for concern in counted:
        page = client.get(f"/handle/{concern.id}").get_data(as_text=True)
        found = re.search(r"<dt>Professional group</dt><dd>([^<]+?) <span", page)
        label = found[1] if found else "Not answered"
        groups[label] = groups.get(label, 0) + 1
    assert "Not answered" in groups and len(groups) >= 3  # some answered, some did not

    labels = {t.id: t.label for t in session.scalars(select(ConcernTheme))}
    ids = {c.id for c in counted}
    themes_: dict[str, int] = {}
    for tag in session.scalars(select(ConcernThemeTag)):
        if tag.concern_id in ids:
            themes_[labels[tag.theme_id]] = themes_.get(labels[tag.theme_id], 0) + 1
    acknowledged = [(c.acknowledged_on - c.received_on).days for c in counted
                    if c.acknowledged_on is not None]

    response = client.get(f"/handle/return.csv?quarter={quarter}")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    got = {(r["section"], r["figure"]): r["value"] for r in rows}
    assert got[("Cases", "Cases raised")] == str(len(counted))
    assert got[("Cases", "Raised anonymously")] == str(len(counted))
    for label in labels.values():
        assert got[("Themes", label)] == str(themes_.get(label, 0)), label
    shown_groups = {f: int(v) for (s, f), v in got.items() if s == "Professional group"}
    assert {f: n for f, n in shown_groups.items() if n} == groups
    median = statistics.median(acknowledged)
    assert float(got[("Handling (for handlers; not part of the return)",
                           "Median days to acknowledge")]) == median
