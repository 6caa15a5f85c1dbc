"""Fixtures for the review tests, loaded with ``pytest_plugins = ["review_fixtures"]``.

A tests/review/conftest.py would take the module name ``conftest`` from the root one,
which other tests import helpers from; a plugin module avoids that.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Sequence

import pytest
from flask.testing import FlaskClient
from review_support import TRICKY, crafted_people
from sqlalchemy.orm import Session

from review import demo
from speakup import accounts
from speakup.clock import FrozenClock
from speakup.models import User
from speakup.settings import Settings
from surveys import admin_services, rounds
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
