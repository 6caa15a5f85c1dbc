"""Survey definitions: checked as a whole, every problem named; export reads back the same."""

from __future__ import annotations

import datetime as dt

import pytest
from surveys_testlib import SPEC, make_survey, open_round_now

from speakup.settings import Settings
from surveys import admin_services, rounds
from surveys.admin_services import SurveyLockedError, SurveySpecError, check_spec
from surveys.itembank import load_item_bank

SETTINGS = Settings(secret_key="x" * 40)
NOW = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def problems(raw: dict) -> dict[str, str]:
    with pytest.raises(SurveySpecError) as caught:
        check_spec(raw, SETTINGS, now=NOW)
    return dict(caught.value.problems)


def test_instruments_expand_to_their_items_in_order():
    spec = check_spec({**SPEC, "instruments": ["speak"], "items": ["psafe_1", "speak_2"]},
                      SETTINGS, now=NOW)
    assert spec.item_ids == ["speak_1", "speak_2", "speak_3", "speak_4", "psafe_1"]
    assert spec.demographics[1]["options"] == [
        {"id": "nursing", "label": "Nursing"}, {"id": "estates", "label": "Estates"}]


def test_defaults_come_from_settings():
    minimal = {"title": "T", "items": ["psafe_1"], "schedule": "monthly, first Monday 09:00"}
    spec = check_spec(minimal, SETTINGS.with_changes(min_group_size=7, timezone="Europe/Paris"),
                      now=NOW)
    assert (spec.min_group_size, spec.timezone, spec.open_days) == (7, "Europe/Paris", 14)
    assert spec.demographics == [] and spec.comment_question is None


def test_every_problem_is_reported_at_once():
    found = problems({
        **SPEC, "title": " ", "items": ["psafe_1", 7], "instruments": ["nope"],
        "min_group_size": 2, "open_days": 0, "reminder_offsets_days": "3",
        "comment_question": "x" * 501, "active": "yes", "extra": 1,
        "demographics": [
            {"id": "Ethnicity", "label": "x", "options": ["a"]},
            {"id": "team", "label": "Team", "options": [{"id": "prefer_not", "label": "No"}]},
            {"id": "site", "label": "Site", "options": ["North", "north"]},
            {"id": "site", "label": "Again", "options": ["A"]},
        ],
    })
    assert set(found) >= {"title", "items", "instruments", "min_group_size", "open_days",
                          "reminder_offsets_days", "comment_question", "active", "file",
                          "demographics[1]", "demographics[2]", "demographics[3]",
                          "demographics[4]"}
    assert "never be below 3" in found["min_group_size"]


def test_overlapping_rounds_and_impossible_reminders_are_refused():
    assert "close before the next one opens" in problems(
        {**SPEC, "schedule": "weekly, Monday 09:00", "open_days": 8})["open_days"]
    assert "inside a round" in problems({**SPEC, "reminder_offsets_days": [3]})[
        "reminder_offsets_days"]
    assert "not a time zone" in problems({**SPEC, "timezone": "Moon/Base"})["timezone"]
    assert "cron" in problems({**SPEC, "schedule": "0 9 * *"})["schedule"]


def test_export_reads_back_as_the_same_survey(session, clock, settings):
    survey = make_survey(session, clock, settings)
    exported = admin_services.export_spec(survey)
    again = check_spec(exported, settings, now=clock.now())
    assert admin_services.spec_fields(again) == {
        name: getattr(survey, name) for name in admin_services.spec_fields(again)}


def test_questions_are_locked_while_a_round_is_open_but_k_is_not(session, clock, settings):
    survey = make_survey(session, clock, settings, ["a@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    fewer = check_spec({**SPEC, "instruments": ["psafe"]}, settings, now=clock.now())
    with pytest.raises(SurveyLockedError):
        admin_services.update_survey(session, clock, survey, fewer, actor="test")
    stricter = check_spec({**SPEC, "min_group_size": 8}, settings, now=clock.now())
    assert admin_services.update_survey(session, clock, survey, stricter, actor="test") == [
        "min_group_size"]
    assert round_.min_group_size == 3  # frozen when it opened


def test_schedule_changes_replan_rounds_not_yet_open(session, clock, settings):
    survey = make_survey(session, clock, settings)
    planned = rounds.plan_survey_rounds(session, survey, clock)
    assert [r.opens_at.weekday() for r in planned] == [0, 0]
    friday = check_spec({**SPEC, "schedule": "weekly, Friday 10:00"}, settings, now=clock.now())
    admin_services.update_survey(session, clock, survey, friday, actor="test")
    replanned = rounds.plan_survey_rounds(session, survey, clock)
    assert [r.opens_at.astimezone(dt.UTC).weekday() for r in replanned] == [4, 4]


def test_team_list(session, clock):
    assert admin_services.set_teams(session, clock, [" Nursing ", "", "Estates"],
                                    actor="test") == ["Nursing", "Estates"]
    questions = admin_services.default_demographics(session)
    assert [q["id"] for q in questions] == ["ethnicity", "team"]
    assert questions[1]["options"][0] == {"id": "nursing", "label": "Nursing"}
    with pytest.raises(SurveySpecError):
        admin_services.set_teams(session, clock, ["A & B", "A B"], actor="test")
    assert admin_services.list_teams(session) == ["Nursing", "Estates"]


def test_default_form_values_offer_every_item(session, settings):
    spec = admin_services.default_spec(session, settings)
    # Every item a general survey may ask: all but the healthcare-only one.
    assert spec["sector"] == "general"
    assert spec["items"] == [i for i in load_item_bank().items if i != "speak_1"]
    assert spec["min_group_size"] == settings.min_group_size
    check_spec({**spec, "title": "Default"}, settings, now=NOW)
