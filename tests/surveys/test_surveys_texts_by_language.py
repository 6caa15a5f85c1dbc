"""A survey's title, intro and comment question typed in Welsh: checked like the English,
stored (migration 0022), and shown to whoever reads in Welsh — page, cache and e-mail."""

from __future__ import annotations

import pytest
from conftest import csrf_token_from, post_form
from sqlalchemy import inspect
from surveys_testlib import (
    SPEC,
    body_of,
    make_survey,
    open_round_now,
    page_text,
    problems_of,
    smtp_server,
    tokens_for,
)
from test_surveys_slips_language import pdf_text, print_in

from speakup import migrate
from speakup.db import make_engine
from speakup.mail import SmtpConfig, SmtpMailer
from speakup.settings import Settings
from surveys import admin_services, audience
from surveys.admin_services import MAX_TITLE, check_spec, export_spec
from surveys.answer_views import PAGE_CACHE
from surveys.invitations import send_pending_mail, token_key
from surveys.models import Survey
from surveys.texts import languages_with_texts, survey_text

WELSH = {"title": "Gwiriad curiad", "intro": "Ychydig o gwestiynau byr am siarad.",
         "comment_question": "Oes unrhyw beth arall yr hoffech ei ddweud wrthym?"}
ENGLISH_INTRO = "A few short questions about speaking up."
ENGLISH_COMMENT = "Is there anything else you want to tell us?"


def spec(**overrides):  # type: ignore[no-untyped-def]
    return {**SPEC, "intro": ENGLISH_INTRO, "comment_question": ENGLISH_COMMENT, **overrides}




# --- checking the definition ---------------------------------------------------------


def test_welsh_texts_are_kept_as_typed_and_exported_back(settings):
    checked = check_spec(spec(translations={"cy": {**WELSH, "intro": "  " + WELSH["intro"]}}),
                         settings)
    assert checked.texts_by_language == {"cy": WELSH}
    assert checked.title == "Pulse check" and checked.intro == ENGLISH_INTRO


def test_a_welsh_text_is_refused_like_the_english_one_with_a_clear_message(settings):
    problems = problems_of(spec(translations={"cy": {
        "title": "x" * (MAX_TITLE + 1), "intro": 7, "comment_question": "y" * 501}}), settings)
    assert problems == {
        "translations.cy.title": f"This is {MAX_TITLE + 1} characters long; the limit is "
                                 f"{MAX_TITLE}.",
        "translations.cy.intro": "This must be text.",
        "translations.cy.comment_question": "This is 501 characters long; the limit is 500.",
    }


def test_a_line_break_in_a_welsh_title_is_refused(settings):
    problems = problems_of(spec(translations={"cy": {"title": "Gwiriad\ncuriad"}}), settings)
    assert list(problems) == ["translations.cy.title"]
    assert problems["translations.cy.title"].startswith("A title is one line")


def test_a_language_the_site_does_not_offer_or_the_first_one_is_refused(settings):
    problems = problems_of(spec(translations={"fr": {"title": "Bilan"},
                                              "en": {"title": "Pulse"}}), settings)
    assert problems == {
        "translations.fr": "“fr” is not one of the other languages this site offers (cy).",
        "translations.en": "“en” is not one of the other languages this site offers (cy).",
    }
    english_only = Settings(**{**settings.__dict__, "languages": ("en",)})
    assert problems_of(spec(translations={"cy": {"title": "Gwiriad"}}), english_only) == {
        "translations.cy": "“cy” is not one of the other languages this site offers (none)."}


def test_unknown_welsh_fields_and_a_welsh_comment_without_an_english_one_are_refused(
        settings):
    problems = problems_of(spec(comment_question=None, translations={
        "cy": {"titel": "x", "comment_question": "Oes?"}}), settings)
    assert problems == {
        "translations.cy": "Unknown field(s): titel.",
        "translations.cy.comment_question": "The survey asks no comment question: type it in "
                                            "the first language too, or leave this out.",
    }


def test_the_english_fields_are_checked_as_before(settings):
    assert check_spec(spec(), settings).texts_by_language == {}
    problems = problems_of(spec(title="a\nb", translations={"cy": {"title": "Gwiriad"}}),
                           settings)
    assert list(problems) == ["title"]


# --- storing and the helper --------------------------------------------------------------


def test_stored_and_read_back_with_the_english_as_fallback(session, clock, settings):
    survey = make_survey(session, clock, settings, **spec(
        translations={"cy": {"title": WELSH["title"]}}))
    session.commit()
    session.expire_all()
    survey = session.get(Survey, survey.id)
    assert survey.texts_by_language == {"cy": {"title": WELSH["title"]}}
    assert survey_text(survey, "title", "cy") == WELSH["title"]
    assert survey_text(survey, "intro", "cy") == ENGLISH_INTRO  # not typed: English
    assert survey_text(survey, "title", "en") == "Pulse check"
    assert languages_with_texts(survey) == ["cy"]
    assert export_spec(survey)["translations"] == {"cy": {"title": WELSH["title"]}}
    assert "translations" not in export_spec(make_survey(session, clock, settings))


def test_a_welsh_comment_question_cannot_change_while_a_round_is_open_but_a_title_can(
        session, clock, settings):
    survey = make_survey(session, clock, settings, **spec(translations={"cy": WELSH}))
    open_round_now(session, clock, survey, settings)
    retitled = check_spec(spec(translations={"cy": {**WELSH, "title": "Teitl newydd"}}),
                          settings, now=clock.now())
    assert admin_services.update_survey(session, clock, survey, retitled,
                                        actor="t") == ["texts_by_language"]
    reworded = check_spec(spec(translations={"cy": {**WELSH, "comment_question": "Arall?"}}),
                          settings, now=clock.now())
    with pytest.raises(admin_services.SurveyLockedError):
        admin_services.update_survey(session, clock, survey, reworded, actor="t")


# --- the answering page -------------------------------------------------------------------


def _token(session, clock, settings, **overrides) -> str:  # type: ignore[no-untyped-def]
    survey = make_survey(session, clock, settings, ["someone@example.org"], **spec(**overrides))
    round_ = open_round_now(session, clock, survey, settings)
    [token] = tokens_for(session, settings, round_, 1)
    session.commit()
    return token


def test_the_welsh_page_shows_the_welsh_texts_and_not_the_english_title(
        client, session, clock, settings):
    token = _token(session, clock, settings, translations={"cy": WELSH})
    page = client.get(f"/s/{token}?lang=cy").get_data(as_text=True)
    assert f"<title>{WELSH['title']}" in page and f"<h1>{WELSH['title']}</h1>" in page
    text = page_text(page)
    assert WELSH["intro"] in text and WELSH["comment_question"] in text
    assert "Pulse check" not in page
    assert ENGLISH_INTRO not in text and ENGLISH_COMMENT not in text
    # The step before a partial answer is sent names the survey in Welsh too.
    partial = post_form(client, f"/s/{token}?lang=cy", {"item-psafe_1": "3"})
    assert WELSH["title"] in partial.get_data(as_text=True)
    assert "Pulse check" not in partial.get_data(as_text=True)


def test_the_welsh_page_without_welsh_texts_shows_the_english_ones(
        client, session, clock, settings):
    token = _token(session, clock, settings)
    page = page_text(client.get(f"/s/{token}?lang=cy").get_data(as_text=True))
    assert "<h1>Pulse check</h1>" in page
    assert ENGLISH_INTRO in page and ENGLISH_COMMENT in page


def test_the_page_cache_gives_each_language_its_own_texts(app, client, session, clock,
                                                          settings):
    survey = make_survey(session, clock, settings, ["a@example.org", "b@example.org"],
                         **spec(translations={"cy": WELSH}))
    round_ = open_round_now(session, clock, survey, settings)
    welsh_token, english_token = tokens_for(session, settings, round_, 2)
    session.commit()
    app.extensions.pop(PAGE_CACHE, None)
    for _ in range(2):  # the second time from the cache
        welsh = client.get(f"/s/{welsh_token}?lang=cy").get_data(as_text=True)
        english = client.get(f"/s/{english_token}?lang=en").get_data(as_text=True)
        assert f"<h1>{WELSH['title']}</h1>" in welsh and "Pulse check" not in welsh
        assert "<h1>Pulse check</h1>" in english and WELSH["title"] not in english
        assert welsh_token in welsh and english_token in english
    assert app.extensions[PAGE_CACHE]
    # An edited Welsh intro is a new page, not the kept one.
    survey.texts_by_language = {"cy": {**WELSH, "intro": "Cyflwyniad newydd."}}
    session.commit()
    assert "Cyflwyniad newydd." in client.get(f"/s/{welsh_token}?lang=cy").get_data(
        as_text=True)


# --- the e-mails -------------------------------------------------------------------------


def test_a_welsh_person_is_invited_with_the_welsh_title_an_english_one_with_the_english(
        session, session_factory, clock, settings):
    survey = make_survey(session, clock, settings, **spec(translations={"cy": WELSH}))
    audience.replace_audience(session, clock, survey, ["ana@example.org", "bo@example.org"],
                              actor="test", languages={"ana@example.org": "cy"})
    open_round_now(session, clock, survey, settings)
    session.commit()
    with smtp_server() as server:
        report = send_pending_mail(session_factory,
                                   SmtpMailer(SmtpConfig.from_url(server.url)), settings,
                                   clock, key=token_key(settings))
        assert report.error is None
        sent = {m["X-Envelope-To"]: m for m in server.messages}
    welsh, english = sent["ana@example.org"], sent["bo@example.org"]
    assert welsh["Subject"] == f"{WELSH['title']}: eich dolen arolwg bersonol"
    assert f"“{WELSH['title']}”" in body_of(welsh) or WELSH["title"] in body_of(welsh)
    assert "Pulse check" not in body_of(welsh)
    assert english["Subject"] == "Pulse check: your personal survey link"
    assert WELSH["title"] not in body_of(english)


# --- printed slips -----------------------------------------------------------------------


@pytest.mark.parametrize(("language", "titles", "absent"), [
    ("cy", [WELSH["title"]], "Pulse check"),
    ("en", ["Pulse check"], WELSH["title"]),
    ("both", [WELSH["title"], "Pulse check"], None),
])
def test_the_slips_carry_the_title_in_their_language(client, session, clock, settings,
                                                     login_as, language, titles, absent):
    survey = make_survey(session, clock, settings, ["p@example.org"],
                         **spec(translations={"cy": {"title": WELSH["title"]}}))
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()
    login_as("admin")
    _page, body = print_in(client, round_.id, "2", language)
    text = pdf_text(body)
    assert all(title in text for title in titles), text
    assert absent is None or absent not in text


# --- the admin pages ----------------------------------------------------------------------


def test_the_edit_form_offers_and_saves_the_welsh_texts_and_the_detail_page_says_so(
        client, session, clock, settings, login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings, **spec())
    session.commit()
    detail = page_text(client.get(f"/admin/surveys/{survey.id}").get_data(as_text=True))
    assert "None typed in Welsh: people reading in it see the English texts." in detail
    url = f"/admin/surveys/{survey.id}/edit"
    form_page = client.get(url).get_data(as_text=True)
    assert 'name="title_cy"' in form_page and 'name="comment_question_cy"' in form_page
    fields = {
        "csrf_token": csrf_token_from(form_page), "title": "Pulse check",
        "intro": ENGLISH_INTRO, "sector": "general", "items": ["psafe_1", "psafe_2"],
        "comment_question": ENGLISH_COMMENT, "schedule": "quarterly, first Monday 09:00",
        "timezone": "Europe/London", "open_days": "14", "min_group_size": "5",
        "protection": "suppress", "active": "y", "save": "1",
        "title_cy": "Gwiriad\u2028curiad", "intro_cy": WELSH["intro"],
    }
    refused = client.post(url, data=fields)
    assert refused.status_code == 400
    assert "A title is one line" in page_text(refused.get_data(as_text=True))
    saved = client.post(url, data={**fields, "title_cy": WELSH["title"]})
    assert saved.status_code == 302
    session.expire_all()
    assert session.get(Survey, survey.id).texts_by_language == {
        "cy": {"title": WELSH["title"], "intro": WELSH["intro"]}}
    detail = page_text(client.get(f"/admin/surveys/{survey.id}").get_data(as_text=True))
    assert "Own title, introduction or comment question in Welsh." in detail
    assert "<h1>Pulse check</h1>" in detail  # staff pages keep the first language's title


# --- migration 0022 ------------------------------------------------------------------------


def _survey_columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns("surveys")}
    finally:
        engine.dispose()


def test_migration_0022_adds_the_column_and_takes_it_away(empty_database_url):
    migrate.upgrade(empty_database_url, "0022")
    assert "texts_by_language" in _survey_columns(empty_database_url)
    migrate.downgrade(empty_database_url, "0021")
    columns = _survey_columns(empty_database_url)
    assert "texts_by_language" not in columns and "title" in columns
    migrate.upgrade(empty_database_url, "0022")
    assert "texts_by_language" in _survey_columns(empty_database_url)
