"""A survey's group (demographic) questions typed in Welsh: checked like the English,
stored with the other Welsh texts, shown on the Welsh answering page (typed Welsh, else the
catalogue's, else the English), and counted with the English answers by option id."""

from __future__ import annotations

import pytest
from conftest import csrf_token_from, post_form
from surveys_testlib import (
    SPEC,
    make_survey,
    open_round_now,
    opened,
    page_text,
    problems_of,
    tokens_for,
)

from surveys import admin_services
from surveys.admin_services import (
    MAX_LABEL,
    MAX_OPTION_LABEL,
    check_spec,
    export_spec,
)
from surveys.answer_views import PAGE_CACHE, QUESTIONS_CACHE
from surveys.models import Survey

TEAM_CY = {"label": "Ym mha dîm ydych chi’n gweithio?",
           "options": {"nursing": "Nyrsio", "estates": "Ystadau"}}
# The catalogue's Welsh for the default ethnicity question (no Welsh typed for it).
ETHNICITY_CATALOGUE_CY = "Â pha grŵp ethnig ydych chi’n uniaethu?"
GLOBAL_MAJORITY_CY = "Mwyafrif Byd-eang"


def welsh(**groups):  # type: ignore[no-untyped-def]
    return {"cy": {"title": "Gwiriad curiad", "demographics": groups}}




# --- checking the definition ---------------------------------------------------------


def test_welsh_group_texts_are_kept_tidied_and_exported_back(session, clock, settings):
    raw = {**SPEC, "translations": welsh(team={
        "label": "  " + TEAM_CY["label"], "options": {"nursing": " Nyrsio\n", "estates": None}})}
    checked = check_spec(raw, settings)
    assert checked.texts_by_language == {"cy": {"title": "Gwiriad curiad", "demographics": {
        "team": {"label": TEAM_CY["label"], "options": {"nursing": "Nyrsio"}}}}}
    # The English is as typed; answers are stored by the same option ids.
    team = next(q for q in checked.demographics if q["id"] == "team")
    assert team["label"] == "Which team?"
    assert [o["id"] for o in team["options"]] == ["nursing", "estates"]
    survey = make_survey(session, clock, settings, translations=welsh(team=TEAM_CY))
    session.commit()
    session.expire_all()
    exported = export_spec(session.get(Survey, survey.id))
    assert exported["translations"]["cy"]["demographics"] == {"team": TEAM_CY}
    assert check_spec(exported, settings).texts_by_language == {
        "cy": {"title": "Gwiriad curiad", "demographics": {"team": TEAM_CY}}}


def test_unknown_questions_and_options_and_too_long_labels_are_refused_clearly(settings):
    problems = problems_of({**SPEC, "translations": welsh(
        religion={"label": "Crefydd?"},
        team={"label": "x" * (MAX_LABEL + 1), "hint": "Awgrym",
              "options": {"nursing": "y" * (MAX_OPTION_LABEL + 1), "finance": "Cyllid",
                          "estates": 3}, "short_label": "Tîm"},
    )}, settings)
    where = "translations.cy.demographics"
    assert problems == {
        f"{where}.religion": "The survey asks no group question “religion” (its questions: "
                             "ethnicity, team).",
        f"{where}.team": "Unknown field(s): short_label.",
        f"{where}.team.label": f"This is {MAX_LABEL + 1} characters long; the limit is "
                               f"{MAX_LABEL}.",
        f"{where}.team.hint": "The question has no hint in the first language: type it there "
                              "too, or leave this out.",
        f"{where}.team.options.nursing": f"This is {MAX_OPTION_LABEL + 1} characters long; "
                                         f"the limit is {MAX_OPTION_LABEL}.",
        f"{where}.team.options.finance": "The question “team” has no option “finance” (its "
                                         "options: nursing, estates).",
        f"{where}.team.options.estates": "This must be text.",
    }
    assert problems_of({**SPEC, "translations": {"cy": {"demographics": ["team"]}}},
                       settings) == {where: "List the group questions by id, e.g. team: "
                                            "{label: …, options: {finance: …}}."}


def test_a_welsh_group_label_cannot_change_while_a_round_is_open(session, clock, settings):
    survey = make_survey(session, clock, settings, translations=welsh(team=TEAM_CY))
    open_round_now(session, clock, survey, settings)
    reworded = check_spec({**SPEC, "translations": welsh(
        team={**TEAM_CY, "options": {"nursing": "Nyrsys"}})}, settings, now=clock.now())
    with pytest.raises(admin_services.SurveyLockedError):
        admin_services.update_survey(session, clock, survey, reworded, actor="t")


# --- the answering page -------------------------------------------------------------------


def _survey_and_tokens(session, clock, settings, n, **overrides):  # type: ignore[no-untyped-def]
    survey = make_survey(session, clock, settings, [f"p{i}@example.org" for i in range(n)],
                         **overrides)
    round_ = open_round_now(session, clock, survey, settings)
    tokens = tokens_for(session, settings, round_, n)
    session.commit()
    return survey, round_, tokens


def test_the_welsh_page_shows_the_typed_welsh_and_the_catalogues_welsh_the_english_english(
        client, session, clock, settings):
    _survey, _round, (welsh_token, english_token) = _survey_and_tokens(
        session, clock, settings, 2,
        translations=welsh(team={**TEAM_CY, "options": {"nursing": "Nyrsio"}}))
    page = client.get(f"/s/{welsh_token}?lang=cy").get_data(as_text=True)
    text = page_text(page)
    assert TEAM_CY["label"] in text and "Nyrsio" in text
    assert "Which team?" not in text and "Nursing" not in text
    # An option not typed in Welsh is shown as typed; the values posted are the ids.
    assert "Estates" in text
    assert 'value="nursing"' in page and 'value="estates"' in page
    # The default question, with no Welsh typed, is the catalogue's Welsh.
    assert ETHNICITY_CATALOGUE_CY in text and GLOBAL_MAJORITY_CY in text
    assert "Which ethnicity group" not in text
    english = page_text(client.get(f"/s/{english_token}?lang=en").get_data(as_text=True))
    assert "Which team?" in english and "Nursing" in english and "Estates" in english
    assert "Which ethnicity group do you identify with?" in english
    assert "Global Majority" in english
    assert TEAM_CY["label"] not in english and "Nyrsio" not in english
    assert GLOBAL_MAJORITY_CY not in english


def test_a_welsh_and_an_english_answer_count_in_the_same_group(client, session, clock,
                                                                 settings):
    _survey, round_, (welsh_token, english_token) = _survey_and_tokens(
        session, clock, settings, 2, translations=welsh(team=TEAM_CY))
    for token, language in ((welsh_token, "cy"), (english_token, "en")):
        response = post_form(client, f"/s/{token}?lang={language}", {
            "item-psafe_1": "3", "group-team": "nursing", "group-ethnicity": "white",
            "send_anyway": "1"})
        assert response.status_code == 302, response.get_data(as_text=True)
    groups = [r.groups for r in opened(session, settings, round_)]
    assert groups == [{"team": "nursing", "ethnicity": "white"}] * 2


def test_the_caches_give_each_language_its_own_group_labels(app, client, session, clock,
                                                            settings):
    survey, _round, (welsh_token, english_token) = _survey_and_tokens(
        session, clock, settings, 2, translations=welsh(team=TEAM_CY))
    app.extensions.pop(PAGE_CACHE, None)
    app.extensions.pop(QUESTIONS_CACHE, None)
    for _ in range(2):  # the second time from the whole-page cache
        cy = page_text(client.get(f"/s/{welsh_token}?lang=cy").get_data(as_text=True))
        en = page_text(client.get(f"/s/{english_token}?lang=en").get_data(as_text=True))
        assert "Nyrsio" in cy and "Nursing" not in cy
        assert "Nursing" in en and "Nyrsio" not in en
    # The questions' block alone (the whole page not kept): each language its own.
    app.extensions.pop(PAGE_CACHE, None)
    assert "Nursing" in page_text(client.get(f"/s/{english_token}?lang=en").get_data(
        as_text=True))
    # An edited Welsh option is a new block, not the kept one.
    survey.texts_by_language = welsh(team={**TEAM_CY, "options": {"nursing": "Nyrsys"}})
    session.commit()
    app.extensions.pop(PAGE_CACHE, None)
    cy = page_text(client.get(f"/s/{welsh_token}?lang=cy").get_data(as_text=True))
    assert "Nyrsys" in cy and "Nyrsio" not in cy
    # And so is it with the whole-page cache in use.
    survey.texts_by_language = welsh(team={**TEAM_CY, "options": {"nursing": "Nyrsio eto"}})
    session.commit()
    assert "Nyrsio eto" in page_text(client.get(f"/s/{welsh_token}?lang=cy").get_data(
        as_text=True))


# --- the edit form ------------------------------------------------------------------------


def test_the_edit_form_keeps_the_welsh_group_texts_of_what_is_still_asked(
        client, session, clock, settings, login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings, translations=welsh(team=TEAM_CY))
    session.commit()
    url = f"/admin/surveys/{survey.id}/edit"
    form_page = client.get(url).get_data(as_text=True)
    saved = client.post(url, data={
        "csrf_token": csrf_token_from(form_page), "title": "Pulse check", "sector": "general",
        "items": ["psafe_1"], "schedule": "weekly, Monday 09:00",
        "timezone": "Europe/London", "open_days": "3", "min_group_size": "3",
        "protection": "suppress", "active": "y", "save": "1", "title_cy": "Gwiriad curiad",
        "ask_ethnicity": "y", "ethnicity_options": "Global Majority\nWhite",
        "ask_team": "y", "team_options": "Nursing",  # Estates is no longer asked
    })
    assert saved.status_code == 302, page_text(saved.get_data(as_text=True))
    session.expire_all()
    assert session.get(Survey, survey.id).texts_by_language == {"cy": {
        "title": "Gwiriad curiad",
        "demographics": {"team": {"label": TEAM_CY["label"],
                                  "options": {"nursing": "Nyrsio"}}}}}
