"""Each person's e-mails in their language (the audience file's `language` column), the
thanks page's truth about reminders, and a language that never reaches an answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import pytest
from conftest import csrf_token_from, post_form
from sqlalchemy import select
from surveys_testlib import (
    LINK_RE,
    body_of,
    every_row,
    make_survey,
    open_round_now,
    opened,
    row_text,
    smtp_server,
    tokens_for,
)
from test_surveys_languages import assert_all_welsh

from speakup.db import Base
from speakup.mail import SmtpConfig, SmtpMailer
from surveys import audience, rounds
from surveys.invitations import issue_tokens, send_pending_mail, token_key
from surveys.models import AudienceMember, MailJob, TokenHash
from surveys.sealed_answers import OpenedResponse
from surveys.slip_codes import new_code

WELSH_SUBJECT = "Pulse check: eich dolen arolwg bersonol"
ENGLISH_SUBJECT = "Pulse check: your personal survey link"
FILE = (b"Name,Email,Language\n"
        b"Ana,ana@example.org,cy\n"
        b"Bo,bo@example.org,en\n"
        b"Cai,cai@example.org,\n"
        b"Dee,dee@example.org,CY\n")


def text_of(message) -> str:  # type: ignore[no-untyped-def]
    return body_of(message).replace("\r\n", "\n")  # SMTP sends CRLF line ends


# --- the file ----------------------------------------------------------------------------


def test_the_language_column_is_read_blank_meaning_the_default():
    parsed = audience.parse_audience_file(FILE)
    assert parsed.ok
    assert parsed.addresses == ["ana@example.org", "bo@example.org", "cai@example.org",
                                "dee@example.org"]
    assert parsed.languages == {"ana@example.org": "cy", "bo@example.org": "en",
                                "dee@example.org": "cy"}


def test_a_language_the_service_does_not_write_is_refused_by_row_and_nothing_is_lost():
    parsed = audience.parse_audience_file(
        b"email;iaith\nana@example.org;cy\nbo@example.org;fr\ncai@example.org;Welsh\n")
    assert not parsed.ok
    assert [p.line for p in parsed.problems] == [3, 4]
    assert "“fr” is not one this service writes in: use en or cy" in parsed.problems[0].message
    assert "“Welsh”" in parsed.problems[1].message
    assert audience.problems_sentence(parsed) == "2 rows have problems: lines 3 and 4."


def test_the_upload_page_stores_each_language_or_refuses_the_whole_file(
        client, session, clock, settings, login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings, ["old@example.org"])
    session.commit()
    url = f"/admin/surveys/{survey.id}/audience"
    page = client.get(url).get_data(as_text=True)
    assert "“language”" in page  # the page says the column exists

    def upload(data: bytes):  # type: ignore[no-untyped-def]
        return client.post(url, data={"csrf_token": csrf_token_from(page),
                                      "file": (io.BytesIO(data), "staff.csv")},
                           content_type="multipart/form-data")

    bad = upload(b"email,language\nana@example.org,cy\nbo@example.org,de\n")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "“de” is not one this service writes in" in html
    assert "1 row has a problem: line 3." in html
    session.expire_all()
    # Nothing from the refused file was saved: the old audience is whole.
    assert session.scalars(select(AudienceMember.email)).all() == ["old@example.org"]

    assert upload(FILE).status_code == 302
    session.expire_all()
    stored = dict(session.execute(select(AudienceMember.email, AudienceMember.language)).all())
    assert stored == {"ana@example.org": "cy", "bo@example.org": "en",
                      "cai@example.org": None, "dee@example.org": "cy"}


# --- the e-mails, through a real SMTP server ------------------------------------------------


def _send(session_factory, settings, clock, url: str) -> None:  # type: ignore[no-untyped-def]
    report = send_pending_mail(session_factory, SmtpMailer(SmtpConfig.from_url(url)), settings,
                               clock, key=token_key(settings))
    assert report.error is None


def test_each_person_gets_the_invitation_and_reminders_in_their_language(
        session, session_factory, clock, settings):
    # Given an audience with Welsh, English and blank (the default, English) languages
    survey = make_survey(session, clock, settings)
    parsed = audience.parse_audience_file(FILE)
    audience.replace_audience(session, clock, survey, parsed.addresses, actor="test",
                              languages=parsed.languages)
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()
    with smtp_server() as server:
        # When the invitations go out
        _send(session_factory, settings, clock, server.url)
        invitations = {m["X-Envelope-To"]: m for m in server.messages}
        # then the Welsh ones are in Welsh, opening the Welsh page, with the English link
        for welsh in ("ana@example.org", "dee@example.org"):
            message = invitations[welsh]
            body = text_of(message)
            assert message["Subject"] == WELSH_SUBJECT and body.startswith("Helo,")
            [token] = set(LINK_RE.findall(body))
            assert f"/s/{token}?lang=cy" in body
            assert f"This survey is also in English:\n\n    {settings.base_url}/s/{token}" \
                   f"?lang=en" in body
            assert "You are invited" not in body
        # and the English and blank ones in English, with a line in Welsh
        for english in ("bo@example.org", "cai@example.org"):
            message = invitations[english]
            body = text_of(message)
            assert message["Subject"] == ENGLISH_SUBJECT and body.startswith("Hello,")
            [token] = set(LINK_RE.findall(body))
            assert f"Mae’r arolwg hwn ar gael yn Gymraeg hefyd:\n\n    {settings.base_url}" \
                   f"/s/{token}?lang=cy" in body
            assert "Helo," not in body

        # When a reminder is due, each goes in the same person's language
        clock.set(dt.datetime.fromisoformat(round_.reminder_times[0]))
        assert rounds.queue_due_reminders(session, clock) == 4
        session.commit()
        _send(session_factory, settings, clock, server.url)
        reminders = {m["X-Envelope-To"]: m for m in server.messages[4:]}
        assert set(reminders) == set(invitations)
        for address, message in reminders.items():
            body = text_of(message)
            assert not LINK_RE.search(body)  # reminders still carry no link
            if address in ("ana@example.org", "dee@example.org"):
                assert message["Subject"] == "Nodyn atgoffa: mae Pulse check yn cau cyn bo hir"
                assert "Os ydych eisoes wedi ateb" in body
                assert "This survey is also in English: use the language link" in body
            else:
                assert message["Subject"] == "Reminder: Pulse check closes soon"
                assert "If you have already answered" in body
                assert "Mae’r arolwg hwn ar gael yn Gymraeg hefyd: defnyddiwch" in body


def test_a_language_no_longer_offered_falls_back_to_the_organisations_first(
        session, session_factory, clock, settings):
    english_only = settings.with_changes(languages=("en",))
    survey = make_survey(session, clock, english_only)
    audience.replace_audience(session, clock, survey, ["ana@example.org"], actor="test",
                              languages={"ana@example.org": "cy"})
    open_round_now(session, clock, survey, english_only)
    session.commit()
    with smtp_server() as server:
        _send(session_factory, english_only, clock, server.url)
        [message] = server.messages
    assert message["Subject"] == ENGLISH_SUBJECT
    assert "Gymraeg" not in text_of(message)  # no other language to offer


# --- nothing of the language reaches an answer -------------------------------------------


def test_the_language_never_reaches_a_response(client, session, session_factory, clock,
                                               settings):
    # Given a Welsh and an English member, each answering through their e-mailed link
    survey = make_survey(session, clock, settings)
    audience.replace_audience(session, clock, survey, ["ana@example.org", "bo@example.org"],
                              actor="test", languages={"ana@example.org": "cy",
                                                       "bo@example.org": "en"})
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()
    with smtp_server() as server:
        _send(session_factory, settings, clock, server.url)
        links = {m["X-Envelope-To"]: LINK_RE.search(body_of(m)).group(0) + (
            "?lang=cy" if "Helo," in body_of(m) else "") for m in server.messages}
    for link in links.values():
        answered = post_form(client, link, {"item-psafe_4": "6", "group-team": "nursing",
                                            "send_anyway": "1"})
        assert answered.status_code == 302
    # Then the two responses are exactly alike: nothing says which was answered in Welsh.
    tables = {t.name: {c.name for c in t.columns} for t in Base.metadata.sorted_tables}
    assert tables["responses"] == {"id", "round_id", "sealed"}
    assert tables["token_hashes"] == {"token_hash", "round_id", "used"}
    assert {f.name for f in dataclasses.fields(OpenedResponse)} == {
        "groups", "answers", "comment"}
    first, second = opened(session, settings, round_)
    assert first == second
    # The language lives only beside the address it was chosen for (the audience and the
    # mail queue), never beside a token hash.
    # (A survey's own texts in each language, surveys.texts_by_language, are the same
    # for everyone: they say nothing about who answered in which.)
    with_language = {(t, c) for t, cols in tables.items() for c in cols if "lang" in c}
    assert with_language == {("audience_members", "language"), ("mail_jobs", "language"),
                             ("surveys", "texts_by_language")}
    assert {t for t, cols in tables.items() if "language" in cols} == {
        "audience_members", "mail_jobs"}
    hashes = {bytes(h).hex() for h in session.scalars(select(TokenHash.token_hash))}
    for table, row in every_row(session):
        if table in ("audience_members", "mail_jobs"):
            assert not any(h in row_text(row) for h in hashes)
    # And the mail queue, language included, goes once nothing more will be sent.
    rounds.close_round(session, round_, clock)
    session.commit()
    assert session.scalars(select(MailJob).where(MailJob.round_id == round_.id)).all() == []


# --- the thanks page tells the truth about reminders -----------------------------------


@pytest.mark.parametrize("language", ["en", "cy"])
def test_the_thanks_page_says_who_gets_a_reminder(client, session, clock, settings, language):
    survey = make_survey(session, clock, settings, ["ana@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    [e_mailed] = tokens_for(session, settings, round_, 1)
    [slip] = issue_tokens(session, round_.id, 1, token_key(settings), make=new_code)
    session.commit()
    email_words = {"en": "You may get a reminder e-mail about this survey",
                   "cy": "Efallai y cewch e-bost i’ch atgoffa"}[language]
    slip_words = {"en": "Your printed slip has done its job: nobody will contact you",
                  "cy": "Mae eich slip wedi gwneud ei waith"}[language]
    pages = {}
    # A slip's code typed anyhow (lower case, no dashes) is still a slip.
    for kind, token in (("e-mail", e_mailed), ("slip", slip.replace("-", "").lower())):
        sent = post_form(client, f"/s/{token}?lang={language}",
                         {"item-psafe_4": "6", "send_anyway": "1"})
        assert sent.status_code == 302
        # The kind of link lives in this redirect only: nothing new is stored to know it.
        assert ("via=slip" in sent.headers["Location"]) == (kind == "slip")
        pages[kind] = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert email_words in pages["e-mail"] and slip_words not in pages["e-mail"]
    assert slip_words in pages["slip"] and email_words not in pages["slip"]
    if language == "cy":
        for page in pages.values():
            assert_all_welsh(page)
