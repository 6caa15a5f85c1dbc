"""Fixtures for the review tests: surveys published through the real publisher."""

from __future__ import annotations

import random

import pytest
from review_support import TRICKY, crafted_people
from sqlalchemy.orm import Session

from review import demo
from speakup.clock import FrozenClock
from speakup.settings import Settings
from surveys.published import PublishedRound


@pytest.fixture
def published_survey(
    session: Session, settings: Settings, clock: FrozenClock
) -> list[PublishedRound]:
    """Three published monthly rounds of the demo survey (small, so tests stay fast)."""
    rng = random.Random(7)
    survey = demo.create_demo_survey(session, settings, clock.today())
    rounds = demo.publish_synthetic_rounds(
        session, settings, survey, clock.today(), [70, 90, 110], rng
    )
    session.commit()
    return rounds


@pytest.fixture
def tricky_round(session: Session, settings: Settings, clock: FrozenClock) -> PublishedRound:
    """One published round whose groups invite recovering a hidden cell by subtraction."""
    survey = demo.create_demo_survey(session, settings, clock.today(), title="Tricky")
    size = sum(n for n, _ in TRICKY)
    (published,) = demo.publish_synthetic_rounds(
        session, settings, survey, clock.today(), [size], random.Random(1),
        people=crafted_people(TRICKY),
    )  # fmt: skip
    session.commit()
    return published


