"""Publish a closed round: open its sealed answers, aggregate, disclose, store, shred the key.

Publication is the only way survey answers leave the raw tables (DESIGN.md rules 4
and 5). It reads, decides, then writes everything in one savepoint inside the
caller's transaction:

1. open the round's sealed responses in this process with the round's private key
   (:func:`surveys.sealed_answers.read_round_responses`; the key file lives in the
   round key folder, never in the database) and count them in memory: respondents
   per group; item × value counts overall and item × group × value per dimension;
   per-respondent scale scores (reverse-scored, only with enough items answered)
   into a (sum, count) histogram overall and per group — the same figures the
   GROUP BY queries over plaintext tables produced before migration 0014. Responses
   stream in batches and every tally is bounded by items × groups × scale points,
   so memory stays flat however large the round is (comments aside: the output);
2. pass every breakdown through :mod:`speakup.disclosure` with the round's frozen
   ``k`` (the long step: no database is touched, so a background publication holds
   no write lock meanwhile — surveys.publication_jobs);
3. claim the round with a conditional ``UPDATE rounds SET status = 'published' …
   WHERE id = :id AND status = 'closed'`` — of two publishers racing, one wins and
   the other returns the winner's stored result — and store the
   :class:`~surveys.published.PublishedRound` payload;
4. delete the round's token hashes and (unless ``raw_retention_days`` keeps them
   for a while, see :func:`purge_expired_raw`) its sealed responses, and destroy the
   round's private key file once the caller's transaction commits
   (:func:`surveys.round_keys.destroy_after_commit`): from then on every copy of the
   sealed responses — table files, WAL, backups, replicas — is unreadable.

Any failure rolls the savepoint back: the round stays ``closed`` with its raw rows
and its key, and nothing is stored. A missing key file fails publication with a
PublicationError saying where the key was expected (never an empty publication).
Re-running on a published round returns the stored result.

Disclosure control is decided once, over the whole round, by
:func:`surveys.round_disclosure.decide_suppression`: one hidden-group pattern per
dimension shared by the respondents table and every row, then the attacker's audit
(:mod:`speakup.disclosure_audit`) over everything the publication shows, suppressing
more until no hidden count can be pinned. Scale means are stored rounded to two
decimals, exactly as they are shown, so the audit's intervals describe what leaves.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from speakup import publication_log
from speakup.clock import Clock, as_utc
from speakup.disclosure import comments_may_be_shown, validate_min_group_size
from speakup.insider_audit import Person
from speakup.settings import Settings
from speakup.translatable import N_, TranslatableError
from surveys.admin_services import default_short_label
from surveys.erase import delete_raw_responses, delete_round_rows
from surveys.invitations import forget_round_mail
from surveys.itembank import YES, Instrument, Item, ItemBank, ItemBankError, load_item_bank
from surveys.microdata import PeopleCollector
from surveys.models import PublishedResult, Round, RoundStatus, Survey, TokenHash
from surveys.naming import round_label
from surveys.protection import apply_protection
from surveys.published import (
    PREFER_NOT,
    Cell,
    Dimension,
    Group,
    PublishedRound,
    Row,
)
from surveys.round_disclosure import (
    InstrumentTruth,
    RoundSuppression,
    RoundTruth,
    RowTruth,
    SuppressionError,
    decide_suppression,
    round_mean,
)
from surveys.round_keys import RoundKeyFolder, RoundKeyMissing, destroy_after_commit
from surveys.sealed_answers import read_round_bodies

__all__ = [
    "PublicationError",
    "RoundReading",
    "SuppressionPreview",
    "decide_round",
    "preview_suppression",
    "publish_round",
    "purge_expired_raw",
    "read_round",
    "store_round",
]

PREFER_NOT_LABEL = "Prefer not to say"
GroupKey = tuple[str, str]  # (dimension, option)


class PublicationError(TranslatableError):
    """The round cannot be published (not closed, or its survey is malformed)."""


class _Lost(Exception):
    """Another publisher claimed the round first."""


# --- public API ----------------------------------------------------------------------


def publish_round(
    session: Session, round_: Round, settings: Settings, clock: Clock
) -> PublishedRound:
    """Publish a closed round and return what was stored; return the stored result if published.

    Never commits: the caller owns the transaction. Everything this writes happens
    inside a savepoint, so an exception leaves the round ``closed`` with its raw rows
    intact and nothing stored, even if the caller goes on to commit. The three steps
    are public so that a background publication (surveys.publication_jobs) can read in
    a transaction that only reads, decide outside any transaction, and write in a
    short one at the end.
    """
    stored = session.get(PublishedResult, round_.id)
    if stored is not None:
        return PublishedRound.from_payload(stored.payload)
    if round_.status != RoundStatus.CLOSED:
        raise PublicationError(
            N_("Round %(round)s is %(status)s: only a closed round can be published."),
            round=round_.id, status=round_.status)
    published = decide_round(read_round(session, round_, settings), clock.today())
    return store_round(session, round_, published, settings)


@dataclass(frozen=True)
class RoundReading:
    """Everything publication reads from the database, before the long decision."""

    round: Round
    survey: Survey
    plan: _Plan
    k: int
    label: str
    found: _Aggregates


def read_round(session: Session, round_: Round, settings: Settings) -> RoundReading:
    """Open the round's sealed answers and count them (reads only; needs the round's key)."""
    survey = session.get(Survey, round_.survey_id)
    if survey is None:  # pragma: no cover - the foreign key prevents it
        raise PublicationError(N_("Round %(round)s has no survey."), round=round_.id)
    k = _frozen_k(round_, survey, settings)
    plan = _plan(survey, load_item_bank())
    try:
        found = _aggregates(session, round_.id, plan, RoundKeyFolder.of(settings))
    except RoundKeyMissing as exc:
        raise PublicationError(N_("Round %(round)s: %(problem)s"), round=round_.id,
                               problem=exc) from exc
    return RoundReading(round_, survey, plan, k, round_label(session, round_, survey.timezone),
                        found)


def decide_round(reading: RoundReading, today: dt.date) -> PublishedRound:
    """Decide disclosure once over the whole round and build what would be stored.

    Touches no database: this is the long step (the attackers' audits).
    """
    try:
        published = _aggregate(reading, today)
    except SuppressionError as exc:
        raise PublicationError(N_("Round %(round)s: %(problem)s"), round=reading.round.id,
                               problem=exc) from exc
    return apply_protection(published, reading.round.protection, load_item_bank())


def store_round(session: Session, round_: Round, published: PublishedRound,
                settings: Settings) -> PublishedRound:
    """Claim the closed round, store `published`, delete its raw rows; one savepoint.

    Of two publishers racing, one claims the round and the other gets the stored result.
    """
    keep_raw = settings.raw_retention_days > 0
    keys = RoundKeyFolder.of(settings)
    today = dt.date.fromisoformat(published.published_on)
    session.flush()
    try:
        with session.begin_nested():
            if not _claim(session, round_.id, today, raw_deleted=not keep_raw):
                raise _Lost
            _store(session, published)
            delete_round_rows(session, TokenHash, round_.id)
            forget_round_mail(session, round_.id, settings)
            if not keep_raw:
                delete_raw_responses(session, round_.id)
                destroy_after_commit(session, keys, round_.id, round_.public_key)
    except _Lost:
        session.expire(round_)
        stored = session.get(PublishedResult, round_.id, populate_existing=True)
        if stored is None:
            raise PublicationError(
                N_("Round %(round)s is %(status)s: only a closed round can be published."),
                round=round_.id, status=round_.status) from None
        return PublishedRound.from_payload(stored.payload)
    return published


@dataclass(frozen=True)
class SuppressionPreview:
    """What publishing a round as it stands would hide (nothing of it is stored)."""

    k: int
    dimensions: tuple[Dimension, ...]
    suppression: RoundSuppression


def preview_suppression(session: Session, round_: Round, settings: Settings) -> SuppressionPreview:
    """Decide disclosure over the round's current answers exactly as publication would.

    The confirmation pages show admins which groups publication will hide; taking it
    from the same `decide_suppression` call on the same aggregates means the page and
    the publication cannot disagree (unless answers arrive in between). Reads only.
    It opens the sealed answers, so it needs the round key folder: on a host without
    it, the PublicationError says where the key is expected.
    """
    survey = session.get(Survey, round_.survey_id)
    if survey is None:  # pragma: no cover - the foreign key prevents it
        raise PublicationError(N_("Round %(round)s has no survey."), round=round_.id)
    k = _frozen_k(round_, survey, settings)
    plan = _plan(survey, load_item_bank())
    keys = RoundKeyFolder.of(settings)
    try:
        found = _aggregates(session, round_.id, plan, keys)
        suppression = decide_suppression(found.truth, k, people=found.people)
    except (SuppressionError, RoundKeyMissing) as exc:
        raise PublicationError(N_("Round %(round)s: %(problem)s"), round=round_.id,
                               problem=exc) from exc
    return SuppressionPreview(k, plan.dimensions, suppression)


def purge_expired_raw(session: Session, settings: Settings, clock: Clock) -> int:
    """Delete raw responses of published rounds kept past their retention; return rounds purged.

    With ``SPEAKUP_RAW_RETENTION_DAYS=N`` (N > 0) a published round keeps its raw rows
    until ``published_on + N`` days; from that day on this deletes them and, once the
    caller commits, destroys the round's key file. Idempotent; never commits (the
    scheduler job does).
    """
    cutoff = clock.today() - dt.timedelta(days=settings.raw_retention_days)
    keys = RoundKeyFolder.of(settings)
    due = session.execute(
        select(Round.id, Round.public_key)
        .where(
            Round.status == RoundStatus.PUBLISHED.value,
            Round.raw_deleted.is_(False),
            Round.published_on <= cutoff,
        )
        .order_by(Round.id)
    ).all()
    purged = 0
    for round_id, public_key in due:
        with session.begin_nested():
            claimed = session.execute(
                update(Round)
                .where(Round.id == round_id, Round.raw_deleted.is_(False))
                .values(raw_deleted=True)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed:
                delete_raw_responses(session, round_id)
                destroy_after_commit(session, keys, round_id, public_key)
                purged += 1
    if purged:
        session.expire_all()
    return purged


# --- what to publish -----------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    """A scale score to publish: an instrument's, or one of its subdimensions'."""

    instrument: Instrument
    asked: tuple[Item, ...]  # the items of this (sub)scale this survey asks
    subdimension: str | None = None

    @property
    def row_id(self) -> str:
        if self.subdimension is None:
            return self.instrument.id
        return f"{self.instrument.id}.{self.subdimension}"

    @property
    def title(self) -> str:
        if self.subdimension is None:
            return self.instrument.title
        return f"{self.instrument.title} – {self.subdimension.replace('_', ' ')}"

    @property
    def min_answered(self) -> int:
        return self.instrument.min_answered_for(self.subdimension) or 1


@dataclass(frozen=True)
class _Plan:
    items: tuple[Item, ...]
    scales: tuple[_Scale, ...]
    dimensions: tuple[Dimension, ...]


def _frozen_k(round_: Round, survey: Survey, settings: Settings) -> int:
    # k is frozen when a round opens; a closed round without one never opened
    # properly, so fall back to the stricter of the survey's and the setting's.
    k = round_.min_group_size
    if k is None:
        k = max(survey.min_group_size, settings.min_group_size)
    return validate_min_group_size(k)


def _plan(survey: Survey, bank: ItemBank) -> _Plan:
    try:
        items = tuple(bank.item(item_id) for item_id in survey.item_ids)
    except ItemBankError as exc:
        raise PublicationError(N_("Survey %(survey)s: %(problem)s"), survey=survey.id,
                               problem=exc) from exc
    scales: list[_Scale] = []
    for instrument_id in dict.fromkeys(item.instrument_id for item in items):
        instrument = bank.instrument(instrument_id)
        asked = tuple(item for item in items if item.instrument_id == instrument_id)
        minimum = instrument.min_answered
        # A survey asking fewer items than the score needs can never yield a score.
        if instrument.has_scale_score and minimum is not None and len(asked) >= minimum:
            scales.append(_Scale(instrument, asked))
            # Subscales (inclusive leadership's openness, availability, accessibility)
            # are published like scales wherever enough of their items are asked.
            for sub in instrument.subdimensions:
                in_sub = tuple(item for item in asked if item.subdimension == sub)
                needed = instrument.min_answered_for(sub)
                if needed is not None and in_sub and len(in_sub) >= needed:
                    scales.append(_Scale(instrument, in_sub, sub))
    return _Plan(items, tuple(scales), _dimensions(survey.demographics or []))


def _dimensions(questions: Iterable[Mapping[str, object]]) -> tuple[Dimension, ...]:
    dimensions = []
    for question in questions:
        groups: list[Group] = []
        prefer_label = PREFER_NOT_LABEL
        for option in question.get("options") or []:  # type: ignore[union-attr]
            if isinstance(option, Mapping):
                option_id, label = str(option["id"]), str(option.get("label") or option["id"])
            else:
                option_id = label = str(option)
            if option_id == PREFER_NOT:
                prefer_label = label
            elif option_id not in {g.id for g in groups}:
                groups.append(Group(option_id, label))
        groups.append(Group(PREFER_NOT, prefer_label))
        question_id = str(question["id"])
        dimensions.append(Dimension(question_id, str(question.get("label") or question_id), groups,
                                    short_label=str(question.get("short_label")
                                                    or default_short_label(question_id))))
    return tuple(dimensions)


# --- the transaction's steps ---------------------------------------------------------


def _claim(session: Session, round_id: int, today: dt.date, *, raw_deleted: bool) -> bool:
    """Move the round closed -> published; False if someone else already did."""
    result = session.execute(
        update(Round)
        .where(Round.id == round_id, Round.status == RoundStatus.CLOSED.value)
        .values(status=RoundStatus.PUBLISHED.value, published_on=today, raw_deleted=raw_deleted)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1


def _store(session: Session, published: PublishedRound) -> None:
    session.add(
        PublishedResult(
            round_id=published.round_id,
            survey_id=published.survey_id,
            published_on=dt.date.fromisoformat(published.published_on),
            min_group_size=published.k,
            payload=published.to_payload(),
        )
    )
    session.flush()
    publication_log.record(session, kind=publication_log.SURVEY_ROUND,
                           ref=str(published.round_id), payload=signed_round(published),
                           published_on=dt.date.fromisoformat(published.published_on))


def sign_unlogged_rounds(session: Session) -> int:
    """Sign rounds published before signing existed, oldest first; return how many."""
    count = 0
    for stored in session.scalars(select(PublishedResult).order_by(
            PublishedResult.published_on, PublishedResult.round_id)):
        if not publication_log.is_logged(session, publication_log.SURVEY_ROUND,
                                         str(stored.round_id)):
            published = PublishedRound.from_payload(stored.payload)
            publication_log.record(session, kind=publication_log.SURVEY_ROUND,
                                   ref=str(stored.round_id), payload=signed_round(published),
                                   published_on=stored.published_on)
            count += 1
    return count


def signed_round(published: PublishedRound) -> dict[str, Any]:
    """What a round's signed file holds: everything published but the free-text comments.

    Comments are shown to the advisory group only; a signed file is public.
    """
    return {k: v for k, v in published.to_payload().items() if k != "comments"}


# --- aggregation ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Aggregates:
    total: int
    group_sizes: dict[GroupKey, int]
    overall: dict[str, dict[int, int]]
    by_group: dict[str, dict[GroupKey, dict[int, int]]]
    histograms: dict[str, Any]
    comments: list[str]
    truth: RoundTruth
    # Each respondent's groups and answers, for the insiders' audit only (never stored).
    people: list[Person]


class _Combination:
    """The tallies of the respondents who gave one combination of group answers."""

    __slots__ = ("answers", "n", "scores")

    def __init__(self) -> None:
        self.n = 0
        self.answers: Counter[tuple[str, int]] = Counter()
        self.scores: Counter[tuple[str, int, int]] = Counter()


class _Tally:
    """Count opened responses into the figures publication needs (bounded by the plan).

    Exactly what the GROUP BY queries over the plaintext tables counted before
    migration 0014: every response is a respondent; every stored group answer counts
    towards its group; item × value over the survey's items (any stored value);
    scale scores from answers on the instrument's scale, reverse-scored, only with at
    least the scale's minimum answered.

    Responses are counted per combination of group answers (a few hundred at most),
    one C-level counter update each; the per-group figures are summed from those at
    the end, which keeps the per-response work small.
    """

    def __init__(self, plan: _Plan) -> None:
        self.items = frozenset(item.id for item in plan.items)
        self.total = 0
        self.combinations: dict[tuple[GroupKey, ...], _Combination] = {}
        # (row id, ((item id, stored value -> scored value), …), minimum answered)
        self.scales = [
            (s.row_id,
             tuple((i.id, {v: s.instrument.scale.max_value + 1 - v if i.reverse else v
                           for v in range(s.instrument.scale.min_value,
                                          s.instrument.scale.max_value + 1)})
                   for i in s.asked),
             s.min_answered)
            for s in plan.scales
        ]
        self.comments: list[str] = []

    def add(self, body: Mapping[str, Any]) -> None:
        self.total += 1
        answers = body["a"]
        groups = tuple(body["g"].items())
        combination = self.combinations.get(groups)
        if combination is None:
            combination = self.combinations[groups] = _Combination()
        combination.n += 1
        combination.answers.update(answers.items())
        for row_id, scoring, minimum in self.scales:
            got = [v for v in [scored.get(answers.get(i)) for i, scored in scoring]
                   if v is not None]
            if len(got) >= minimum:
                combination.scores[row_id, sum(got), len(got)] += 1
        comment = body["c"]
        if comment and comment.strip():
            self.comments.append(comment.strip())

    def group_sizes(self) -> dict[GroupKey, int]:
        sizes: Counter[GroupKey] = Counter()
        for groups, combination in self.combinations.items():
            for group in groups:
                sizes[group] += combination.n
        return dict(sizes)

    def values(self) -> tuple[dict[str, dict[int, int]], dict[str, dict[GroupKey, dict[int, int]]]]:
        overall: dict[str, dict[int, int]] = defaultdict(dict)
        by_group: dict[str, dict[GroupKey, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        for groups, combination in self.combinations.items():
            for (item_id, value), n in combination.answers.items():
                if item_id not in self.items:
                    continue
                value = int(value)
                overall[item_id][value] = overall[item_id].get(value, 0) + n
                for group in groups:
                    cell = by_group[item_id][group]
                    cell[value] = cell.get(value, 0) + n
        return overall, by_group

    def histograms(self) -> dict[str, Any]:
        found: dict[str, Any] = {row_id: ({}, defaultdict(dict)) for row_id, _, _ in self.scales}
        for groups, combination in self.combinations.items():
            for (row_id, total, answered), n in combination.scores.items():
                overall, by_group = found[row_id]
                pair = (total, answered)
                overall[pair] = overall.get(pair, 0) + n
                for group in groups:
                    by_group[group][pair] = by_group[group].get(pair, 0) + n
        return found


def _aggregates(session: Session, round_id: int, plan: _Plan, keys: RoundKeyFolder
                ) -> _Aggregates:
    """Open the round's responses here, count them, and shape the disclosure decision's input."""
    tally, people = _Tally(plan), PeopleCollector(plan)
    for body in read_round_bodies(session, round_id, keys):
        tally.add(body)
        people.add(body)
    (overall_values, group_values), histograms = tally.values(), tally.histograms()
    group_sizes = tally.group_sizes()
    truth = _truth(plan, tally.total, group_sizes, overall_values, group_values, histograms)
    return _Aggregates(tally.total, group_sizes, overall_values, group_values, histograms,
                       tally.comments, truth, people.people)


def _aggregate(reading: RoundReading, today: dt.date) -> PublishedRound:
    """Decide disclosure once over the whole counted result, and build it."""
    round_, survey, plan, k, found = (reading.round, reading.survey, reading.plan, reading.k,
                                      reading.found)
    round_id = round_.id
    total, group_sizes = found.total, found.group_sizes
    overall_values, group_values, histograms = found.overall, found.by_group, found.histograms
    suppression = decide_suppression(found.truth, k, people=found.people)

    def build(row_id: str, overall: Cell, by_group: Mapping[GroupKey, Cell], **fields: object
              ) -> Row:
        cells = {
            dim.id: {
                g.id: None if suppression.hides(row_id, dim.id, g.id)
                else by_group.get((dim.id, g.id))
                for g in dim.groups
            }
            for dim in plan.dimensions
        }
        if row_id in suppression.rows_hidden:
            return Row(id=row_id, overall=None,  # type: ignore[arg-type]
                       by_group={d: dict.fromkeys(c) for d, c in cells.items()}, **fields)
        return Row(id=row_id, overall=overall, by_group=cells, **fields)  # type: ignore[arg-type]

    items = [
        build(
            item.id,
            _item_cell(item, overall_values.get(item.id, {})),
            {key: _item_cell(item, c) for key, c in group_values.get(item.id, {}).items()},
            label=item.text,
            response_scale=item.scale.id,
            instrument_id=item.instrument_id,
            reverse=item.reverse,
            lower_is_better=item.scale.type == "yes_no" and item.favourable == "no",
        )
        for item in plan.items
    ]
    scales = []
    for scale in plan.scales:
        instrument = scale.instrument
        overall_hist, group_hists = histograms[scale.row_id]
        pooled, group_pooled = _pooled_answers(scale, overall_values, group_values)
        scales.append(
            build(
                scale.row_id,
                _scale_cell(instrument, overall_hist, pooled),
                {key: _scale_cell(instrument, hist, group_pooled.get(key, (0, 0)))
                 for key, hist in group_hists.items()},
                label=scale.title,
                response_scale=instrument.scale.id,
                instrument_id=instrument.id,
            )
        )
    group_counts = {
        dim.id: {
            g.id: None
            if suppression.total_hidden or g.id in suppression.groups_hidden[dim.id]
            else group_sizes.get((dim.id, g.id), 0)
            for g in dim.groups
        }
        for dim in plan.dimensions
    }
    shown_total = None if suppression.total_hidden else total

    zone = _zone(survey.timezone)
    # Publish the dates the round really opened and closed (a round can be opened or
    # closed early by hand); the planned ones stand in only where none were recorded.
    opened_on = as_utc(round_.opened_at or round_.opens_at).astimezone(zone).date()
    closed_on = as_utc(round_.closed_at or round_.closes_at).astimezone(zone).date()
    invited = round_.invited_count or 0
    return PublishedRound(
        round_id=round_id,
        survey_id=survey.id,
        survey_title=survey.title,
        label=reading.label,
        opens_on=opened_on.isoformat(),
        closes_on=closed_on.isoformat(),
        published_on=today.isoformat(),
        k=k,
        invited=invited,
        responses=shown_total,
        response_rate=shown_total / invited if shown_total is not None and invited else None,
        dimensions=list(plan.dimensions),
        group_counts=group_counts,
        scales=scales,
        items=items,
        comments=_comments(survey, found.comments, total, k),
    )


def _truth(
    plan: _Plan,
    total: int,
    group_sizes: Mapping[GroupKey, int],
    overall_values: Mapping[str, Mapping[int, int]],
    group_values: Mapping[str, Mapping[GroupKey, Mapping[int, int]]],
    histograms: Mapping[str, tuple[Mapping[tuple[int, int], int],
                                   Mapping[GroupKey, Mapping[tuple[int, int], int]]]],
) -> RoundTruth:
    """Every true aggregate, in the shape the disclosure decision and its audit read."""
    rows: list[RowTruth] = []
    scored_instruments = {s.instrument.id for s in plan.scales}
    for item in plan.items:
        values = item.scale.answer_values
        rows.append(RowTruth(
            id=item.id,
            instrument_id=item.instrument_id,
            is_scale=False,
            overall={str(v): overall_values.get(item.id, {}).get(v, 0) for v in values},
            by_group={key: {str(v): c.get(v, 0) for v in values}
                      for key, c in group_values.get(item.id, {}).items()},
            scored={str(v): item.scored(v) for v in values}  # type: ignore[misc]
            if item.instrument_id in scored_instruments else {},
            favourable_values=frozenset(str(v) for v in values if item.is_favourable(v))
            if item.instrument_id in scored_instruments else frozenset(),
            sensitive=item.sensitive,
        ))  # fmt: skip
    instruments: list[InstrumentTruth] = []
    for instrument_id in dict.fromkeys(item.instrument_id for item in plan.items):
        item_ids = tuple(i.id for i in plan.items if i.instrument_id == instrument_id)
        instruments.append(InstrumentTruth(instrument_id, item_ids))
    for scale in plan.scales:
        instrument = scale.instrument
        overall_hist, group_hists = histograms[scale.row_id]
        overall_cell = _scale_cell(instrument, overall_hist, (0, 0))
        rows.append(RowTruth(
            id=scale.row_id,
            instrument_id=instrument.id,
            is_scale=True,
            overall=overall_cell.distribution,
            by_group={key: _scale_cell(instrument, h, (0, 0)).distribution
                      for key, h in group_hists.items()},
            score_sum=_score_sum(overall_hist),
            group_score_sums={key: _score_sum(h) for key, h in group_hists.items()},
        ))  # fmt: skip
        link = InstrumentTruth(
            scale.row_id, tuple(item.id for item in scale.asked), scale.row_id,
            scale.min_answered, instrument.scale.min_value, instrument.scale.max_value,
        )
        if scale.subdimension is not None:
            instruments.append(link)  # a subscale links its own items to its score
        else:
            instruments = [link if i.id == instrument.id else i for i in instruments]
    return RoundTruth(
        total=total,
        dimensions={dim.id: [g.id for g in dim.groups] for dim in plan.dimensions},
        group_sizes=group_sizes,
        rows=rows,
        instruments=instruments,
    )


def _score_sum(histogram: Mapping[tuple[int, int], int]) -> Fraction:
    return sum((Fraction(t * n, a) for (t, a), n in histogram.items()), Fraction(0))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _comments(survey: Survey, texts: list[str], total: int, k: int) -> list[str] | None:
    if not survey.comment_question or not comments_may_be_shown(total, k):
        return None
    # Storage order says nothing (random keys), but shuffle anyway so no order leaks.
    shown = list(texts)
    secrets.SystemRandom().shuffle(shown)
    return shown


# --- cells and disclosure ------------------------------------------------------------


def _item_cell(item: Item, counts: Mapping[int, int]) -> Cell:
    """Summarise stored value -> answers for one item, as surveys.scoring.summarise_item."""
    scale = item.scale
    distribution = {str(v): counts.get(v, 0) for v in scale.answer_values}
    n = sum(distribution.values())
    favourable = sum(counts.get(v, 0) for v in scale.answer_values if item.is_favourable(v))
    if scale.type == "yes_no":
        return Cell(
            n=n,
            mean=None,
            favourable=favourable / n if n else None,
            distribution=distribution,
            yes_share=counts.get(YES, 0) / n if n else None,
        )
    total = sum(counts.get(v, 0) * item.scored(v) for v in scale.answer_values)  # type: ignore[operator]
    return Cell(
        n=n,
        mean=total / n if n else None,
        favourable=favourable / n if n else None,
        distribution=distribution,
    )


def _pooled_answers(
    scale: _Scale,
    overall_values: Mapping[str, Mapping[int, int]],
    group_values: Mapping[str, Mapping[GroupKey, Mapping[int, int]]],
) -> tuple[tuple[int, int], dict[GroupKey, tuple[int, int]]]:
    """Return (favourable answers, answers) over the scale's items, overall and per group.

    Summed from the item x value counts the database grouped (the same counts the
    item rows publish), so a scale's favourable share is the items' shares weighted by
    their answers: it always lies between its items' lowest and highest.
    """

    def pool(counts_of: Mapping[str, Mapping[int, int]]) -> tuple[int, int]:
        favourable = answers = 0
        for item in scale.asked:
            counts = counts_of.get(item.id, {})
            for value in item.scale.answer_values:
                answers += counts.get(value, 0)
                favourable += counts.get(value, 0) if item.is_favourable(value) else 0
        return favourable, answers

    keys = {key for item in scale.asked for key in group_values.get(item.id, {})}
    by_group = {
        key: pool({item.id: group_values.get(item.id, {}).get(key, {}) for item in scale.asked})
        for key in keys
    }
    return pool(overall_values), by_group


def _scale_cell(
    instrument: Instrument, histogram: Mapping[tuple[int, int], int], pooled: tuple[int, int]
) -> Cell:
    """Summarise (sum, count) -> respondents, as surveys.scoring.summarise_scale.

    n, mean and the distribution describe respondents' scale scores; the favourable
    share is pooled (``pooled`` = favourable answers, answers to the scale's items:
    Culture Amp's factor favourability), so it can never contradict the items.
    """
    scale = instrument.scale
    points = dict.fromkeys(scale.answer_values, 0)
    exact_total = Fraction(0)
    for (total, answered), n in histogram.items():
        # Half up, in integers: floor(total / answered + 1/2).
        points[(2 * total + answered) // (2 * answered)] += n
        exact_total += Fraction(total * n, answered)
    n = sum(histogram.values())
    favourable, answers = pooled
    return Cell(
        n=n,
        mean=round_mean(exact_total / n) if n else None,
        favourable=favourable / answers if n and answers else None,
        distribution={str(p): c for p, c in points.items()},
    )
