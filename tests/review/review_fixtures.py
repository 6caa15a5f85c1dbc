"""Fixtures for the review tests, loaded with ``pytest_plugins = ["review_fixtures"]``.

A tests/review/conftest.py would take the module name ``conftest`` from the root one,
which other tests import helpers from; a plugin module avoids that.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
from flask.testing import FlaskClient
from review_support import TRICKY, crafted_people
from sqlalchemy.orm import Session

from review import demo
from speakup import accounts
from speakup.clock import FrozenClock
from speakup.models import User
from speakup.settings import Settings
from surveys import admin_services, responses, rounds
from surveys.invitations import issue_tokens, token_key
from surveys.published import PublishedRound
from surveys.round_keys import RoundKeyFolder


@pytest.fixture
def published_survey(
    session: Session, settings: Settings, clock: FrozenClock
) -> list[PublishedRound]:
    """Three published monthly rounds of the demo survey (small, so tests stay fast)."""
    rng = random.Random(7)
    survey = demo.create_demo_survey(session, settings, clock)
    rounds = demo.publish_synthetic_rounds(
        session, settings, survey, clock.today(), [70, 90, 110], rng
    )
    session.commit()
    return rounds


@pytest.fixture
def tricky_round(session: Session, settings: Settings, clock: FrozenClock) -> PublishedRound:
    """One published round whose groups invite recovering a hidden cell by subtraction."""
    survey = demo.create_demo_survey(session, settings, clock, title="Tricky")
    size = sum(n for n, _ in TRICKY)
    (published,) = demo.publish_synthetic_rounds(
        session, settings, survey, clock.today(), [size], random.Random(1),
        people=crafted_people(TRICKY),
    )  # fmt: skip
    session.commit()
    return published


@pytest.fixture
def make_open_link(session: Session, clock: FrozenClock,
                   settings: Settings) -> Callable[[Sequence[str], int], str]:
    """An open round of another survey ("Pulse now"), with one unused personal link;
    each module asks for the instruments and `k` its promises are about."""

    def make(instruments: Sequence[str], k: int) -> str:
        spec = admin_services.check_spec({
            "title": "Pulse now", "instruments": list(instruments),
            "demographics": [{"id": "team", "label": "Which team?",
                              "options": ["Nursing", "Estates"]}],
            "comment_question": "", "schedule": "weekly, Monday 09:00",
            "timezone": "Europe/London", "open_days": 3, "reminder_offsets_days": [1],
            "min_group_size": k,
        }, settings, now=clock.now())
        survey = admin_services.create_survey(session, clock, spec, actor="test")
        round_ = rounds.add_round(session, survey, clock.now())
        assert rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
        [token] = issue_tokens(session, round_.id, 1, token_key(settings))
        session.commit()
        return token

    return make


@pytest.fixture
def sign_in(client: FlaskClient, session: Session, clock: FrozenClock) -> Callable[[str], User]:
    """Sign the test client in as a new account of this role, without hashing a password.

    The real sign-in is tested by the foundation (and once here, in the access tests);
    skipping Argon2 keeps these page tests fast.
    """

    def sign(role: str) -> User:
        user = User(
            email=f"{role}-{secrets.token_hex(3)}@example.org", role=role,
            password_hash="not a hash: this account cannot sign in with a password",
            session_token=secrets.token_hex(16), created_at=clock.now(),
            password_changed_at=clock.now(),
        )  # fmt: skip
        session.add(user)
        session.flush()
        token = accounts.start_session(session, clock, user)
        session.commit()
        with client.session_transaction() as browser:
            browser["_user_id"] = user.get_id()
            browser["_fresh"] = True
            browser["sid"] = token
        return user

    return sign


# --------------------------------------------------------------------------
# Several surveys, published in interleaved order (review v3)

SPEAK = [f"speak_{i}" for i in range(1, 5)]
INCL = [f"incl_{i}" for i in range(1, 10)]


def publish_by_hand(session: Session, settings: Settings, survey: object, size: int,
                    step: float, opened: dt.datetime, closed: dt.datetime,
                    published_on: dt.date, item_ids: Sequence[str]) -> PublishedRound:
    """Open a round at ``opened``, answer it, close it at ``closed``, publish it (audited)."""
    round_ = rounds.add_round(session, survey, opened)  # type: ignore[arg-type]
    rounds.open_round(session, round_, FrozenClock(opened), keys=RoundKeyFolder.of(settings),
                      actor="admin@example.org")
    key = token_key(settings)
    people = demo.synthetic_respondents(random.Random(size), size, step, item_ids=item_ids)
    for token, person in zip(issue_tokens(session, round_.id, size, key), people, strict=True):
        responses.submit_response(session, key, token, responses.Submission(
            dict(person.answers), dict(person.groups), person.comment))
    rounds.close_round(session, round_, FrozenClock(closed), actor="admin@example.org")
    moment = FrozenClock(dt.datetime.combine(published_on, dt.time(7), dt.UTC))
    published = rounds.publish(session, round_, replace(settings, raw_retention_days=0), moment,
                               actor="admin@example.org")
    session.commit()
    return published


def _utc(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(9), dt.UTC)


@pytest.fixture
def three_surveys(session: Session, settings: Settings,
                  clock: FrozenClock) -> dict[str, list[PublishedRound]]:
    """A pulse survey (three rounds), an annual inclusion survey and a one-off survey after
    an incident, published in this order: pulse, annual, pulse, pulse, incident.

    The incident round opened before the pulse's third round and was published on the
    same day, after it: the survey published last is the incident one.
    """
    made = {name: demo.create_demo_survey(session, settings, clock, title=title,
                                          item_ids=items, audience_size=60)
            for name, title, items in (
                ("pulse", "Quarterly pulse", [*SPEAK, "psafe_1", "psafe_2"]),
                ("annual", "Annual inclusion survey", [*SPEAK, *INCL]),
                ("incident", "After the incident", SPEAK))}
    out: dict[str, list[PublishedRound]] = {name: [] for name in made}
    for name, size, step, opened, closed, published in (
        ("pulse", 30, 0.0, "2025-10-06", "2025-10-20", "2025-10-21"),
        ("annual", 25, 1.0, "2025-10-13", "2025-11-03", "2025-11-04"),
        ("pulse", 32, 0.5, "2025-11-03", "2025-11-17", "2025-11-18"),
        ("pulse", 34, 1.0, "2026-01-05", "2026-01-19", "2026-01-26"),
        ("incident", 20, 0.0, "2025-12-01", "2026-01-25", "2026-01-26"),
    ):
        out[name].append(publish_by_hand(
            session, settings, made[name], size, step, _utc(opened), _utc(closed),
            dt.date.fromisoformat(published), SPEAK if name == "incident" else
            ([*SPEAK, "psafe_1", "psafe_2"] if name == "pulse" else [*SPEAK, *INCL])))
    return out
