"""Publication's transaction: raw rows erased, idempotent, atomic, comments, retention."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from publish_factory import (
    Respondent,
    add_responses,
    add_token_hashes,
    crowd,
    make_round,
    make_survey,
    raw_row_counts,
    stored_payload_text,
    stored_round,
)
from sqlalchemy import func, select

from speakup.db import make_engine, make_session_factory
from surveys import erase as erase_module
from surveys import publish as publish_module
from surveys.models import PublishedResult, Round, Survey
from surveys.publish import PublicationError, publish_round, purge_expired_raw

RAW_GONE = {"responses": 0, "token_hashes": 0}


def closed_round(session, settings, people=None, *, tokens=40, k=5, **survey_kwargs):
    survey = make_survey(session, **survey_kwargs)
    round_ = make_round(session, survey, keys=settings, k=k, invited=tokens)
    ids = add_responses(session, round_, people if people is not None else crowd({"white": 12}))
    add_token_hashes(session, round_, tokens)
    return round_, ids


def test_publication_erases_the_rounds_raw_rows_and_token_hashes(session, settings, clock):
    round_, ids = closed_round(session, settings)
    other, _ = closed_round(session, settings)  # another round's rows must survive
    before_other = raw_row_counts(session, other.id)

    publish_round(session, round_, settings, clock)

    assert raw_row_counts(session, round_.id) == RAW_GONE
    assert raw_row_counts(session, other.id) == before_other
    session.refresh(round_)
    assert round_.status == "published" and round_.raw_deleted
    assert round_.published_on == clock.today()
    # Nothing stored names or orders a response.
    text = stored_payload_text(session, round_.id)
    assert not any(rid in text for rid in ids)


def test_rerunning_returns_the_stored_result_byte_for_byte(session, settings, clock):
    round_, _ = closed_round(session, settings, crowd({"white": 12, "global_majority": 9}))
    first = publish_round(session, round_, settings, clock)
    stored = stored_payload_text(session, round_.id)
    session.commit()

    clock.advance(days=3)
    again = publish_round(session, session.get(Round, round_.id), settings, clock)
    assert again == first
    assert stored_payload_text(session, round_.id) == stored
    assert session.scalar(select(func.count()).select_from(PublishedResult)
                          .where(PublishedResult.round_id == round_.id)) == 1
    assert json.loads(stored)["published_on"] == first.published_on


@pytest.mark.parametrize("status", ["scheduled", "open"])
def test_only_closed_rounds_publish(session, settings, clock, status):
    survey = make_survey(session)
    round_ = make_round(session, survey, keys=settings, status=status)
    add_responses(session, round_, crowd({"white": 12}))
    with pytest.raises(PublicationError, match="only a closed round"):
        publish_round(session, round_, settings, clock)
    assert raw_row_counts(session, round_.id)["responses"] == 12


def test_a_crash_after_aggregation_leaves_the_round_closed_and_intact(
    session, settings, clock, monkeypatch
):
    round_, _ = closed_round(session, settings)
    before = raw_row_counts(session, round_.id)

    def broken_store(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(publish_module, "_store", broken_store)
    with pytest.raises(RuntimeError, match="disk full"):
        publish_round(session, round_, settings, clock)
    # The caller may even commit afterwards: nothing half-done is in the transaction.
    session.commit()
    session.expire_all()
    assert session.get(Round, round_.id).status == "closed"
    assert session.get(Round, round_.id).published_on is None
    assert session.get(PublishedResult, round_.id) is None
    assert raw_row_counts(session, round_.id) == before

    monkeypatch.undo()
    published = publish_round(session, session.get(Round, round_.id), settings, clock)
    assert published.responses == 12
    assert raw_row_counts(session, round_.id) == RAW_GONE


def test_a_crash_while_deleting_keeps_everything(session, settings, clock, monkeypatch):
    round_, _ = closed_round(session, settings)
    before = raw_row_counts(session, round_.id)
    monkeypatch.setattr(publish_module, "delete_raw_responses", lambda *_: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        publish_round(session, round_, settings, clock)
    session.expire_all()
    assert session.get(Round, round_.id).status == "closed"
    assert session.get(PublishedResult, round_.id) is None
    assert raw_row_counts(session, round_.id) == before


def test_the_frozen_k_of_the_round_is_used(session, settings, clock):
    round_, _ = closed_round(session, settings, crowd({"white": 6, "global_majority": 6}), k=5)
    survey = session.get(Survey, round_.survey_id)
    survey.min_group_size = 10  # raised after the round opened: the round keeps its k
    published = publish_round(session, round_, settings, clock)
    assert published.k == 5
    assert published.group_counts["ethnicity"]["white"] == 6


def with_comments(count):
    people = crowd({"white": count})
    for i, person in enumerate(people):
        person.comment = f"comment {i:03d}"
    return people


@pytest.mark.parametrize(("responses", "k", "shown"), [(9, 5, False), (10, 5, True),
                                                        (11, 12, False), (12, 12, True)])
def test_comments_need_max_k_10_responses(session, settings, clock, responses, k, shown):
    round_, _ = closed_round(session, settings, with_comments(responses), k=k)
    published = publish_round(session, round_, settings, clock)
    if shown:
        assert sorted(published.comments) == [f"comment {i:03d}" for i in range(responses)]
    else:
        assert published.comments is None
    assert stored_round(session, round_.id).comments == published.comments


def test_comments_are_shuffled_and_blank_ones_dropped(session, settings, clock):
    people = with_comments(60) + [Respondent({"psafe_2": 3}, {}, "   "), Respondent({}, {}, None)]
    round_, _ = closed_round(session, settings, people)
    published = publish_round(session, round_, settings, clock)
    in_order = [f"comment {i:03d}" for i in range(60)]
    assert sorted(published.comments) == in_order
    assert published.comments != in_order  # 1 in 60! of failing by chance


def test_no_comment_question_publishes_no_comments(session, settings, clock):
    round_, _ = closed_round(session, settings, with_comments(12), comment_question=None)
    assert publish_round(session, round_, settings, clock).comments is None


def test_retention_keeps_raw_rows_until_expiry(session, settings, clock):
    settings = settings.with_changes(raw_retention_days=30)
    round_, _ = closed_round(session, settings)
    publish_round(session, round_, settings, clock)
    counts = raw_row_counts(session, round_.id)
    # Token hashes go at once: they serve no purpose once the round has closed.
    assert counts == {**counts, "token_hashes": 0} and counts["responses"] == 12
    session.refresh(round_)
    assert round_.status == "published" and not round_.raw_deleted

    clock.advance(days=29)
    assert purge_expired_raw(session, settings, clock) == 0
    assert raw_row_counts(session, round_.id)["responses"] == 12

    clock.advance(days=1)
    assert purge_expired_raw(session, settings, clock) == 1
    assert raw_row_counts(session, round_.id) == RAW_GONE
    session.refresh(round_)
    assert round_.raw_deleted
    assert purge_expired_raw(session, settings, clock) == 0
    # The published result is untouched by the purge.
    assert stored_round(session, round_.id).responses == 12


def test_purge_leaves_unpublished_rounds_alone(session, settings, clock):
    round_, _ = closed_round(session, settings)
    clock.advance(days=400)
    assert purge_expired_raw(session, settings, clock) == 0
    assert raw_row_counts(session, round_.id)["responses"] == 12


def test_two_publishers_at_once_store_one_result(fresh_database_url, settings, clock):
    # Real commits on a fresh database, two threads each with its own connection.
    engine = make_engine(fresh_database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        round_, _ = closed_round(session, settings, crowd({"white": 12, "global_majority": 7}))
        session.commit()
        round_id = round_.id
    results, errors = [], []
    barrier = threading.Barrier(2)

    def publisher():
        try:
            with factory() as session:
                barrier.wait()
                results.append(publish_round(session, session.get(Round, round_id),
                                             settings, clock))
                session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=publisher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        assert len(results) == 2 and results[0] == results[1]
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(PublishedResult)) == 1
            assert raw_row_counts(session, round_id) == RAW_GONE
    finally:
        engine.dispose()


def test_published_on_is_a_date_only(session, settings, clock):
    clock.set(dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC))
    round_, _ = closed_round(session, settings)
    published = publish_round(session, round_, settings, clock)
    assert published.published_on == "2026-03-31"
    assert "T" not in stored_payload_text(session, round_.id).split('"published_on"')[1][:20]


def test_raw_rows_are_deleted_in_batches_when_many(session, settings, clock, monkeypatch):
    monkeypatch.setattr(erase_module, "_SQLITE_DELETE_BATCH", 5)  # SQLite only
    round_, _ = closed_round(session, settings, crowd({"white": 12}))
    other, _ = closed_round(session, settings)
    add_responses(session, round_, crowd({"global_majority": 11}))  # rows interleaved
    publish_round(session, round_, settings, clock)
    assert raw_row_counts(session, round_.id) == RAW_GONE
    assert raw_row_counts(session, other.id)["responses"] == 12
