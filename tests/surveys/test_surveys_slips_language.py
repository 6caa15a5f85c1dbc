"""Printed slips in English, in Welsh, or both on each slip; the slip pages and poster in Welsh."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import segno
from conftest import csrf_token_from, post_form
from surveys_testlib import make_survey, open_round_now
from test_surveys_languages import assert_all_welsh
from test_surveys_slips import BASE, qr_urls

from surveys.slip_pdf import PAGE_H, PAGE_W, TOP, slips_per_page

WELSH_WORDS = ("Sganiwch y sgwâr gyda chamera eich ffôn", "a theipiwch y cod hwn:",
               "Mae eich atebion yn ddienw")
ENGLISH_WORDS = ("Scan the square with your phone's camera", "and type this code:",
                 "Your answers are anonymous")


@pytest.fixture
def open_round(session, clock, settings):  # type: ignore[no-untyped-def]
    survey = make_survey(session, clock, settings, ["p@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()
    return round_


def print_in(client, round_id: int, piles: str, language: str):  # type: ignore[no-untyped-def]
    url = f"/admin/surveys/rounds/{round_id}/slips"
    check = post_form(client, url, {"piles": piles, "language": language})
    assert check.status_code == 200, check.get_data(as_text=True)
    page = check.get_data(as_text=True)
    response = client.post(url, data={"csrf_token": csrf_token_from(page), "piles": piles,
                                      "language": language, "confirmed": "yes"})
    assert response.mimetype == "application/pdf"
    return page, response.get_data()


def pdf_text(body: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=body, capture_output=True, check=True)
    return " ".join(done.stdout.decode("utf-8").split())


def test_the_print_form_offers_english_welsh_and_both(client, open_round, login_as):
    login_as("admin")
    page = client.get(f"/admin/surveys/rounds/{open_round.id}/slips").get_data(as_text=True)
    for value, label in (("en", "English"), ("cy", "Welsh (Cymraeg)"),
                         ("both", "Bilingual: every sentence in Welsh and in English")):
        assert re.search(rf'<input[^>]*type="radio"[^>]*value="{value}"', page), value
        assert label in page
    assert "<legend>Language of the slips</legend>" in page


@pytest.mark.parametrize(("language", "present", "absent"), [
    ("en", ENGLISH_WORDS, WELSH_WORDS),
    ("cy", WELSH_WORDS, ENGLISH_WORDS),
])
def test_the_slips_are_in_the_language_chosen(client, open_round, login_as, language,
                                              present, absent):
    login_as("admin")
    _page, body = print_in(client, open_round.id, "3", language)
    text = pdf_text(body)
    assert all(words in text for words in present), text
    assert not any(words in text for words in absent), text
    # A Welsh slip's square opens the Welsh page; an English one the default page.
    [urls] = qr_urls(body)
    suffix = "?lang=cy" if language == "cy" else ""
    assert len(urls) == 3 and all(re.fullmatch(rf"{re.escape(BASE)}/s/[A-Z0-9-]{{19}}"
                                               rf"{re.escape(suffix)}", u) for u in urls), urls
    if language == "cy":
        # The closing time in Welsh too ("Ar agor tan 09:00, Dydd …").
        assert re.search(r"Ar agor tan \d\d:\d\d, Dydd \w+", text), text


def test_bilingual_slips_carry_both_languages_welsh_first_six_a_page(client, open_round,
                                                                     login_as):
    login_as("admin")
    page, body = print_in(client, open_round.id, "Ward 5: 7", "both")
    assert "7 slips on 2 A4 pages, 6 slips a page." in page
    assert "Language: Bilingual" in page
    text = pdf_text(body)
    for welsh, english in zip(WELSH_WORDS, ENGLISH_WORDS, strict=True):
        assert welsh in text and english in text
        assert text.index(welsh) < text.index(english)  # Welsh first on each slip
    assert [len(urls) for urls in qr_urls(body)] == [6, 1]
    # The heading of each pile is for the admin, in the page's language.
    assert "Ward 5: 7 slips, page 1 of 2." in text


def test_every_word_of_a_bilingual_slip_stays_inside_its_slip(client, open_round, login_as):
    # With the longest sentences (Welsh and English, and the results address) every word
    # must sit inside its own slip, not run over the cut line into the next.
    login_as("admin")
    _page, body = print_in(client, open_round.id, "6", "both")
    done = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", "-", "-"], input=body,
                          capture_output=True, check=True)
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                       r'yMax="([\d.]+)">([^<]*)</word>', done.stdout.decode("utf-8"))
    assert len(words) > 100
    points_per_mm = 72 / 25.4  # pdftotext measures in points; the layout in millimetres
    slip_h = (PAGE_H - TOP - 3.0) / (slips_per_page(True) // 2)
    for x0, y0, x1, y1, word in words:
        top, bottom = float(y0) / points_per_mm, float(y1) / points_per_mm
        left, right = float(x0) / points_per_mm, float(x1) / points_per_mm
        if bottom <= TOP:
            continue  # the pile's heading, above the slips
        row = int((top - TOP) // slip_h)
        assert bottom <= TOP + (row + 1) * slip_h + 0.5, (word, bottom)
        column_edge = PAGE_W / 2
        assert right <= column_edge + 0.5 or left >= column_edge - 0.5, word


def test_the_slip_pages_and_the_poster_are_in_welsh(client, open_round, login_as):
    login_as("admin")
    url = f"/admin/surveys/rounds/{open_round.id}/slips"
    client.get(f"{url}?lang=cy")
    form = client.get(url).get_data(as_text=True)
    assert "<h1>Argraffu slipiau gwahoddiad</h1>" in form
    checked = post_form(client, url, {"piles": "Ward 5: 12\nEstates: 11", "language": "cy"})
    confirmation = checked.get_data(as_text=True)
    assert "23 slip ar 4 tudalen A4, 8 slip y dudalen. Iaith: Cymraeg." in " ".join(
        confirmation.split())
    poster = client.get(f"/admin/surveys/rounds/{open_round.id}/poster").get_data(as_text=True)
    assert "Ydych chi wedi dweud eich dweud? Pulse check" in poster
    assert "Y poster hwn yw’r unig nodyn atgoffa" in poster
    # Its square opens the Welsh code page: the poster holds that QR code's drawing.
    path = re.compile(r' d="([^"]+)"')
    welsh_qr = path.search(segno.make(f"{BASE}/code?lang=cy", error="m").svg_inline(scale=6))
    english_qr = path.search(segno.make(f"{BASE}/code", error="m").svg_inline(scale=6))
    assert welsh_qr.group(1) in poster and english_qr.group(1) not in poster
    for page in (form, confirmation, poster):
        assert '<html lang="cy">' in page
        # The catalogue's English is nowhere on the Welsh pages (the staff menu aside,
        # which another branch puts through the catalogue).
        main = page.split("<main", 1)[1].split("</main>", 1)[0]
        assert_all_welsh(main)


def test_the_readme_states_the_bilingual_layout_the_code_uses():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme.split("### Printed invitation slips", 1)[1].split(
        "\n## ", 1)[0].split())
    assert (f"every sentence in Welsh, then in English; {slips_per_page(True)} slips a page "
            f"instead of {slips_per_page(False)}") in section


def test_the_print_pages_problems_are_in_welsh(client, open_round, login_as):
    login_as("admin")
    url = f"/admin/surveys/rounds/{open_round.id}/slips"
    client.get(f"{url}?lang=cy")
    bad = post_form(client, url, {"piles": "Ward 5\nWard 6: 0\nward 6: 2"})
    page = " ".join(bad.get_data(as_text=True).split())
    assert bad.status_code == 400
    assert "Llinell 1: nid yw “Ward 5” yn nifer o slipiau" in page
    assert "Llinell 2: argraffwch 1 slip o leiaf" in page
    assert "Llinell 3: mae “ward 6” wedi’i restru ddwywaith." in page
    assert_all_welsh(page.split("<main", 1)[1].split("</main>", 1)[0])
