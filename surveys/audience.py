"""The audience of a survey: a spreadsheet of staff e-mail addresses, checked line by line.

A header row may also name a `language` column (`en`, `cy`: the language of that
person's invitation and reminders; blank for the organisation's default).

Nothing is silently dropped: every bad row is reported with its line number, every
duplicate with the line it repeats, and a file with any bad row saves nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import Clock
from surveys.models import AudienceMember, Survey

MAX_ADDRESS_LENGTH = 254
MAX_AUDIENCE = 200_000
# Header names compared without case, spaces or punctuation ("E-mail" -> "email"); any
# other header containing "email" ("Work email") is taken when none of these is present.
# In order of preference: a postal "Address" column loses to an "Email" column.
HEADER_KEYS = ("email", "emailaddress", "mail", "mailaddress", "emailadresse", "courriel",
               "correoelectronico", "address")
# A column of e-mail languages, by the same comparison ("Language", "iaith", "lang").
LANGUAGE_KEYS = ("language", "lang", "iaith")
AUDIENCE_LANGUAGES = ("en", "cy")
DELIMITERS = (",", ";", "\t")
MAX_XLSX_UNPACKED = 50 * 1024 * 1024
MAX_LINES_NAMED = 20
XLSX_UNREADABLE = ("The file could not be read as an Excel workbook (.xlsx). Open it in your "
                   "spreadsheet and save it as “Excel Workbook” or as CSV, then upload it again.")
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")


@dataclass(frozen=True)
class LineProblem:
    line: int | None  # None: the file as a whole
    message: str


@dataclass(frozen=True)
class Duplicate:
    line: int
    address: str
    first_line: int


@dataclass
class AudienceFile:
    """What a CSV upload holds: addresses to save, or the problems that stop it."""

    addresses: list[str] = field(default_factory=list)
    # address -> language code, for the rows whose language cell is filled in.
    languages: dict[str, str] = field(default_factory=dict)
    problems: list[LineProblem] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    blank_lines: list[int] = field(default_factory=list)
    header_line: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def address_problem(raw: str) -> str | None:
    """Say what is wrong with one address, in plain words (None if it is fine)."""
    if not raw:
        return "there is no e-mail address in this row"
    shown = raw if len(raw) <= 60 else raw[:57] + "…"
    if any(ch.isspace() for ch in raw):
        return f"“{shown}” contains a space"
    if raw.count("@") != 1:
        return f"“{shown}” must contain exactly one @"
    if len(raw) > MAX_ADDRESS_LENGTH:
        return f"the address is longer than {MAX_ADDRESS_LENGTH} characters"
    if not raw.isascii() or EMAIL_RE.fullmatch(raw) is None:
        return f"“{shown}” is not a valid e-mail address"
    return None


def normalise_address(raw: str) -> str:
    # Addresses are matched case-insensitively (as every mail system in practice does).
    return raw.strip().lower()


def _header_key(cell: str) -> str:
    # "E-mail", "Email Address", "EMAIL_ADDRESS" and "e mail" all become comparable.
    return re.sub(r"[^a-z0-9]", "", cell.lower())


def _email_column(cells: list[str]) -> int | None:
    """The column a header row names as holding e-mail addresses (None: no such column)."""
    keys = [_header_key(cell) for cell in cells]
    for name in HEADER_KEYS:
        if name in keys:
            return keys.index(name)
    for index, key in enumerate(keys):
        if "email" in key or key.endswith("mail"):
            return index
    return None


def _decode(data: bytes) -> str:
    """Read text as spreadsheets save it: UTF-8 (with or without BOM), UTF-16, or Windows-1252.

    Excel's plain "CSV" is Windows-1252 and its "Unicode text" is UTF-16 with a BOM;
    addresses are ASCII in all of them, so the fallback cannot change one.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _language_column(cells: list[str]) -> int | None:
    keys = [_header_key(cell) for cell in cells]
    return next((i for i, key in enumerate(keys) if key in LANGUAGE_KEYS), None)


def language_problem(raw: str, languages: tuple[str, ...]) -> str | None:
    """Say what is wrong with one language cell (None if it is blank or one of `languages`)."""
    if not raw or raw.lower() in languages:
        return None
    shown = raw if len(raw) <= 40 else raw[:37] + "…"
    return (f"the language “{shown}” is not one this service writes in: use "
            f"{' or '.join(languages)}, or leave it blank for the organisation's default")


def _delimiter(text: str) -> str:
    """Comma, semicolon or tab: the one a header row is split by, or the commonest."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    for candidate in DELIMITERS:
        cells = next(csv.reader([first], delimiter=candidate), [])
        if len(cells) > 1 and _email_column([c.strip() for c in cells]) is not None:
            return candidate
    counts = {candidate: first.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] else ","


def _csv_rows(data: bytes, result: AudienceFile) -> Iterator[tuple[int, list[str]]]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    last_line = 0
    try:
        for row in reader:
            line = last_line + 1
            last_line = reader.line_num
            yield line, row
    except csv.Error as exc:
        result.problems.append(
            LineProblem(reader.line_num or None, f"the file could not be read as CSV: {exc}")
        )


def _xlsx_rows(data: bytes, result: AudienceFile) -> Iterator[tuple[int, list[str]]]:
    """Rows of the first sheet of an Excel workbook, as text, numbered as Excel shows them."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        result.problems.append(LineProblem(None, XLSX_UNREADABLE))
        return
    # A small upload can unpack to gigabytes (a "zip bomb"); a staff list never needs to.
    if unpacked > MAX_XLSX_UNPACKED:
        result.problems.append(LineProblem(
            None, "The workbook is too large once unpacked. Save the list of addresses as "
                  "a CSV file and upload that instead."))
        return
    # Imported here: openpyxl is a tenth of every web process's start-up, for a rare upload.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # openpyxl warns about styles and extensions it does not read; only values matter.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, KeyError, ValueError, OSError, zipfile.BadZipFile):
        result.problems.append(LineProblem(None, XLSX_UNREADABLE))
        return
    try:
        sheet = book.worksheets[0]
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, ["" if v is None else str(v) for v in values]
    finally:
        book.close()


def parse_audience_file(data: bytes, filename: str = "",
                        languages: tuple[str, ...] = AUDIENCE_LANGUAGES) -> AudienceFile:
    """Read a list of addresses from a CSV (comma, semicolon or tab) or an Excel workbook.

    One column of addresses, or a header row naming an e-mail column (email, E-mail,
    Email Address, … in any case); when a header row names none, the problem says
    which columns it saw. A header row may name a language column too: each cell one of
    `languages`, or blank for the organisation's default.
    """
    result = AudienceFile()
    is_xlsx = filename.lower().endswith((".xlsx", ".xlsm")) or data.startswith(b"PK\x03\x04")
    rows = _xlsx_rows(data, result) if is_xlsx else _csv_rows(data, result)
    column: int | None = None
    language_column: int | None = None
    seen: dict[str, int] = {}
    for line, row in rows:
        cells = [cell.strip() for cell in row]
        if not any(cells):
            result.blank_lines.append(line)
            continue
        if column is None:
            named = _email_column(cells)
            if named is not None:
                column, result.header_line = named, line
                language_column = _language_column(cells)
                continue
            with_at = [i for i, cell in enumerate(cells) if "@" in cell]
            if not with_at:
                shown = ", ".join(f"“{c[:40]}”" for c in cells if c)
                result.problems.append(LineProblem(line, (
                    f"no column of e-mail addresses was found; the columns seen were {shown}. "
                    "Name the column of addresses “email” (or “E-mail”, “Email address”) "
                    "and upload the file again"
                )))
                break
            column = with_at[0]
        raw = cells[column] if column < len(cells) else ""
        if raw.lower().startswith("mailto:"):  # cells copied from a link
            raw = raw[len("mailto:"):]
        problem = address_problem(raw)
        language = ""
        if language_column is not None:
            language = cells[language_column] if language_column < len(cells) else ""
            problem = problem or language_problem(language, languages)
        if problem:
            result.problems.append(LineProblem(line, problem))
            continue
        address = normalise_address(raw)
        if address in seen:
            result.duplicates.append(Duplicate(line, address, seen[address]))
            continue
        seen[address] = line
        result.addresses.append(address)
        if language:
            result.languages[address] = language.lower()
    if len(result.addresses) > MAX_AUDIENCE:
        result.problems.append(LineProblem(
            None, f"The file has {len(result.addresses)} addresses; the limit is {MAX_AUDIENCE}."
        ))
    if not result.addresses and not result.problems:
        result.problems.append(LineProblem(None, "The file has no e-mail addresses."))
    return result


def problems_sentence(parsed: AudienceFile) -> str:
    """Sum the problems up in one sentence: "2 rows have problems: lines 5 and 9."."""
    lines = [p.line for p in parsed.problems if p.line is not None]
    if not lines:
        return parsed.problems[0].message if parsed.problems else ""
    shown = [str(n) for n in lines[:MAX_LINES_NAMED]]
    if len(lines) > MAX_LINES_NAMED:
        listed = ", ".join(shown) + f" and {len(lines) - MAX_LINES_NAMED} more"
    elif len(shown) > 1:
        listed = ", ".join(shown[:-1]) + " and " + shown[-1]
    else:
        listed = shown[0]
    rows = "1 row has a problem" if len(lines) == 1 else f"{len(lines)} rows have problems"
    return f"{rows}: line{'s' if len(lines) != 1 else ''} {listed}."


def replace_audience(
    session: Session, clock: Clock, survey: Survey, addresses: list[str], *, actor: str,
    languages: Mapping[str, str] | None = None,
) -> int:
    """Make these addresses the survey's whole audience (for rounds opening from now on).

    `languages` gives some addresses the language of their e-mails; the others get the
    organisation's default when the mail is sent (stored as no language).
    """
    chosen = languages or {}
    session.execute(delete(AudienceMember).where(AudienceMember.survey_id == survey.id))
    if addresses:
        session.execute(
            insert(AudienceMember),
            [{"survey_id": survey.id, "email": address, "language": chosen.get(address)}
             for address in addresses],
        )
    audit.record(
        session, clock, actor=actor, action="survey.audience.replace",
        subject=f"survey {survey.id}",
        detail={"addresses": len(addresses), "with_language": len(chosen)},
    )
    return len(addresses)


def audience_size(session: Session, survey_id: int) -> int:
    return int(session.scalar(
        select(func.count()).select_from(AudienceMember)
        .where(AudienceMember.survey_id == survey_id)
    ) or 0)
