"""Printed invitation slips: codes, storage, counts, the PDF, /code and its rate limit."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pikepdf
import pytest
import zxingcpp
from conftest import csrf_token_from, post_form
from sqlalchemy import inspect, select
from surveys_testlib import every_row, make_survey, open_round_now, row_text

from speakup.db import Base
from speakup.models import AuditEntry, RateLimitWindow
from surveys import rounds, slip_pdf, slips
from surveys.invitations import hash_token, token_key
from surveys.models import Response, Round, Survey, TokenHash
from surveys.responses import Submission, submit_response
from surveys.slip_codes import (
    CODE_ALPHABET,
    CODE_SYMBOLS,
    is_canonical_code,
    new_code,
    normalise_code,
)
from surveys.slip_pdf import SLIPS_PER_PAGE, Pile, SlipText, page_count, slips_pdf
from surveys.slip_views import slip_text

BASE = "http://127.0.0.1:5000"  # the settings fixture's base URL
PROMISE = ("The PDF is made once, for this download only. It is not saved on the server, and "
           "no list of the codes is kept")


# --- helpers ------------------------------------------------------------------------


def qr_urls(body: bytes) -> list[list[str]]:
    """The URL of every QR code in the PDF, page by page (decoded from its images)."""
    pages = []
    with pikepdf.open(io.BytesIO(body)) as pdf:
        for page in pdf.pages:
            urls = []
            for raw in page.get_images().values():
                image = pikepdf.PdfImage(raw).as_pil_image()
                urls.extend(r.text for r in zxingcpp.read_barcodes(image))
            pages.append(urls)
    return pages


def codes_in(body: bytes) -> list[str]:
    urls = [url for page in qr_urls(body) for url in page]
    assert all(url.startswith(f"{BASE}/s/") for url in urls), urls
    return [url.removeprefix(f"{BASE}/s/") for url in urls]


def print_slips(client, round_id: int, piles: str):  # type: ignore[no-untyped-def]
    """Type the numbers, check them, then press the download button, as an admin does."""
    url = f"/admin/surveys/rounds/{round_id}/slips"
    check = post_form(client, url, {"piles": piles})
    assert check.status_code == 200, check.get_data(as_text=True)
    page = check.get_data(as_text=True)
    assert PROMISE in page  # said before the button is pressed
    return client.post(url, data={"csrf_token": csrf_token_from(page), "piles": piles,
                                  "confirmed": "yes"})


def sign_out(client) -> None:  # type: ignore[no-untyped-def]
    home = client.get("/staff").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token_from(home)}).status_code == 302


@pytest.fixture
def open_round(session, clock, settings):  # type: ignore[no-untyped-def]
    survey = make_survey(session, clock, settings, [f"p{i}@example.org" for i in range(4)])
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()
    return round_


def text(k: int = 5) -> SlipText:
    return SlipText(
        title="Pulse check", closes="Open until 17:00 on Friday 11 December 2026",
        scan="Scan the square, or go to", code_page="example.org/code",
        type_code="and type this code:", anonymity=f"Anonymous; groups of {k} or more.",
        results="Results: example.org/results",
        pile_heading=lambda name, n, page, pages: f"{name}: {n} slips, page {page} of {pages}")


# --- codes ----------------------------------------------------------------------------


def test_the_code_alphabet_has_no_look_alikes_and_codes_carry_at_least_60_bits():
    assert len(set(CODE_ALPHABET)) == len(CODE_ALPHABET) == 31
    assert not set("0O1IL") & set(CODE_ALPHABET)
    assert CODE_SYMBOLS * math.log2(len(CODE_ALPHABET)) >= 60
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(is_canonical_code(c) and len(c) == 19 for c in codes)  # XXXX-XXXX-XXXX-XXXX
    assert set("".join(codes).replace("-", "")) == set(CODE_ALPHABET)


def test_typed_codes_are_forgiven_lower_case_spaces_and_dashes():
    code = "7KQ2-M9XD-4TRB-WZ8E"
    for typed in ("7kq2-m9xd-4trb-wz8e", "7KQ2 M9XD 4TRB WZ8E", "7kq2m9xd4trbwz8e",
                  " 7KQ2–M9XD—4TRB-WZ8E ", "7KQ2-\nM9XD-4TRB-WZ8E", "7KQ2--M9XD_4TRB-WZ8E"):
        assert normalise_code(typed) == code, typed
    for wrong in ("7KQ2-M9XD-4TRB-WZ8", "7KQ2-M9XD-4TRB-WZ8EE", "0KQ2-M9XD-4TRB-WZ8E",
                  "OKQ2-M9XD-4TRB-WZ8E", "1KQ2-M9XD-4TRB-WZ8E", "IKQ2-M9XD-4TRB-WZ8E",
                  "LKQ2-M9XD-4TRB-WZ8E", "7KQ2-M9XD-4TRB-WZ8É", "ıKQ2-M9XD-4TRB-WZ8E", "",
                  "7" * 200):
        assert normalise_code(wrong) is None, wrong


def test_pile_lines_are_read_with_clear_errors():
    assert slips.parse_piles("23") == [slips.PileRequest("", 23)]
    assert slips.parse_piles("Ward 5: 12\n\n  Estates & Facilities : 11 \n") == [
        slips.PileRequest("Ward 5", 12), slips.PileRequest("Estates & Facilities", 11)]
    with pytest.raises(slips.SlipError) as caught:
        slips.parse_piles("Ward 5\nNight porters: 0\nward 6: 3\nWard 6: 3\nA: 2001")
    problems = caught.value.problems
    assert problems[0].startswith("Line 1: “Ward 5” is not a number of slips")
    assert "Line 2: print at least 1 slip" in problems[1]
    assert "Line 4: “Ward 6” is listed twice." in problems
    assert "That is 2,007 slips; print at most 2,000 at a time." in problems
    with pytest.raises(slips.SlipError, match="Type how many slips to print"):
        slips.parse_piles(" \n")


# --- the PDF --------------------------------------------------------------------------


@pytest.mark.parametrize(("sizes", "pages"), [((23,), 3), ((8,), 1), ((1,), 1),
                                              ((12, 11), 4), ((9, 1, 16), 5)])
def test_the_pdf_has_a_page_per_8_slips_and_each_pile_starts_a_page(sizes, pages):
    piles = [Pile(f"Team {i}", [new_code() for _ in range(n)]) for i, n in enumerate(sizes)]
    body = slips_pdf(text(), piles, BASE)
    assert page_count(sizes) == pages
    per_page = [len(urls) for urls in qr_urls(body)]
    assert len(per_page) == pages
    expected = []
    for n in sizes:
        expected += [SLIPS_PER_PAGE] * (n // SLIPS_PER_PAGE) + ([n % 8] if n % 8 else [])
    assert per_page == expected
    # Every QR code holds its own slip's short link, each code once, on its pile's pages.
    chunks = [set(pile.codes[i:i + SLIPS_PER_PAGE]) for pile in piles
              for i in range(0, len(pile.codes), SLIPS_PER_PAGE)]
    assert [{u.removeprefix(f"{BASE}/s/") for u in urls} for urls in qr_urls(body)] == chunks


def test_the_pdf_does_not_say_when_it_was_made():
    body = slips_pdf(text(), [Pile("", [new_code()])], BASE)
    with pikepdf.open(io.BytesIO(body)) as pdf:
        assert str(pdf.docinfo.get("/CreationDate")) == "D:20000101000000Z"
        assert "/ModDate" not in pdf.docinfo


# --- printing through the admin pages ------------------------------------------------------


def test_slips_are_stored_only_as_keyed_hashes_and_the_pdf_nowhere(client, session, settings,
                                                                   open_round, login_as):
    login_as("admin")
    response = print_slips(client, open_round.id, "Ward 5: 12\nNight porters: 11")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data()
    codes = codes_in(body)
    assert len(codes) == len(set(codes)) == 23
    assert len(qr_urls(body)) == 4  # 12 -> 2 pages, 11 -> 2 pages

    session.expire_all()
    key = token_key(settings)
    stored = set(session.scalars(select(TokenHash.token_hash).where(
        TokenHash.round_id == open_round.id)))
    assert {hash_token(key, c) for c in codes} <= stored
    # No row anywhere holds a code (in any spelling), a pile's name or the PDF.
    rows = [row_text(row) for _, row in every_row(session)]
    for code in codes:
        for spelling in (code, code.replace("-", ""), code.lower(),
                         code.encode().hex(), code.replace("-", "").encode().hex()):
            assert not any(spelling in r for r in rows), spelling
    assert not any("Ward 5" in r or "Night porters" in r for r in rows)
    # Nothing in the instance folder (which holds the round's key file) holds the PDF or
    # a code.
    files = [p for p in Path(settings.instance_path).rglob("*") if p.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        assert b"%PDF" not in content, path
        assert not any(c.encode() in content for c in codes), path
    audited = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "survey.round.slips")).one()
    assert json.loads(audited.detail) == {"survey": open_round.survey_id, "slips": 23}


def test_slips_count_in_the_audience_and_the_response_rate(client, session, settings,
                                                          open_round, login_as):
    login_as("admin")
    codes = codes_in(print_slips(client, open_round.id, "6").get_data())
    session.expire_all()
    round_ = session.get(Round, open_round.id)
    assert (round_.invited_count, round_.slips_printed) == (10, 6)  # 4 e-mail + 6 slips
    key = token_key(settings)
    for code in codes[:3]:
        submit_response(session, key, code, Submission(answers={"psafe_1": 4}))
    session.commit()
    live = rounds.live_responses(session, round_)
    assert (live.responses, live.invited, live.rate) == (3, 10, 0.3)
    page = client.get(f"/admin/surveys/{open_round.survey_id}").get_data(as_text=True)
    assert "3 (30% of 10 invited)" in page
    assert "printed slips: 6" in page
    assert "the e-mail invitations and the printed slips together" in page


def test_no_response_column_ties_an_answer_to_a_slip_pile_or_print(client, session, settings,
                                                                  open_round, login_as):
    login_as("admin")
    codes = codes_in(print_slips(client, open_round.id, "Ward 5: 2").get_data())
    submit_response(session, token_key(settings), codes[0], Submission(answers={"psafe_1": 2}))
    session.commit()
    tables = {t.name: {c.name for c in t.columns} for t in Base.metadata.sorted_tables}
    assert tables["responses"] == {"id", "round_id", "sealed"}
    assert tables["token_hashes"] == {"token_hash", "round_id", "used"}
    columns = {c for cols in tables.values() for c in cols}
    assert not [c for c in columns if any(w in c for w in ("pile", "batch", "slip_no",
                                                              "printed_at", "team"))]
    assert [c for c in columns if "slip" in c] == ["slips_printed"]  # a count on the round
    # The response's id is random, not the code or its hash.
    saved = session.scalars(select(Response)).one()
    assert saved.id not in {c.replace("-", "") for c in codes}
    assert not {bytes.fromhex(saved.id)} & {hash_token(token_key(settings), c) for c in codes}


def test_the_confirmation_page_makes_its_promise_before_anything_is_printed(
        client, session, open_round, login_as):
    login_as("admin")
    url = f"/admin/surveys/rounds/{open_round.id}/slips"
    page = client.get(url).get_data(as_text=True)
    assert PROMISE in page
    assert "no answer can be tied to a team, a pile, a slip or the time of printing" in page
    assert "There is no individual reminder for slips" in page
    checked = post_form(client, url, {"piles": "Ward 5: 12\nEstates: 11"}).get_data(as_text=True)
    assert "23 slips on 4 A4 pages, 8 slips a page" in checked
    assert "Make and download the PDF (23 slips)" in checked
    session.expire_all()
    assert session.get(Round, open_round.id).slips_printed == 0  # nothing until the click
    bad = post_form(client, url, {"piles": "Ward 5"})
    assert bad.status_code == 400
    assert "is not a number of slips" in bad.get_data(as_text=True)


def test_slips_are_printed_only_for_an_open_round_and_only_by_admins(
        client, session, clock, settings, open_round, login_as):
    login_as("reviewer")
    assert client.get(f"/admin/surveys/rounds/{open_round.id}/slips").status_code == 403
    assert client.get(f"/admin/surveys/rounds/{open_round.id}/poster").status_code == 403
    sign_out(client)
    login_as("admin")
    rounds.close_round(session, open_round, clock, actor="test")
    session.commit()
    url = f"/admin/surveys/rounds/{open_round.id}/slips"
    assert "only while the round is open" in client.get(url).get_data(as_text=True)
    refused = client.post(url, data={"csrf_token": csrf_token_from(client.get(url).get_data(
        as_text=True)), "piles": "3", "confirmed": "yes"})
    assert refused.status_code == 400
    session.expire_all()
    assert session.get(Round, open_round.id).slips_printed == 0


def test_the_poster_is_the_reminder_and_says_so(client, open_round, login_as):
    login_as("admin")
    page = client.get(f"/admin/surveys/rounds/{open_round.id}/poster").get_data(as_text=True)
    assert "There is no individual reminder for printed slips" in page
    assert "Have you had your say? Pulse check" in page
    assert "Open until " in page
    assert f"{BASE}/code" in page
    assert "<svg" in page  # the QR code of the /code page, drawn in the page itself
    assert "If you have already answered, thank you" in page


# --- using a code ---------------------------------------------------------------------------


def test_a_code_typed_anyhow_opens_the_survey_once(client, session, open_round, login_as):
    login_as("admin")
    [code] = codes_in(print_slips(client, open_round.id, "1").get_data())
    sign_out(client)  # a slip holder has no account
    typed = code.lower().replace("-", " ")
    found = post_form(client, "/code", {"code": typed})
    assert found.status_code == 303
    assert found.headers["Location"].endswith(f"/s/{code}")
    # The short link itself forgives the same things.
    assert client.get(f"/s/{code.lower()}").status_code == 200
    form = client.get(f"/s/{code}").get_data(as_text=True)
    sent = client.post(f"/s/{code.replace('-', '')}", data={
        "csrf_token": csrf_token_from(form), "item-psafe_1": "4", "send_anyway": "1"})
    assert sent.status_code == 302
    # Used: the same page as a used e-mail link, at /s/ and at /code.
    used = client.get(f"/s/{code}")
    assert used.status_code == 409
    assert "This link has already been used" in used.get_data(as_text=True)
    again = post_form(client, "/code", {"code": code})
    assert again.status_code == 409
    assert "This link has already been used" in again.get_data(as_text=True)


def test_a_closed_rounds_code_gets_the_closed_page(client, session, clock, open_round, login_as):
    login_as("admin")
    [code] = codes_in(print_slips(client, open_round.id, "1").get_data())
    rounds.close_round(session, open_round, clock, actor="test")
    session.commit()
    closed = client.get(f"/s/{code}")
    assert closed.status_code == 410
    assert "This survey has closed" in closed.get_data(as_text=True)
    assert post_form(client, "/code", {"code": code}).status_code == 410


def test_wrong_codes_are_rate_limited_for_everyone_without_identifying_anyone(
        client, session, clock, open_round, login_as):
    login_as("admin")
    [code] = codes_in(print_slips(client, open_round.id, "1").get_data())
    wrong = [new_code() for _ in range(slips.WRONG_CODES_PER_MINUTE)]
    # Not a code at all: told so, and not counted.
    assert post_form(client, "/code", {"code": "hello"}).status_code == 400
    for guess in wrong[:-1]:
        assert client.get(f"/s/{guess}").status_code == 404
    unknown = post_form(client, "/code", {"code": wrong[-1].lower()})
    assert unknown.status_code == 404
    assert "We do not recognise this code" in unknown.get_data(as_text=True)
    # The minute's wrong codes are used up: no code is checked, not even a right one.
    for attempt in (client.get(f"/s/{code}"), post_form(client, "/code", {"code": code})):
        assert attempt.status_code == 429
        page = attempt.get_data(as_text=True)
        assert "Too many wrong codes were typed in the last minute" in page
        assert "Please try again in about 1 minute." in page
        assert 0 < int(attempt.headers["Retry-After"]) <= 60
    # E-mail links are not slowed down: their tokens are never guessed at this rate.
    assert client.get("/s/" + "A" * 32).status_code == 404
    # What is kept: one count in a window named by a keyed hash of its minute.
    rows = session.scalars(select(RateLimitWindow).where(
        RateLimitWindow.bucket == slips.WRONG_CODE_BUCKET)).all()
    assert [r.count for r in rows] == [slips.WRONG_CODES_PER_MINUTE]
    assert set(inspect(RateLimitWindow).columns.keys()) == {"bucket", "window", "count"}
    clock.advance(seconds=60)
    assert client.get(f"/s/{code}").status_code == 200


def test_the_slip_says_where_results_go_as_the_invitation_e_mail_does(
        app, session, settings, open_round):
    survey = session.get(Survey, open_round.survey_id)
    off, on = (slip_text(app.jinja_env, settings, open_round, survey, results_on=results_on)
               for results_on in (False, True))
    assert off.results == "Results go to the advisory group after the survey closes."
    assert on.results == f"Results, and what was done about them: {BASE}/results/"
    assert on.title == "Pulse check"
    assert on.closes.startswith("Open until ") and on.closes.endswith("(Europe/London time)")
    assert on.code_page == "127.0.0.1:5000/code"
    assert "anonymous" in on.anonymity and "at least 3 people" in on.anonymity
    assert on.pile_heading("Ward 5", 12, 1, 2).startswith("Ward 5: 12 slips, page 1 of 2.")


def test_without_the_dejavu_fonts_the_pdf_falls_back_to_the_core_fonts(monkeypatch):
    monkeypatch.setattr(slip_pdf, "FONT_DIRS", ())
    pile = Pile("Ward ŵ", [new_code() for _ in range(3)])
    body = slips_pdf(text(), [pile], BASE)
    assert set(codes_in(body)) == set(pile.codes)
    with pikepdf.open(io.BytesIO(body)) as pdf:
        fonts = {str(f.BaseFont) for f in pdf.pages[0].Resources.Font.values()}
    assert fonts and not any("DejaVu" in f for f in fonts)


def test_the_readme_slip_section_states_the_figures_the_code_uses():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme.split("### Printed invitation slips", 1)[1].split(
        "\n## ", 1)[0].split())
    bits = int(CODE_SYMBOLS * math.log2(len(CODE_ALPHABET)))
    for claim in (f"A4, {SLIPS_PER_PAGE} slips a page", f"{CODE_SYMBOLS} symbols in four groups",
                  f"from {len(CODE_ALPHABET)} that cannot be mistaken", f"{bits} random bits",
                  f"after {slips.WRONG_CODES_PER_MINUTE} wrong codes in a minute",
                  f"at most {slips.MAX_SLIPS:,} slips",
                  f"a fixed one ({slip_pdf.FIXED_DATE:%-d %B %Y})"):
        assert claim in section, claim
