"""Printed invitation slips: single-use codes for staff without a work inbox.

A slip is an invitation whose token is a short code (surveys/slip_codes.py) printed
on paper instead of e-mailed. It is exactly as unlinkable as an e-mail link:

* the server stores only each code's keyed hash, in the same `token_hashes` table as
  e-mail tokens (round and used flag, nothing else), all of a print run inserted at
  once in shuffled order (invitations.issue_tokens);
* the PDF holding the codes is made in memory for one download and never stored;
* the round keeps only counts: `invited_count` (everyone invited, so slips count in
  the audience and the response rate) and `slips_printed`;
* the team or site names an admin types to split the slips into piles are not
  stored anywhere: the audience model records no team for e-mail invitations either
  (team is a question respondents answer for themselves), so slips do not either.
  The names head the pages of each pile and are forgotten with the PDF.

Wrong codes are counted in one global bucket, per keyed hash of a minute (the shared
speakup/ratelimit.py): nothing about who typed them is read or kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import update
from sqlalchemy.orm import Session

from speakup import audit, ratelimit
from speakup.clock import Clock
from speakup.db import begin_writing
from speakup.settings import Settings
from speakup.translatable import N_
from surveys.invitations import store_token_hashes
from surveys.models import Round, RoundStatus
from surveys.responses import Invitation, LinkState, look_up
from surveys.slip_codes import new_code
from surveys.slip_pdf import Pile

# In one PDF (250 pages): about 15 s of CPU (bench/slips.py), well inside a web request's
# time limit (gunicorn.conf.py: 60 s) even on a busy server. Print more as several PDFs.
MAX_SLIPS = 2000
MAX_PILES = 200
MAX_PILE_NAME = 80
# Wrong codes a minute, all visitors together. A code has 79 bits (slip_codes.py), so
# this is not what stops guessing; it keeps a flood of guesses from costing look-ups.
WRONG_CODES_PER_MINUTE = 30
WRONG_CODE_BUCKET = "survey-code-miss"
_LIMIT_KEY_INFO = b"speakup/surveys/slip-code-rate-limit/v1"
# "23", or "Ward 5: 12": a name needs its colon, so "Ward 5" is not read as 5 slips.
_LINE = re.compile(r"(?:(?P<name>[^:]*):)?\s*(?P<count>[0-9]+)\s*")


class SlipError(ValueError):
    """The slips cannot be printed as asked; nothing was stored.

    `messages` are catalogue texts with their values, for the page to translate;
    `problems` the same in English.
    """

    def __init__(self, messages: list[tuple[str, dict[str, object]]]) -> None:
        self.messages = messages
        self.problems = [text % values if values else text for text, values in messages]
        super().__init__("; ".join(self.problems))


NOT_A_LINE = N_("Line %(line)s: “%(text)s” is not a number of slips, nor a name, a colon and "
                "a number (for example “Ward 5: 12”).")
AT_LEAST_ONE = N_("Line %(line)s: print at least 1 slip, or leave the line out.")
NAME_TOO_LONG = N_("Line %(line)s: the name is longer than %(max)s characters.")
LISTED_TWICE = N_("Line %(line)s: “%(name)s” is listed twice.")
NOTHING_TYPED = N_("Type how many slips to print: a number, or one line per team or site such "
                   "as “Ward 5: 12”.")
TOO_MANY_PILES = N_("List at most %(max)s teams or sites.")
TOO_MANY_SLIPS = N_("That is %(total)s slips; print at most %(max)s at a time.")
NOT_OPEN = N_("Slips can be printed only while the round is open.")
CLOSED_MEANWHILE = N_("The round closed meanwhile: no slips were printed.")


class TooManyWrongCodes(Exception):
    """The minute's wrong codes are used up; `wait` seconds until the next window."""

    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


@dataclass(frozen=True)
class PileRequest:
    name: str  # "" when the admin typed just a number
    count: int


def code_limit_key(settings: Settings) -> bytes:
    """The key naming the wrong-code windows (HKDF-SHA256 from the server secret)."""
    secret = settings.resolved_secret_key().encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=_LIMIT_KEY_INFO).derive(secret)


def parse_piles(text: str) -> list[PileRequest]:
    """Read one pile a line ("Ward 5: 12", or just "23"); raise SlipError."""
    piles: list[PileRequest] = []
    problems: list[tuple[str, dict[str, object]]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            problems.append((NOT_A_LINE, {"line": number, "text": line.strip()[:40]}))
            continue
        name = (match["name"] or "").strip()
        count = int(match["count"])
        if count < 1:
            problems.append((AT_LEAST_ONE, {"line": number}))
        if len(name) > MAX_PILE_NAME:
            problems.append((NAME_TOO_LONG, {"line": number, "max": MAX_PILE_NAME}))
        if name and name.casefold() in seen:
            problems.append((LISTED_TWICE, {"line": number, "name": name}))
        seen.add(name.casefold())
        piles.append(PileRequest(name, count))
    total = sum(p.count for p in piles)
    if not piles and not problems:
        problems.append((NOTHING_TYPED, {}))
    if len(piles) > MAX_PILES:
        problems.append((TOO_MANY_PILES, {"max": MAX_PILES}))
    if total > MAX_SLIPS:
        problems.append((TOO_MANY_SLIPS, {"total": f"{total:,}", "max": f"{MAX_SLIPS:,}"}))
    if problems:
        raise SlipError(problems)
    return piles


def new_piles(piles: list[PileRequest]) -> list[Pile]:
    """Make one fresh code per slip, in memory: nothing is stored until `record_slips`."""
    return [Pile(p.name, [new_code() for _ in range(p.count)]) for p in piles]


def check_printable(round_: Round) -> None:
    """Raise SlipError unless the round is open (a code for any other would say "closed")."""
    if round_.status != RoundStatus.OPEN:
        raise SlipError([(NOT_OPEN, {})])


def record_slips(session: Session, clock: Clock, round_: Round, piles: list[Pile],
                 key: bytes, *, actor: str) -> int:
    """Store only the codes' keyed hashes and count the slips in the round's audience.

    Called once the PDF exists, so the write is short (SQLite's write lock is not held
    while the PDF is made). The hashes of all piles are inserted together in shuffled
    order, so neither order nor pile survives. Never commits; returns the slips counted.
    """
    codes = [code for pile in piles for code in pile.codes]
    counted = session.execute(
        update(Round)
        .where(Round.id == round_.id, Round.status == RoundStatus.OPEN.value)
        .values(invited_count=Round.invited_count + len(codes),
                slips_printed=Round.slips_printed + len(codes))
        .execution_options(synchronize_session=False)
    ).rowcount
    if counted != 1:
        raise SlipError([(CLOSED_MEANWHILE, {})])
    store_token_hashes(session, round_.id, codes, key)
    audit.record(session, clock, actor=actor, action="survey.round.slips",
                 subject=f"round {round_.id}",
                 detail={"survey": round_.survey_id, "slips": len(codes)})
    return len(codes)


def look_up_code(session: Session, key: bytes, limit_key: bytes, code: str, clock: Clock,
                 *, lock: bool = False) -> Invitation:
    """Look a canonical slip code up, refusing once the minute's wrong codes are used up.

    A wrong code is counted in the caller's transaction; the caller commits it.
    """
    now = clock.now()
    if ratelimit.is_full(session, WRONG_CODE_BUCKET, WRONG_CODES_PER_MINUTE, now, limit_key):
        raise TooManyWrongCodes(ratelimit.seconds_to_next_window(now))
    invitation = look_up(session, key, code, lock=lock)
    if invitation.state is LinkState.UNKNOWN:
        begin_writing(session)  # a GET's session only reads until told otherwise
        ratelimit.count_one(session, WRONG_CODE_BUCKET, WRONG_CODES_PER_MINUTE, now, limit_key)
    return invitation
