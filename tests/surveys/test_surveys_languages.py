"""Every respondent page and e-mail in Welsh: nothing of the catalogue left in English."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from babel.messages.pofile import read_po
from conftest import post_form
from surveys_testlib import (
    RecordingMailer,
    body_of,
    make_survey,
    open_round_now,
    publish_as_admin,
    tokens_for,
)

from speakup.translatable import TRANSLATIONS
from surveys import rounds
from surveys.answer_views import slips_limited
from surveys.invitations import (
    invitation_message,
    reminder_message,
    send_pending_mail,
    token_key,
)
from surveys.itembank import load_item_bank
from surveys.published import published_round
from surveys.slips import TooManyWrongCodes

PO = TRANSLATIONS / "cy" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{k\}|<[^>]+>|\n")
# Text an admin typed for the test survey: shown as typed, in any language.
TYPED_BY_ADMIN = ("Pulse check",)


def english_fragments() -> list[str]:
    """Every catalogue text in English, cut at its placeholders, long enough to mean something."""
    with PO.open("rb") as f:
        catalogue = read_po(f, locale="cy")
    fragments = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        welsh = message.string if isinstance(message.string, tuple) else (message.string,)
        if not any(w.strip() for w in welsh):
            # Staff pages' text, which may stay English for now; that every message a
            # respondent can read has its Welsh is test_languages_catalogue's check.
            continue
        assert all(w.strip() for w in welsh), f"no Welsh for {ids[0]!r}"
        for english in ids:
            fragments += [f.strip() for f in PLACEHOLDER.split(english)
                          if len(f.strip()) >= 12 and not any(f.strip() in w for w in welsh)]
    bank = load_item_bank()
    for item in bank.items.values():
        fragments.append(item.text)
        assert item.text_in("cy") != item.text
    return fragments


def text_of(page: str) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", page))


def assert_all_welsh(page: str) -> None:
    text = text_of(page)
    left = [f for f in english_fragments() if " ".join(f.split()) in text]
    assert left == [], f"left in English: {left}"


@pytest.fixture
def token(session, clock, settings):
    survey = make_survey(session, clock, settings, ["someone@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    [token] = tokens_for(session, settings, round_, 1)
    session.commit()
    return token


def welsh_pages(client, token: str) -> dict[str, str]:
    client.get("/?lang=cy")  # the choice is remembered from here on
    pages = {url: client.get(url).get_data(as_text=True) for url in (
        "/", "/privacy", "/no-such-page", f"/s/{token}", "/s/thanks", f"/s/{'x' * 32}")}
    pages["partial"] = post_form(client, f"/s/{token}", {"item-psafe_1": "3"}).get_data(
        as_text=True)
    pages["problem"] = post_form(client, f"/s/{token}", {"comment": "x" * 2001}).get_data(
        as_text=True)
    for name, data, status in (("not a code", {"code": "abc"}, 400),
                               ("unknown code", {"code": "7KQ2-M9XD-4TRB-WZ8E"}, 404)):
        response = post_form(client, "/code", data)
        assert response.status_code == status  # the form page itself, not an error page
        pages[name] = response.get_data(as_text=True)
        assert "Y cod o’ch slip" in pages[name] and "Mae problem" in pages[name]
    pages["/code"] = client.get("/code").get_data(as_text=True)
    return pages


def test_every_respondent_page_is_in_welsh(client, token):
    for url, page in welsh_pages(client, token).items():
        assert '<html lang="cy">' in page, url
        assert 'hreflang="en">English</a>' in page, url
        assert_all_welsh(page)
    answer = welsh_pages(client, token)[f"/s/{token}"]
    assert "Mae’n ddiogel mentro yn y tîm hwn." in answer  # the item, from the item bank
    assert "Cytuno’n gryf" in answer and "Diogelwch seicolegol y tîm" in answer
    # README: what an admin typed is shown as typed.
    assert all(f"<h1>{typed}</h1>" in answer for typed in TYPED_BY_ADMIN)


def test_the_same_pages_in_english_show_the_english_text(client, token):
    page = client.get(f"/s/{token}").get_data(as_text=True)
    assert "It is safe to take a risk on this team." in page
    assert '<html lang="en-GB">' in page and 'hreflang="cy">Cymraeg</a>' in page


def test_the_answer_problems_are_in_welsh(client, token):
    page = welsh_pages(client, token)["problem"]
    assert "Mae eich sylw yn 2,001 o nodau o hyd; y terfyn yw 2,000." in text_of(page)


def test_the_invitation_and_reminder_are_in_welsh(session, clock, settings):
    survey = make_survey(session, clock, settings, ["someone@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    for message in (
        invitation_message(settings, survey, round_, "a@example.org", "t" * 32, True, "cy"),
        reminder_message(settings, survey, round_, "a@example.org", True, "cy"),
    ):
        body = message.get_content()
        assert body.startswith("Helo,")
        assert_all_welsh(message["Subject"] + "\n" + body)
    invitation = invitation_message(settings, survey, round_, "a@example.org", "t" * 32,
                                    False, "cy")
    assert f"/s/{'t' * 32}?lang=cy" in invitation.get_content()
    # Dates in Welsh too, e.g. "tan 09:00, Dydd Llun 7 Rhagfyr 2026" (as CLDR writes them).
    assert re.search(r"tan \d\d:\d\d, Dydd \w+ \d+ \w+ \d{4}", invitation.get_content())


def test_answers_in_welsh_and_english_count_once_in_the_same_figure(
        client, app, session, clock, settings, login_as):
    # Given six invitations of one round: three answered in Welsh, three in English.
    survey = make_survey(session, clock, settings, ["someone@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    tokens = tokens_for(session, settings, round_, 6)
    session.commit()
    for i, token in enumerate(tokens):
        query = "?lang=cy" if i % 2 else "?lang=en"
        url = f"/s/{token}{query}"
        page = client.get(url).get_data(as_text=True)
        assert ("Mae’n ddiogel mentro" in page) == bool(i % 2)
        sent = post_form(client, url, {"item-psafe_4": "6", "send_anyway": "1"})
        assert sent.status_code == 302
    rounds.close_round(session, round_, clock)
    session.commit()
    # When the round is published …
    login_as("admin")
    publish_as_admin(client, app, round_.id)
    # … then the item has one row, counting all six answers as the same answer.
    published = published_round(session, round_.id)
    assert published is not None
    [row] = [r for r in published.items if r.id == "psafe_4"]
    assert row.overall is not None and row.overall.n == 6
    assert sum(row.overall.distribution.values()) == 6
    assert max(row.overall.distribution.values()) == 6  # all in one answer option


def test_the_thanks_page_keeps_the_language_of_the_link_without_a_cookie(client, token):
    url = f"/s/{token}?lang=cy"
    client.get(url)
    client.delete_cookie("speakup_lang")  # a browser that refuses the preference cookie
    sent = post_form(client, url, {"item-psafe_4": "6", "send_anyway": "1"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/s/thanks?lang=cy")
    client.delete_cookie("speakup_lang")
    thanks = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Diolch — mae eich atebion wedi’u cadw" in thanks


def test_the_sender_writes_in_the_organisations_first_language(session, session_factory,
                                                                settings, clock):
    # README "Languages": e-mails are in the first language of SPEAKUP_LANGUAGES.
    welsh_first = settings.with_changes(languages=("cy", "en"))
    survey = make_survey(session, clock, welsh_first, ["a@example.org", "b@example.org"])
    open_round_now(session, clock, survey, welsh_first)
    session.commit()
    mailer = RecordingMailer()
    send_pending_mail(session_factory, mailer, welsh_first, clock, key=token_key(welsh_first))
    assert len(mailer.messages) == 2
    for message in mailer.messages:
        assert message["Subject"] == "Pulse check: eich dolen arolwg bersonol"
        assert body_of(message).startswith("Helo,") and "?lang=cy" in body_of(message)
        # The last lines offer the same link in English, in English, on purpose.
        welsh, offer, english = body_of(message).partition("This survey is also in English:")
        assert offer and "?lang=en" in english
        assert_all_welsh(message["Subject"] + "\n" + welsh)


@pytest.mark.parametrize(("seconds", "words"), [
    (30, "ymhen tua 1 munud"), (90, "ymhen tua 2 funud"), (150, "ymhen tua 3 munud")])
def test_the_wrong_codes_page_is_in_welsh(app, seconds: int, words: str):
    with app.test_request_context("/code?lang=cy"):
        page, status, headers = slips_limited(TooManyWrongCodes(seconds))
    assert status == 429 and '<html lang="cy">' in page
    assert words in text_of(page)
    assert_all_welsh(page)


def test_the_wrong_codes_page_in_english_says_the_same_wait(app):
    with app.test_request_context("/code"):
        page, _status, _headers = slips_limited(TooManyWrongCodes(90))
    assert "Please try again in about 2 minutes. We do not know" in text_of(page)
