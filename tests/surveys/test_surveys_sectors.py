"""Items carry sector tags: "unsafe clinical practice" is asked only in healthcare surveys."""

from __future__ import annotations

import pytest
from conftest import post_form
from sqlalchemy import select, text
from surveys_testlib import SPEC
from test_surveys_admin import FORM

from speakup import migrate
from speakup.db import make_engine
from speakup.settings import Settings
from surveys import admin_services
from surveys.itembank import load_item_bank
from surveys.models import Survey

SETTINGS = Settings(secret_key="x" * 40)
SPEAK = ["speak_1", "speak_2", "speak_3", "speak_4"]


def _spec(**fields):
    raw = {**SPEC, "instruments": [], **fields}
    return admin_services.check_spec(raw, SETTINGS)


def test_the_clinical_item_is_tagged_for_healthcare_only():
    bank = load_item_bank()
    assert bank.items["speak_1"].sectors == ("healthcare",)
    assert "unsafe clinical practice" in bank.items["speak_1"].text
    assert [i for i, item in bank.items.items() if item.sectors] == ["speak_1"]


def test_a_general_survey_gets_the_instrument_without_it_and_cannot_name_it():
    assert _spec(sector="general", instruments=["speak"]).item_ids == SPEAK[1:]
    assert _spec(sector="healthcare", instruments=["speak"]).item_ids == SPEAK
    with pytest.raises(admin_services.SurveySpecError) as caught:
        _spec(sector="general", items=["speak_1", "speak_2"])
    assert "asked only in healthcare surveys" in str(caught.value)
    with pytest.raises(admin_services.SurveySpecError) as caught:
        _spec(sector="retail", items=["speak_2"])
    assert "The sector must be one of: general, healthcare." in str(caught.value)


def test_definitions_without_a_sector_keep_what_they_ask():
    # Written before sector tags: asking the clinical item marks the survey as healthcare.
    old = _spec(items=["speak_1", "speak_2"])
    assert (old.sector, old.item_ids) == ("healthcare", ["speak_1", "speak_2"])
    assert _spec(items=["speak_2"]).sector == "general"


def test_the_form_marks_a_survey_healthcare_and_lists_the_tag(client, session, login_as):
    login_as("admin")
    page = client.get("/admin/surveys/new").get_data(as_text=True)
    assert "(healthcare surveys only)" in page and 'id="item-speak_1" checked' not in page
    refused = post_form(client, "/admin/surveys/new", {**FORM, "sector": "general",
                                                       "save": "1"})
    assert refused.status_code == 400
    assert "asked only in healthcare surveys" in refused.get_data(as_text=True)
    saved = post_form(client, "/admin/surveys/new", {**FORM, "save": "1"})
    assert saved.status_code == 302
    survey = session.scalars(select(Survey)).one()
    assert survey.sector == "healthcare" and "speak_1" in survey.item_ids
    assert admin_services.export_spec(survey)["sector"] == "healthcare"


def test_migration_0008_marks_surveys_that_ask_the_clinical_item(empty_database_url):
    url = empty_database_url
    migrate.upgrade(url, "0006")
    engine = make_engine(url)
    row = ("INSERT INTO surveys (title, intro, item_ids, demographics, schedule, timezone, "
           "open_days, reminder_offsets_days, min_group_size, active, created_on) VALUES "
           "(:title, '', :items, '[]', 'weekly, Monday 09:00', 'Europe/London', 3, '[]', 5, "
           ":active, '2026-01-05')")
    try:
        with engine.begin() as connection:
            for title, items in (("nhs", '["psafe_1", "speak_1"]'),
                                 ("office", '["speak_2", "speak_10"]')):
                connection.execute(text(row), {"title": title, "items": items, "active": True})
        engine.dispose()
        migrate.upgrade(url, "0008")
        with engine.connect() as connection:
            assert dict(connection.execute(text("SELECT title, sector FROM surveys")).all()) == {
                "nhs": "healthcare", "office": "general"}
        engine.dispose()
        migrate.downgrade(url, "0006")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM surveys")).scalar() == 2
    finally:
        engine.dispose()
