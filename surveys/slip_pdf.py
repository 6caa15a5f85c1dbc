"""The printed invitation slips as one A4 PDF, made in memory and never stored.

Eight slips a page (two columns, four rows, cut along the dashed lines; six, in three
rows, for bilingual slips, whose words take twice the room), each with a
QR code of its short link, its code to type at /code, the round's name and closing
time, a sentence on anonymity and where results go. Each pile (a team or site the
admin typed a number for) starts on a new page with its name above the slips, so the
piles can be handed out; the slips themselves carry no team name and no number.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import segno

if TYPE_CHECKING:
    from fpdf import FPDF

SLIPS_PER_PAGE = 8
COLUMNS = 2
ROWS = 4
BILINGUAL_ROWS = 3
PAGE_W, PAGE_H = 210.0, 297.0  # A4, mm
TOP = 14.0  # room for the pile's name above the slips
SLIP_W = PAGE_W / COLUMNS
SLIP_H = (PAGE_H - TOP - 3.0) / ROWS  # 70 mm
PAD = 6.0
FIXED_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
QR_SIZE = 28.0
# DejaVu (Debian's fonts-dejavu-core) covers Welsh ŵ and ŷ and every Latin script;
# without it the PDF falls back to the core fonts, which hold Latin-1 only.
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
FONT_FILES = {"sans": "DejaVuSans.ttf", "sans-bold": "DejaVuSans-Bold.ttf",
              "mono": "DejaVuSansMono-Bold.ttf"}


@dataclass(frozen=True)
class SlipText:
    """Every word on a slip but its code (written in templates/surveys/slip_words.txt)."""

    title: str
    closes: str
    scan: str
    code_page: str  # the plain page's address, <base url>/code
    type_code: str
    anonymity: str
    results: str
    pile_heading: Callable[[str, int, int, int], str]  # (name, slips, page, pages)
    # Each sentence in two languages, one line of each (bilingual() makes it).
    bilingual: bool = False
    footer: str = ""  # below the QR code; empty: the anonymity and results sentences
    # Added to each slip's link, so a Welsh slip opens the Welsh page ("?lang=cy").
    link_query: str = ""

    @property
    def below_qr(self) -> str:
        return self.footer or f"{self.anonymity} {self.results}"


def bilingual(first: SlipText, second: SlipText,
              heading: Callable[[str, int, int, int], str]) -> SlipText:
    """One slip in both languages: each sentence in `first`'s, then in `second`'s.

    The title is the admin's in each language, or once when it has no other version
    (surveys/texts.py); the address is the same in both; the pile heading is for
    whoever hands the slips out, in the language they chose.
    """
    def both(a: str, b: str) -> str:
        return a if a == b else f"{a}\n{b}"

    return SlipText(
        title=first.title if first.title == second.title else f"{first.title} / {second.title}",
        closes=both(first.closes, second.closes),
        scan=both(first.scan, second.scan), code_page=first.code_page,
        type_code=both(first.type_code, second.type_code),
        anonymity=both(first.anonymity, second.anonymity),
        results=both(first.results, second.results), pile_heading=heading, bilingual=True,
        footer=f"{first.below_qr}\n{second.below_qr}")


def slips_per_page(is_bilingual: bool = False) -> int:
    return COLUMNS * (BILINGUAL_ROWS if is_bilingual else ROWS)


@dataclass(frozen=True)
class Pile:
    """A number of slips for one team or site; the name only heads its pages."""

    name: str
    codes: Sequence[str]


def page_count(pile_sizes: Iterable[int], is_bilingual: bool = False) -> int:
    """Pages the PDF will have: each pile starts on a page of its own."""
    per_page = slips_per_page(is_bilingual)
    return sum(math.ceil(n / per_page) for n in pile_sizes)


def slips_pdf(text: SlipText, piles: Sequence[Pile], base_url: str) -> bytes:
    """Lay the slips out and return the PDF's bytes (nothing is written to disk)."""
    # Imported here: fpdf2 (with fontTools) slowed every web process's start-up.
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    # A fixed date, not the time of printing: the file must not say when it was made.
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    fonts = _fonts(pdf)
    per_page = slips_per_page(text.bilingual)
    rows = per_page // COLUMNS
    slip_h = (PAGE_H - TOP - 3.0) / rows
    for pile in piles:
        pages = math.ceil(len(pile.codes) / per_page)
        for page in range(pages):
            pdf.add_page()
            _heading(pdf, fonts, text.pile_heading(pile.name, len(pile.codes), page + 1, pages))
            _cut_lines(pdf, rows, slip_h)
            chunk = pile.codes[page * per_page:(page + 1) * per_page]
            for index, code in enumerate(chunk):
                x = (index % COLUMNS) * SLIP_W
                y = TOP + (index // COLUMNS) * slip_h
                _slip(pdf, fonts, text, code, f"{base_url}/s/{code}{text.link_query}", x, y)
    return bytes(pdf.output())


@dataclass(frozen=True)
class _Fonts:
    """The fonts one PDF uses, and the sentences it has already broken into lines."""

    sans: str
    bold: tuple[str, str]
    mono: tuple[str, str]
    unicode: bool
    lines: dict[tuple[str, str, float, float], list[str]] = field(default_factory=dict)


def _fonts(pdf: FPDF) -> _Fonts:
    for folder in FONT_DIRS:
        paths = {name: folder / file for name, file in FONT_FILES.items()}
        if all(p.is_file() for p in paths.values()):
            pdf.add_font("slip-sans", "", str(paths["sans"]))
            pdf.add_font("slip-sans", "B", str(paths["sans-bold"]))
            pdf.add_font("slip-mono", "B", str(paths["mono"]))
            return _Fonts("slip-sans", ("slip-sans", "B"), ("slip-mono", "B"), True)
    return _Fonts("helvetica", ("helvetica", "B"), ("courier", "B"), False)


def _fit(fonts: _Fonts, value: str) -> str:
    """Text the core fonts can show (only without DejaVu: Latin-1, look-alikes for the rest)."""
    if fonts.unicode:
        return value
    return value.encode("latin-1", "replace").decode("latin-1")


def _heading(pdf: FPDF, fonts: _Fonts, heading: str) -> None:
    pdf.set_font(fonts.sans, size=9)
    pdf.set_xy(PAD, 4)
    pdf.cell(PAGE_W - 2 * PAD, 6, _fit(fonts, heading))


def _cut_lines(pdf: FPDF, rows: int, slip_h: float) -> None:
    pdf.set_draw_color(150)
    pdf.set_line_width(0.2)
    with pdf.local_context():
        pdf.set_dash_pattern(dash=2, gap=2)
        for row in range(rows + 1):
            pdf.line(0, TOP + row * slip_h, PAGE_W, TOP + row * slip_h)
        pdf.line(SLIP_W, TOP, SLIP_W, TOP + rows * slip_h)


def _slip(pdf: FPDF, fonts: _Fonts, text: SlipText, code: str, url: str,
          x: float, y: float) -> None:
    inner = SLIP_W - 2 * PAD
    pdf.set_text_color(0)
    pdf.set_font(*fonts.bold, size=11)
    pdf.set_xy(x + PAD, y + PAD)
    pdf.cell(inner, 5, _fit(fonts, _shorten(pdf, text.title, inner)))
    pdf.set_font(fonts.sans, size=8)
    qr_y = _lines(pdf, fonts, text.closes, x + PAD, y + PAD + 5.5, inner, 3.6) + 3.5
    # The PNG carries the code's quiet zone (4 modules), so the image sits that much out.
    pdf.image(_qr_png(url), x=x + PAD - 3, y=qr_y - 3, w=QR_SIZE + 6, h=QR_SIZE + 6)
    right = x + PAD + QR_SIZE + 4
    width = x + SLIP_W - PAD - right
    pdf.set_font(fonts.sans, size=8.5)
    below = _lines(pdf, fonts, text.scan, right, qr_y, width, 4)
    pdf.set_font(*fonts.bold, size=9)
    below = _lines(pdf, fonts, text.code_page, right, below, width, 4.5)
    pdf.set_font(fonts.sans, size=8.5)
    below = _lines(pdf, fonts, text.type_code, right, below, width, 4)
    pdf.set_font(*fonts.mono, size=12.5)
    pdf.set_xy(right, below)
    pdf.cell(width, 7, code)
    # Bilingual words can run below the QR code on the right; the footer starts below both.
    footer_y = max(qr_y + QR_SIZE + 2, below + 8)
    pdf.set_font(fonts.sans, size=7 if text.bilingual else 7.5)
    _lines(pdf, fonts, text.below_qr, x + PAD, footer_y, inner, 3.1 if text.bilingual else 3.3)


def _lines(pdf: FPDF, fonts: _Fonts, value: str, x: float, y: float, width: float,
           height: float) -> float:
    """Write `value` wrapped to `width` from (x, y); return the y below it.

    Every slip carries the same sentences: they are broken into lines once per PDF
    (fpdf2's line breaking is most of the time a page takes), then only placed.
    """
    key = (value, pdf.font_family + pdf.font_style, pdf.font_size_pt, width)
    lines = fonts.lines.get(key)
    if lines is None:
        lines = fonts.lines[key] = pdf.multi_cell(width, height, _fit(fonts, value), align="L",
                                            dry_run=True, output="LINES")
    for number, line in enumerate(lines):
        pdf.set_xy(x, y + number * height)
        pdf.cell(width, height, line)
    return y + len(lines) * height


def _shorten(pdf: FPDF, value: str, width: float) -> str:
    """The title cut with an ellipsis where it would run past the slip."""
    if pdf.get_string_width(value) <= width:
        return value
    while value and pdf.get_string_width(value + "…") > width:
        value = value[:-1]
    return value.rstrip() + "…"


def _qr_png(url: str) -> io.BytesIO:
    """The QR code as a small 1-bit PNG (4 pixels a module, its quiet zone included)."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=4, border=4)
    buffer.seek(0)
    return buffer
