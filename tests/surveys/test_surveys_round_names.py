"""Rounds are named within their survey, show when they really opened and closed."""

from __future__ import annotations

import datetime as dt

from surveys_testlib import make_survey

from surveys import rounds
from surveys.naming import round_label
from surveys.round_keys import RoundKeyFolder


def test_rounds_are_numbered_within_their_survey_and_never_collide(session, clock, settings):
    weekly = make_survey(session, clock, settings, ["a@example.org"])
    adhoc = make_survey(session, clock, settings, ["a@example.org"], title="Ad hoc",
                        schedule="monthly, first Monday 09:00")
    # Given two surveys whose rounds open on the same day (2 Mar 2026, a Monday) …
    first = rounds.add_round(session, weekly, clock.now())
    second = rounds.add_round(session, weekly, clock.now() + dt.timedelta(days=7))
    other = rounds.add_round(session, adhoc, clock.now())
    assert round_label(session, first, weekly.timezone) == "Round 1 · 2 Mar 2026"
    assert round_label(session, second, weekly.timezone) == "Round 2 · 9 Mar 2026"
    assert round_label(session, other, adhoc.timezone) == "Round 1 · 2 Mar 2026"
    # … the survey page lists its own rounds, newest first, numbered within the survey.
    assert [v.label for v in rounds.round_overviews(session, weekly)] == [
        "Round 2 · 9 Mar 2026", "Round 1 · 2 Mar 2026"]


def test_early_open_and_close_show_their_real_dates(session, clock, settings):
    survey = make_survey(session, clock, settings, ["a@example.org"])
    planned = clock.now() + dt.timedelta(days=5)  # Sat 7 Mar 2026, 09:00 London (GMT)
    round_ = rounds.add_round(session, survey, planned)
    clock.current += dt.timedelta(hours=3)  # Mon 2 Mar, 12:00
    assert rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings), actor="test")
    view = rounds.round_overviews(session, survey)[-1]
    assert view.label == "Round 1 · 2 Mar 2026"
    assert view.opens == "Mon 2 Mar 2026, 12:00"
    # Open 3 days, reminders 1 and 2 days in: all moved with the early opening.
    assert view.closes == "Thu 5 Mar 2026, 12:00"
    assert view.reminders == ["Tue 3 Mar 2026, 12:00", "Wed 4 Mar 2026, 12:00"]
    clock.current += dt.timedelta(days=1, hours=1)  # closed early, Tue 3 Mar 13:00
    assert rounds.close_round(session, round_, clock, actor="test")
    closed = rounds.round_overviews(session, survey)[-1]
    assert closed.closes == "Tue 3 Mar 2026, 13:00"
    assert closed.reminders == ["Tue 3 Mar 2026, 12:00"]  # the second never went out
    published = rounds.publish(session, round_, settings, clock)
    assert published.label == "Round 1 · 2 Mar 2026"
