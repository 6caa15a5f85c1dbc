"""The audience of a survey: a CSV of staff e-mail addresses, checked line by line.

Nothing is silently dropped: every bad row is reported with its line number, every
duplicate with the line it repeats, and a file with any bad row saves nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import Clock
from surveys.models import AudienceMember, Survey

MAX_ADDRESS_LENGTH = 254
MAX_AUDIENCE = 200_000
HEADER_NAMES = {"email", "e-mail", "email address", "e-mail address", "mail", "address"}
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


def parse_audience_csv(data: bytes) -> AudienceFile:
    """Read a CSV of addresses: one column, or a header row naming an e-mail column."""
    result = AudienceFile()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        result.problems.append(LineProblem(
            None, "The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
        ))
        return result
    column: int | None = None
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    last_line = 0
    try:
        for row in reader:
            line = last_line + 1
            last_line = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                result.blank_lines.append(line)
                continue
            if column is None:
                named = [i for i, cell in enumerate(cells) if cell.lower() in HEADER_NAMES]
                if named:
                    column, result.header_line = named[0], line
                    continue
                column = 0
            raw = cells[column] if column < len(cells) else ""
            problem = address_problem(raw)
            if problem:
                result.problems.append(LineProblem(line, problem))
                continue
            address = normalise_address(raw)
            if address in seen:
                result.duplicates.append(Duplicate(line, address, seen[address]))
                continue
            seen[address] = line
            result.addresses.append(address)
    except csv.Error as exc:
        result.problems.append(
            LineProblem(reader.line_num or None, f"the file is not valid CSV: {exc}")
        )
    if len(result.addresses) > MAX_AUDIENCE:
        result.problems.append(LineProblem(
            None, f"The file has {len(result.addresses)} addresses; the limit is {MAX_AUDIENCE}."
        ))
    if not result.addresses and not result.problems:
        result.problems.append(LineProblem(None, "The file has no e-mail addresses."))
    return result


def replace_audience(
    session: Session, clock: Clock, survey: Survey, addresses: list[str], *, actor: str
) -> int:
    """Make these addresses the survey's whole audience (for rounds opening from now on)."""
    session.execute(delete(AudienceMember).where(AudienceMember.survey_id == survey.id))
    if addresses:
        session.execute(
            insert(AudienceMember),
            [{"survey_id": survey.id, "email": address} for address in addresses],
        )
    audit.record(
        session, clock, actor=actor, action="survey.audience.replace",
        subject=f"survey {survey.id}", detail={"addresses": len(addresses)},
    )
    return len(addresses)


def audience_size(session: Session, survey_id: int) -> int:
    return int(session.scalar(
        select(func.count()).select_from(AudienceMember)
        .where(AudienceMember.survey_id == survey_id)
    ) or 0)
