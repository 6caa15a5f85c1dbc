"""The reporters' verdict: how raising this concern felt, stored without a link to it.

After a handler's first reply, and again once the concern is closed, the reporter may
answer three optional questions (`concerns.models.VERDICT_QUESTIONS`). Each answer set
is one `ConcernVerdict` row holding the quarter it was given in, the stage and the
answers — no concern id, no receipt hash, no date, a random id. So that a reporter can
change their mind, the ids of their rows are kept in `Concern.sealed_verdicts`, sealed
to the reporter's key (derived from the receipt) with `concerns.crypto.seal`: the
server learns which rows belong to a concern only while the reporter is signed in with
the receipt. Changing an answer deletes the old row (and erases it on disk) and inserts
a new one with a new id.

Residual limits, stated so nobody over-promises: someone who copies the database
before and after an answer sees one concern's sealed column change and one verdict
row appear in the same moment; a quarter with very few concerns that had a reply or
were closed narrows down whose rows they are (only aggregates of at least k answers
are ever published, see `concerns.publication`); and whether `sealed_verdicts` is set
tells that a concern's reporter answered at some point, not what.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concerns import crypto
from concerns.config import ConcernConfig
from concerns.errors import N_, TranslatableError
from concerns.models import (
    VERDICT_QUESTIONS,
    VERDICT_STAGES,
    Concern,
    ConcernVerdict,
    Status,
)
from concerns.stats import quarter_label, quarter_of
from speakup.clock import Clock
from speakup.db import request_erasure

_LINKS_AAD = b"speakup verdict links v1\x00"
_READER = "reporter"


class VerdictError(TranslatableError):
    """A verdict could not be recorded; nothing was stored."""


class VerdictNotOpenError(VerdictError):
    """The concern is not at a stage that asks for a verdict."""


class VerdictFieldError(VerdictError):
    """An answer is not one of the offered choices, or nothing was chosen."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Answers:
    speak_again: str | None = None  # a key of SPEAK_AGAIN_ANSWERS
    felt_safe: str | None = None  # a key of AGREEMENT_ANSWERS ("1".."5")
    kept_informed: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"speak_again": self.speak_again, "felt_safe": self.felt_safe,
                "kept_informed": self.kept_informed}


def current_stage(*, status: str, first_replied_on: object) -> str | None:
    """The stage whose questions the reporter may answer now, or None.

    Closed: "at closing". Open with a handler's reply: "after a reply". A concern with
    no reply yet has nothing to judge.
    """
    if status == Status.CLOSED:
        return "at_closing"
    if first_replied_on is not None:
        return "after_reply"
    return None


def parse_answers(*, speak_again: object, felt_safe: object, kept_informed: object) -> Answers:
    """Check the three answers (each optional, at least one needed)."""
    values = {"speak_again": speak_again, "felt_safe": felt_safe, "kept_informed": kept_informed}
    clean: dict[str, str | None] = {}
    for name, value in values.items():
        choices = VERDICT_QUESTIONS[name][1]
        if value in (None, ""):
            clean[name] = None
        elif isinstance(value, str) and value in choices:
            clean[name] = value
        else:
            raise VerdictFieldError(name, N_("Choose one of the answers offered."))
    if all(v is None for v in clean.values()):
        raise VerdictFieldError("speak_again",
                                N_("Choose an answer to at least one question."))
    return Answers(**clean)


def _concern(session: Session, lookup: bytes) -> Concern:
    concern = session.scalar(select(Concern).where(Concern.receipt_hash == lookup))
    if concern is None:
        raise VerdictNotOpenError(N_("We could not find your concern. Enter your receipt again."))
    return concern


def _aad(concern_id: str) -> bytes:
    return _LINKS_AAD + concern_id.encode("ascii")


def _read_links(concern: Concern, private_key: X25519PrivateKey) -> dict[str, str]:
    """The reporter's stage -> verdict row id, opened with their key."""
    blob = concern.sealed_verdicts
    if not blob:
        return {}
    wrap, ciphertext = blob[: crypto.WRAP_BYTES], blob[crypto.WRAP_BYTES :]
    plaintext = crypto.open_sealed(ciphertext, wrap, private_key, _aad(concern.id))
    links = json.loads(plaintext)
    return {stage: str(row_id) for stage, row_id in links.items() if stage in VERDICT_STAGES}


def _seal_links(concern: Concern, links: Mapping[str, str], private_key: X25519PrivateKey) -> None:
    # Sealed to the reporter alone: no handler, no recovery key can ever read the link.
    sealed = crypto.seal(json.dumps(dict(links), sort_keys=True).encode("utf-8"),
                         {_READER: private_key.public_key()}, _aad(concern.id))
    concern.sealed_verdicts = sealed.wraps[_READER] + sealed.ciphertext


def _to_row(answers: Answers) -> dict[str, object]:
    return {
        "speak_again": answers.speak_again,
        "felt_safe": None if answers.felt_safe is None else int(answers.felt_safe),
        "kept_informed": None if answers.kept_informed is None else int(answers.kept_informed),
    }


def _from_row(row: ConcernVerdict) -> Answers:
    return Answers(
        speak_again=row.speak_again,
        felt_safe=None if row.felt_safe is None else str(row.felt_safe),
        kept_informed=None if row.kept_informed is None else str(row.kept_informed),
    )


def my_verdicts(
    session: Session, lookup: bytes, private_key: X25519PrivateKey
) -> dict[str, Answers]:
    """The reporter's own answers per stage (to show them their earlier choices)."""
    concern = _concern(session, lookup)
    out = {}
    for stage, row_id in _read_links(concern, private_key).items():
        row = session.get(ConcernVerdict, row_id)
        if row is not None:
            out[stage] = _from_row(row)
    return out


def record_verdict(
    session: Session, clock: Clock, config: ConcernConfig, lookup: bytes,
    private_key: X25519PrivateKey, *, stage: object, answers: Answers,
) -> str:
    """Store the reporter's answers for the concern's current stage; return the stage.

    An earlier answer at the same stage is replaced: its row is deleted (and erased once
    the caller commits) and a new row with a new random id takes its place. Never commits.
    """
    concern = _concern(session, lookup)
    now_stage = current_stage(status=concern.status, first_replied_on=concern.first_replied_on)
    if now_stage is None or stage != now_stage:
        raise VerdictNotOpenError(N_(
            "These questions are not open for your concern at the moment, so nothing was "
            "stored. They open after a case handler's first reply, and again at closing."
        ))
    links = _read_links(concern, private_key)
    old = links.get(now_stage)
    if old is not None:
        row = session.get(ConcernVerdict, old)
        if row is not None:
            session.delete(row)
            request_erasure(session, ConcernVerdict.__tablename__)
    quarter = quarter_label(*quarter_of(config.today(clock)))
    row_id = secrets.token_hex(16)
    session.add(ConcernVerdict(id=row_id, quarter=quarter, stage=now_stage, counted=True,
                               **_to_row(answers)))
    links[now_stage] = row_id
    _seal_links(concern, links, private_key)
    session.flush()
    _count_once_per_quarter(session, links)
    return now_stage


def _count_once_per_quarter(session: Session, links: Mapping[str, str]) -> None:
    """Count a concern once per quarter: a closing answer outranks a same-quarter earlier one.

    Published cells count answers, and the minimum group size is about people: without
    this, one concern answering at both stages in one quarter would count twice.
    """
    rows = {stage: session.get(ConcernVerdict, row_id) for stage, row_id in links.items()}
    after, closing = rows.get("after_reply"), rows.get("at_closing")
    if after is not None:
        after.counted = closing is None or closing.quarter != after.quarter
    if closing is not None:
        closing.counted = True


def verdict_counts(session: Session, quarter: str) -> dict[str, list[list[object]]]:
    """Counted answers given in the quarter: question -> [[answer key, count], ...] (SQL)."""
    out: dict[str, list[list[object]]] = {}
    for name, (_, choices) in VERDICT_QUESTIONS.items():
        column = getattr(ConcernVerdict, name)
        found = {
            str(answer): int(n) for answer, n in session.execute(
                select(column, func.count())
                .where(ConcernVerdict.quarter == quarter, ConcernVerdict.counted.is_(True),
                       column.is_not(None))
                .group_by(column)
            )
        }  # fmt: skip
        out[name] = [[key, found.get(key, 0)] for key in choices]
    return out

