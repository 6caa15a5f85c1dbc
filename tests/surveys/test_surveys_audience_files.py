"""Audience lists as real spreadsheets save them: delimiters, BOMs, header names, .xlsx."""

from __future__ import annotations

import codecs
import io

import openpyxl
import pytest
from conftest import csrf_token_from
from surveys_testlib import make_survey

from surveys import audience

ADDRESSES = ["ana@example.org", "bo@example.org"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("header", ["email", "E-mail", "Email Address", "EMAIL", "e-mail address",
                                    "Work email"])
def test_any_delimiter_and_header_name(delimiter, header):
    text = (f"Name{delimiter}Team{delimiter}{header}\n"
            f"Ana{delimiter}Nursing{delimiter}Ana@Example.org\n"
            f"Bo{delimiter}Estates; Facilities{delimiter}bo@example.org\n")
    # Quote the field holding the other delimiter, as spreadsheets do.
    text = text.replace(f"Estates; Facilities{delimiter}", f'"Estates; Facilities"{delimiter}')
    parsed = audience.parse_audience_file(text.encode())
    assert parsed.ok, parsed.problems
    assert parsed.addresses == ADDRESSES and parsed.header_line == 1


@pytest.mark.parametrize("encoded", [
    codecs.BOM_UTF8 + "Email;Name\nana@example.org;Zoë\nbo@example.org;Bo\n".encode(),
    "Email\tName\nana@example.org\tZoë\nbo@example.org\tBo\n".encode("utf-16"),  # "Unicode text"
    "Email,Name\nana@example.org,Zoë\nbo@example.org,Bo\n".encode("cp1252"),  # Excel's plain CSV
], ids=["utf8-bom-semicolon", "utf16-tab", "cp1252-comma"])
def test_byte_order_marks_and_excel_encodings(encoded):
    parsed = audience.parse_audience_file(encoded)
    assert parsed.ok and parsed.addresses == ADDRESSES


def test_a_postal_address_column_loses_to_the_email_column():
    parsed = audience.parse_audience_file(b"Address,E-Mail\n1 High St,ana@example.org\n")
    assert parsed.addresses == ["ana@example.org"]


def test_no_email_column_says_which_columns_were_seen():
    parsed = audience.parse_audience_file(b"Name;Department;Contact\nAna;Nursing;x\n")
    assert not parsed.ok
    assert "the columns seen were “Name”, “Department”, “Contact”" in parsed.problems[0].message


def test_problems_read_as_one_sentence():
    parsed = audience.parse_audience_file(
        b"email\nok@example.org\nbad one\nok2@example.org\nno-at.example.org\n")
    assert audience.problems_sentence(parsed) == "2 rows have problems: lines 3 and 5."
    one = audience.parse_audience_file(b"email\nbad\n")
    assert audience.problems_sentence(one) == "1 row has a problem: line 2."
    many = audience.parse_audience_file(("email\n" + "bad\n" * 23).encode())
    assert audience.problems_sentence(many).endswith("21 and 3 more.")


def _workbook(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_excel_workbook_rows_are_numbered_as_excel_shows_them():
    data = _workbook([["Staff number", "Email Address"], [101, "Ana@example.org"], [None, None],
                      [102, "bo@example.org"], [103, "not an address"]])
    parsed = audience.parse_audience_file(data, "staff.xlsx")
    assert parsed.addresses == ADDRESSES and parsed.blank_lines == [3]
    assert [(p.line, p.message) for p in parsed.problems] == [
        (5, "“not an address” contains a space")]


def test_a_broken_workbook_is_refused_in_a_sentence():
    parsed = audience.parse_audience_file(b"PK\x03\x04 not really a zip", "staff.xlsx")
    assert not parsed.ok and "could not be read as an Excel workbook" in parsed.problems[0].message


def test_excel_upload_through_the_page(client, session, clock, settings, login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings)
    session.commit()
    url = f"/admin/surveys/{survey.id}/audience"
    page = client.get(url).get_data(as_text=True)
    assert "CSV or Excel .xlsx" in page
    data = _workbook([["E-mail"], ["ana@example.org"], ["bo@example.org"], ["ana@example.org"]])
    response = client.post(url, data={"csrf_token": csrf_token_from(page),
                                      "file": (io.BytesIO(data), "Export.XLSX")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert audience.audience_size(session, survey.id) == 2
    bad = client.post(url, data={"csrf_token": csrf_token_from(page),
                                 "file": (io.BytesIO(b"Name,Team\nAna,Nursing\n"), "s.csv")},
                      content_type="multipart/form-data")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "the columns seen were “Name”, “Team”" in html
    assert audience.audience_size(session, survey.id) == 2
