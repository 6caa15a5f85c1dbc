"""Answering a survey through a personal link: token states, checking answers, saving one response.

A response row holds the round and ONE sealed blob of the answers, the self-declared
groups and the optional comment (:mod:`surveys.sealed_answers`: only the round's
private key, outside the database, opens it) — no token, no address, no time, and a
random id (rule 4).
Exactly one response per token: the token is marked used by a conditional
`UPDATE … WHERE used = false` in the same transaction as the response is inserted,
so of two simultaneous submissions one saves and the other is told the link was used.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from speakup.translatable import N_
from surveys.invitations import hash_token, looks_like_token
from surveys.itembank import Item, ItemBank, load_item_bank
from surveys.models import Response, Round, RoundStatus, Survey, TokenHash
from surveys.published import PREFER_NOT
from surveys.sealed_answers import Sealers

COMMENT_MAX = 2000
ITEM_FIELD = "item-"
GROUP_FIELD = "group-"
COMMENT_FIELD = "comment"


class LinkState(enum.StrEnum):
    OPEN = "open"  # unused, round open: show the form
    USED = "used"
    CLOSED = "closed"  # the round is not open (any more)
    UNKNOWN = "unknown"  # no such link (mistyped, or its round was published)


@dataclass(frozen=True)
class Invitation:
    state: LinkState
    round: Round | None = None
    survey: Survey | None = None
    locked: bool = False  # looked up with lock=True (the round is held FOR SHARE)


class LinkNotUsable(Exception):
    """The link cannot be used to answer; `state` says why."""

    def __init__(self, state: LinkState) -> None:
        super().__init__(state.value)
        self.state = state


@dataclass(frozen=True)
class Problem:
    field: str  # the form field it concerns ("form" for the whole submission)
    message: str  # in English, filled in
    # The catalogue's text and its values, for pages in another language.
    msgid: str = ""
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.msgid:  # a message with no catalogue text is shown as it is
            object.__setattr__(self, "msgid", self.message.replace("%", "%%"))


NOT_AN_OPTION = N_("That answer is not one of this question's options.")


def _problem(field_name: str, msgid: str, **params: str) -> Problem:
    return Problem(field_name, msgid % params if params else msgid, msgid, params)


class AnswerError(ValueError):
    """The submission was refused; nothing was saved."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


@dataclass
class Submission:
    """One person's answers: item id -> stored value, question id -> option id, comment."""

    answers: dict[str, int] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    comment: str | None = None


class MultiValueForm(Protocol):
    def __iter__(self) -> Any: ...

    def getlist(self, key: str) -> list[str]: ...


# --- looking a link up ---------------------------------------------------------------


# Built once: constructing these statements cost a third of a look-up (issue 23).
_LOOK_UP = (
    select(TokenHash.used, Round, Survey)
    .join(Round, Round.id == TokenHash.round_id)
    .join(Survey, Survey.id == Round.survey_id)
    .where(TokenHash.token_hash == bindparam("link_hash"))
)
_LOOK_UP_LOCKED = _LOOK_UP.with_for_update(read=True, of=Round).execution_options(
    populate_existing=True)
_CLAIM = (
    update(TokenHash.__table__)
    .where(TokenHash.token_hash == bindparam("link_hash"), TokenHash.used.is_(False))
    .values(used=True)
)


def look_up(session: Session, key: bytes, token: str, *, lock: bool = False) -> Invitation:
    """Say what state a link is in (and its round and survey when it has one).

    One query: token hash → round → survey. With `lock`, the round row is read
    FOR SHARE (PostgreSQL): it cannot close (or publish) until this transaction
    ends, so no answer lands in a round that is being published.
    """
    if not looks_like_token(token):
        return Invitation(LinkState.UNKNOWN)
    row = session.execute(_LOOK_UP_LOCKED if lock else _LOOK_UP,
                          {"link_hash": hash_token(key, token)}).first()
    if row is None:
        return Invitation(LinkState.UNKNOWN)
    used, round_, survey = row
    if round_.status != RoundStatus.OPEN:
        return Invitation(LinkState.CLOSED, round_, survey, locked=lock)
    if used:
        return Invitation(LinkState.USED, round_, survey, locked=lock)
    return Invitation(LinkState.OPEN, round_, survey, locked=lock)


# --- reading and checking answers ----------------------------------------------------


def survey_items(survey: Survey, bank: ItemBank | None = None) -> list[Item]:
    bank = bank or load_item_bank()
    return [bank.item(item_id) for item_id in survey.item_ids]


def read_form(survey: Survey, form: MultiValueForm, bank: ItemBank | None = None
              ) -> tuple[Submission, list[Problem]]:
    """Turn posted fields into a Submission, keeping every valid choice; list what is wrong.

    Fields: `item-<item id>` (the option's value), `group-<question id>` (an option
    id or `prefer_not`), `comment`. Other fields (the CSRF token, the button) are
    ignored. Answers to questions not in this survey, values not on an item's
    scale and repeated fields are problems, never silently dropped.
    """
    bank = bank or load_item_bank()
    items = {item.id: item for item in survey_items(survey, bank)}
    questions = {q["id"]: q for q in survey.demographics or []}
    submission = Submission()
    problems: list[Problem] = []
    forged = False
    for name in form:
        values = form.getlist(name)
        if name.startswith(ITEM_FIELD):
            item_id = name[len(ITEM_FIELD):]
            if item_id not in items:
                forged = True
                continue
            value = _single(values, name, problems)
            if value is None:
                continue
            if not (value.isascii() and value.isdigit()) or int(value) not in items[
                item_id
            ].scale.valid_values:
                problems.append(_problem(name, NOT_AN_OPTION))
                continue
            submission.answers[item_id] = int(value)
        elif name.startswith(GROUP_FIELD):
            question_id = name[len(GROUP_FIELD):]
            if question_id not in questions:
                forged = True
                continue
            option = _single(values, name, problems)
            if option is None:
                continue
            allowed = {o["id"] for o in questions[question_id]["options"]} | {PREFER_NOT}
            if option not in allowed:
                problems.append(_problem(name, NOT_AN_OPTION))
                continue
            submission.groups[question_id] = option
        elif name == COMMENT_FIELD:
            text = "\n".join(values).replace("\r\n", "\n").strip()
            if not text:
                continue
            submission.comment = text
            if not survey.comment_question:
                forged = True
    if forged:
        problems.insert(0, _problem("form", N_(
            "The form sent answers to questions that are not part of this survey, so it "
            "was not saved. Please answer the questions on this page and send it again."
        )))
    problems.extend(check(survey, submission, bank, structure_checked=True))
    return submission, problems


def _single(values: list[str], name: str, problems: list[Problem]) -> str | None:
    if len(values) > 1:
        problems.append(_problem(name, N_("Choose only one answer.")))
        return None
    value = values[0].strip() if values else ""
    return value or None


def check(survey: Survey, submission: Submission, bank: ItemBank | None = None, *,
          structure_checked: bool = False) -> list[Problem]:
    """List what is wrong with a submission (empty list: it may be saved)."""
    problems: list[Problem] = []
    if not structure_checked:
        bank = bank or load_item_bank()
        items = {item.id: item for item in survey_items(survey, bank)}
        for item_id, value in submission.answers.items():
            if item_id not in items:
                problems.append(_problem(
                    "form", N_("“%(item)s” is not a question of this survey."), item=item_id))
            elif type(value) is not int or value not in items[item_id].scale.valid_values:
                problems.append(_problem(f"{ITEM_FIELD}{item_id}", NOT_AN_OPTION))
        questions = {q["id"]: q for q in survey.demographics or []}
        for question_id, option in submission.groups.items():
            allowed = {o["id"] for o in questions.get(question_id, {}).get("options", [])}
            if question_id not in questions or option not in allowed | {PREFER_NOT}:
                problems.append(_problem(f"{GROUP_FIELD}{question_id}", NOT_AN_OPTION))
        if submission.comment and not survey.comment_question:
            problems.append(_problem("form", N_("This survey does not ask for a comment.")))
    if submission.comment and len(submission.comment) > COMMENT_MAX:
        problems.append(_problem(COMMENT_FIELD, N_(
            "Your comment is %(length)s characters long; the limit is %(limit)s. Please "
            "shorten it — your text is still in the box."
        ), length=f"{len(submission.comment):,}", limit=f"{COMMENT_MAX:,}"))
    if not submission.answers and not submission.comment:
        problems.append(_problem("form", N_("Answer at least one question before sending.")))
    return problems


# --- saving -----------------------------------------------------------------------


def submit_response(
    session: Session, key: bytes, token: str, submission: Submission,
    bank: ItemBank | None = None, *, invitation: Invitation | None = None,
    sealers: Sealers | None = None,
) -> str:
    """Save one response for this link and mark the link used; return the response's random id.

    Raises LinkNotUsable (unknown, used or closed) or AnswerError (nothing saved
    either way). Never commits: the caller commits, and a rollback undoes both the
    response and the link being marked used. `invitation`, when given, must be this
    token's `look_up(..., lock=True)` made earlier in the same transaction (the
    answering view's), so the link is not looked up a second time. `sealers` is the
    process's sealer cache (the web app keeps one): without it each response gets a
    sealer of its own, which is as safe but costs publication one X25519 per response.
    """
    if invitation is None:
        invitation = look_up(session, key, token, lock=True)
    elif not invitation.locked:
        raise ValueError("submit_response needs an invitation looked up with lock=True")
    if invitation.state is not LinkState.OPEN:
        raise LinkNotUsable(invitation.state)
    assert invitation.round is not None and invitation.survey is not None
    problems = check(invitation.survey, submission, bank)
    if problems:
        raise AnswerError(problems)
    round_ = invitation.round
    if round_.public_key is None:
        raise AnswerError([_problem("form", N_(
            "This round cannot take answers: it has no key to seal them with. Please tell "
            "the survey's organisers."))])
    # The conditional update is what makes it exactly one response per token: of two
    # simultaneous submissions only one changes the row.
    claimed = session.execute(_CLAIM, {"link_hash": hash_token(key, token)}).rowcount
    if claimed != 1:
        raise LinkNotUsable(LinkState.USED)
    sealer = (sealers or Sealers()).for_round(round_.id, round_.public_key)
    response_id = secrets.token_hex(16)
    session.execute(insert(Response.__table__).values(
        id=response_id, round_id=round_.id,
        sealed=sealer.seal(submission.answers, submission.groups, submission.comment or None)))
    return response_id


def answers_from_mapping(raw: Mapping[str, Any]) -> Submission:
    """Build a Submission from plain data (the demo seeder, benchmarks, tests)."""
    return Submission(
        answers=dict(raw.get("answers", {})),
        groups=dict(raw.get("groups", {})),
        comment=raw.get("comment"),
    )
