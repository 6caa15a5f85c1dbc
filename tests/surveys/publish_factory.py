"""Build synthetic surveys and rounds by inserting rows directly (for the publication tests)."""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from speakup.disclosure import HIDDEN
from speakup.settings import Settings
from surveys.models import PublishedResult, Response, Round, Survey, TokenHash
from surveys.published import PublishedRound
from surveys.round_keys import RoundKeyFolder
from surveys.sealed_answers import Sealers

ETHNICITY = {
    "id": "ethnicity",
    "label": "Ethnicity group",
    "options": [
        {"id": "global_majority", "label": "Global Majority"},
        {"id": "white", "label": "White"},
    ],
}
TEAM = {
    "id": "team",
    "label": "Team or directorate",
    "options": [{"id": t, "label": f"Team {t.upper()}"} for t in ("a", "b", "c", "d")],
}
ITEMS = ["psafe_1", "psafe_2", "psafe_3", "speak_1", "speak_2", "wres_5", "wres_7"]


@dataclass
class Respondent:
    answers: dict[str, int | None] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    comment: str | None = None


def make_survey(
    session: Session,
    *,
    item_ids: Sequence[str] = ITEMS,
    demographics: Sequence[Mapping[str, object]] = (ETHNICITY, TEAM),
    comment_question: str | None = "Anything else you would like to tell us?",
    k: int = 5,
) -> Survey:
    survey = Survey(
        title="Pulse",
        intro="",
        item_ids=list(item_ids),
        demographics=[dict(d) for d in demographics],
        comment_question=comment_question,
        schedule="monthly, first Monday 09:00",
        timezone="Europe/London",
        open_days=14,
        reminder_offsets_days=[],
        min_group_size=k,
        active=True,
        created_on=dt.date(2026, 1, 1),
    )
    session.add(survey)
    session.flush()
    return survey


def make_round(
    session: Session,
    survey: Survey,
    *,
    keys: Settings | RoundKeyFolder,
    status: str = "closed",
    k: int | None = 5,
    invited: int = 200,
    opens_at: dt.datetime | None = None,
) -> Round:
    """Add a round as opening would leave it: its key file in `keys`, its public key on the row."""
    opens = opens_at or dt.datetime(2026, 2, 2, 9, 0, tzinfo=dt.UTC) + dt.timedelta(
        minutes=secrets.randbelow(24 * 60)
    )
    folder = keys if isinstance(keys, RoundKeyFolder) else RoundKeyFolder.of(keys)
    round_ = Round(
        survey_id=survey.id,
        status=status,
        opens_at=opens,
        closes_at=opens + dt.timedelta(days=14),
        reminder_times=[],
        reminders_sent=0,
        min_group_size=k,
        invited_count=invited,
        raw_deleted=False,
    )
    session.add(round_)
    session.flush()
    round_.public_key = folder.create(round_.id).public_key
    session.flush()
    return round_


def add_responses(session: Session, round_: Round, respondents: Iterable[Respondent],
                  sealers: Sealers | None = None) -> list[str]:
    """Bulk-insert sealed responses, as web processes write them; return the response ids."""
    assert round_.public_key is not None, "make the round with make_round(keys=...)"
    sealer = (sealers or Sealers()).for_round(round_.id, round_.public_key)
    responses = []
    for person in respondents:
        answers = {item: value for item, value in person.answers.items() if value is not None}
        responses.append({"id": secrets.token_hex(16), "round_id": round_.id,
                          "sealed": sealer.seal(answers, dict(person.groups), person.comment)})
    if responses:
        session.execute(insert(Response), responses)
    session.flush()
    return [r["id"] for r in responses]


def add_token_hashes(session: Session, round_: Round, count: int) -> None:
    rows = [
        {"token_hash": secrets.token_bytes(32), "round_id": round_.id, "used": i % 2 == 0}
        for i in range(count)
    ]
    session.execute(insert(TokenHash), rows)
    session.flush()


def crowd(
    groups: Mapping[str, int],
    dimension: str = "ethnicity",
    answers: Mapping[str, int | None] | None = None,
    other: Mapping[str, str] | None = None,
) -> list[Respondent]:
    """Respondents by group size for one dimension ("" = question not answered)."""
    answers = dict(answers or {"psafe_2": 6, "speak_1": 4, "wres_5": 2})
    people = []
    for option, size in groups.items():
        for _ in range(size):
            chosen = {dimension: option} if option else {}
            people.append(Respondent(dict(answers), {**chosen, **(other or {})}))
    return people


def random_respondents(rng: random.Random, bank, item_ids: Sequence[str], count: int,
                       demographics: Sequence[Mapping[str, object]]) -> list[Respondent]:
    """Random answers (skips and prefer-not-to-say included) and random groups."""
    people = []
    for _ in range(count):
        answers: dict[str, int | None] = {}
        for item_id in item_ids:
            if rng.random() < 0.8:
                answers[item_id] = rng.choice(sorted(bank.item(item_id).scale.valid_values))
        groups = {}
        for question in demographics:
            if rng.random() < 0.9:
                options = [o["id"] for o in question["options"]] + ["prefer_not"]  # type: ignore
                weights = range(len(options), 0, -1)  # some groups small, some large
                groups[str(question["id"])] = rng.choices(options, weights=weights)[0]
        people.append(Respondent(answers, groups, comment=None))
    return people


def raw_row_counts(session: Session, round_id: int) -> dict[str, int]:
    counts = {}
    for model in (Response, TokenHash):
        counts[model.__tablename__] = session.scalar(
            select(func.count()).select_from(model).where(model.round_id == round_id)
        )
    return counts


def stored_payload_text(session: Session, round_id: int) -> str:
    """The stored JSON exactly as the database holds it."""
    return session.execute(
        text("SELECT CAST(payload AS TEXT) FROM published_results WHERE round_id = :r"),
        {"r": round_id},
    ).scalar_one()


def stored_round(session: Session, round_id: int) -> PublishedRound:
    result = session.get(PublishedResult, round_id, populate_existing=True)
    assert result is not None
    payload = result.payload if isinstance(result.payload, dict) else json.loads(result.payload)
    return PublishedRound.from_payload(payload)


def assert_nothing_recoverable(published: PublishedRound) -> None:
    """Check a stored round the way an attacker with the payload would read it."""
    k = published.k
    assert published.responses is HIDDEN or published.responses >= k
    if published.responses is HIDDEN:
        assert published.response_rate is HIDDEN
        assert published.comments is None
    for dim in published.dimensions:
        counts = published.group_counts[dim.id]
        assert set(counts) == {g.id for g in dim.groups}
        shown = [c for c in counts.values() if c is not HIDDEN]
        assert all(c >= k for c in shown)
        if published.responses is HIDDEN:
            assert not shown
        else:
            rest = published.responses - sum(shown)
            assert rest == 0 or rest >= k, (dim.id, counts, published.responses)
    for row in published.items + published.scales:
        if row.overall is None:
            assert all(c is None for cells in row.by_group.values() for c in cells.values())
            continue
        assert row.overall.n >= k
        assert sum(row.overall.distribution.values()) == row.overall.n
        for dim in published.dimensions:
            cells = row.by_group[dim.id]
            assert set(cells) == {g.id for g in dim.groups}
            shown = {g: c for g, c in cells.items() if c is not None}
            for group, cell in shown.items():
                assert cell.n >= k, (row.id, dim.id, group, cell.n)
                assert sum(cell.distribution.values()) == cell.n
                # A group hidden in the respondent counts is hidden in every row.
                assert published.group_counts[dim.id][group] is not HIDDEN
            rest = row.overall.n - sum(c.n for c in shown.values())
            assert rest == 0 or rest >= k, (row.id, dim.id, rest)


def add_plaintext_round(session: Session, survey: Survey, people: Sequence[Respondent], *,
                        status: str = "closed", raw_deleted: bool = False) -> tuple[int, list[str]]:
    """A round with plaintext raw rows, as schemas 0004 to 0013 stored them (migration tests)."""
    opens = dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC) + dt.timedelta(days=secrets.randbelow(900))
    round_id = session.execute(text(
        "INSERT INTO rounds (survey_id, status, opens_at, closes_at, reminder_times, "
        "reminders_sent, min_group_size, invited_count, raw_deleted) VALUES (:s, :st, :o, :c, "
        "'[]', 0, 5, 40, :d) RETURNING id"),
        {"s": survey.id, "st": status, "o": opens, "c": opens + dt.timedelta(days=14),
         "d": raw_deleted}).scalar_one()
    ids = []
    for person in people:
        rid = secrets.token_hex(16)
        ids.append(rid)
        session.execute(text("INSERT INTO responses (id, round_id, comment) VALUES (:i, :r, :c)"),
                        {"i": rid, "r": round_id, "c": person.comment})
        for item, value in person.answers.items():
            session.execute(text("INSERT INTO response_answers (response_id, item_id, round_id, "
                                 "value) VALUES (:i, :t, :r, :v)"),
                            {"i": rid, "t": item, "r": round_id, "v": value})
        for dim, option in person.groups.items():
            session.execute(text("INSERT INTO response_groups (response_id, dimension, round_id, "
                                 "option) VALUES (:i, :d, :r, :o)"),
                            {"i": rid, "d": dim, "r": round_id, "o": option})
    session.flush()
    return round_id, ids


def plaintext_counts(session: Session, round_id: int) -> dict[str, int]:
    """Rows per raw table of a round in the plaintext schema (before migration 0014)."""
    return {table: session.scalar(text(f"SELECT count(*) FROM {table} WHERE round_id = :r"),
                                  {"r": round_id})
            for table in ("responses", "response_answers", "response_groups", "token_hashes")}
