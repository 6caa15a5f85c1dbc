"""Request values that end up in headers or number parsers (issue 18, finding 4).

A `?quarter=` with CR/LF went into the download's Content-Disposition (a 500), and
Arabic-Indic digits passed `int()` and then broke gunicorn's header encoding (a bare 500
without the security headers); both left a `themes.export` audit row. Every digit parser
on request input is ASCII-only; a refused request writes no audit row.
"""

from __future__ import annotations

import datetime as dt

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound
from wtforms import Form

from concerns import themes
from concerns.models import Concern
from concerns.stats import parse_quarter
from review import views as review_views
from speakup.digits import parse_ascii_int
from speakup.forms import AsciiDateField, AsciiIntegerField
from speakup.headers import HeaderValueError, attachment_disposition
from speakup.models import AuditEntry

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                    "Referrer-Policy")
# Arabic-Indic, Extended Arabic-Indic, Devanagari, fullwidth and superscript digits.
UNICODE_DIGITS = ["٢٠٢٥-Q٤", "۲۰۲۵-Q۴", "२०२५-Q४", "２０２５-Q４", "2025-Q\u2074"]
BROKEN = ["2025-Q4\r\nSet-Cookie: x=1", "2025-Q4\n", "\r2025-Q4", " 2025-Q4", "2025-Q4 ",
          "2025-Q+4", "+2025-Q4", "2_025-Q4", "2025-Q04", "2025-Q4\x00", "2025-q4",
          "02025-Q4", "2025-Q5", "2025-Q0"]


def _exports(session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == themes.EXPORT_ACTION)) or 0)


@pytest.mark.parametrize("label", UNICODE_DIGITS + BROKEN)
def test_parse_quarter_takes_only_the_canonical_ascii_form(label):
    with pytest.raises(ValueError):
        parse_quarter(label)


def test_parse_quarter_reads_the_canonical_form():
    assert parse_quarter("2025-Q4") == (2025, 4)


@pytest.mark.parametrize("text", ["٣", "３", "\u00b3", " 3", "3 ", "+3", "-3", "3_0", "", "3\n",
                                  "1234567890"])
def test_digit_parser_is_ascii_only(text):
    with pytest.raises(ValueError):
        parse_ascii_int(text)


def test_digit_parser_reads_ascii_digits():
    assert parse_ascii_int("0") == 0 and parse_ascii_int("123456789") == 123456789


@pytest.mark.parametrize("name", ["a\r\nb", "a\nb", 'a"b', "a\\b", "a\x00b", "a\x7fb", "",
                                  "٣.csv", "é.csv"])
def test_attachment_header_refuses_what_a_header_cannot_carry(name):
    with pytest.raises(HeaderValueError):
        attachment_disposition(name)


def test_attachment_header_quotes_a_plain_name():
    assert attachment_disposition("speakup-themes-2025-Q4.csv") == (
        'attachment; filename="speakup-themes-2025-Q4.csv"')


@pytest.mark.parametrize("quarter", UNICODE_DIGITS + ["2025-Q4\r\nSet-Cookie: x=1",
                                                      "2025-Q4\n", " 2025-Q4"])
def test_theme_return_refuses_a_quarter_that_is_not_ascii_and_audits_nothing(
        client, session, login_as, quarter):
    login_as("handler")
    before = _exports(session)
    response = client.get("/handle/themes", query_string={"quarter": quarter})
    assert response.status_code == 400
    assert "Choose a quarter like 2026-Q3." in response.get_data(as_text=True)
    assert "Content-Disposition" not in response.headers
    for header in SECURITY_HEADERS:
        assert header in response.headers, header
    assert all(value.isascii() and "\n" not in value and "\r" not in value
               for value in response.headers.values())
    assert _exports(session) == before


def test_theme_return_names_its_download_from_the_parsed_quarter(client, session, login_as):
    login_as("handler")
    response = client.get("/handle/themes?quarter=2025-Q4")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="speakup-themes-2025-Q4.csv"')
    assert _exports(session) == 1


def test_themes_service_refuses_unicode_digits_before_auditing(session, clock):
    with pytest.raises(themes.ThemeFieldError):
        themes.export_quarter_return(session, clock, "٢٠٢٥-Q٤", actor="handler")
    assert _exports(session) == 0


def test_theme_ids_in_unicode_digits_are_refused(session, clock):
    concern_id = _concern(session)
    with pytest.raises(themes.ThemeFieldError):
        themes.set_concern_themes(session, clock, concern_id, ["١"], actor="handler")


def _concern(session) -> str:
    received = dt.date(2026, 1, 5)
    concern = Concern(id="ABCDE-12345", category_id=1, status="new", received_on=received,
                      acknowledge_by=received + dt.timedelta(days=7),
                      feedback_by=received + dt.timedelta(days=91), last_seq=1)
    session.add(concern)
    session.flush()
    return concern.id


@pytest.mark.parametrize("digit", ["\u0663", "\u06f3", "\uff13", "\u0969"])
def test_route_ids_in_unicode_digits_match_no_route(app, digit):
    urls = app.url_map.bind("localhost")
    assert urls.match("/review/rounds/3")[1] == {"round_id": 3}
    with pytest.raises(NotFound):
        urls.match(f"/review/rounds/{digit}")


def test_survey_filter_in_unicode_digits_is_not_found(app):
    # Not read as 3, and not quietly read as "no survey" either (another survey's figures).
    with app.test_request_context("/review/trends?survey=%D9%A3"), pytest.raises(NotFound):
        review_views._survey_id()
    with app.test_request_context("/review/trends"):
        assert review_views._survey_id() is None
    with app.test_request_context("/review/trends?survey=3"):
        assert review_views._survey_id() == 3


class _NumberForm(Form):
    number = AsciiIntegerField()
    day = AsciiDateField()


@pytest.mark.parametrize(("number", "day"), [("٣", "2026-01-05"), ("３", "2026-01-05"),
                                             ("3_0", "2026-01-05"), ("3", "٢٠٢٦-01-05"),
                                             ("3", "２０２６-01-05")])
def test_form_numbers_and_dates_in_unicode_digits_are_refused(number, day):
    form = _NumberForm(MultiDict({"number": number, "day": day}))
    assert not form.validate()
    assert form.errors


def test_form_numbers_and_dates_in_ascii_are_read():
    form = _NumberForm(MultiDict({"number": " -3 ", "day": "2026-01-05"}))
    assert form.validate(), form.errors
    assert (form.number.data, form.day.data) == (-3, dt.date(2026, 1, 5))
