"""Crypto-shredding: responses are sealed to a per-round key kept outside the database.

The key's file is destroyed once publication (or the retention purge) commits; a
missing key fails publication clearly and keeps the round closed.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from publish_factory import (
    ETHNICITY,
    TEAM,
    Respondent,
    add_plaintext_round,
    add_responses,
    make_round,
    make_survey,
    raw_row_counts,
)
from sqlalchemy import select, text
from surveys_testlib import every_row, open_round_now, opened, row_text, tokens_for
from surveys_testlib import make_survey as make_live_survey

from speakup import migrate
from speakup.db import make_engine, make_session_factory
from surveys import confirm, rounds
from surveys.invitations import token_key
from surveys.models import Response, Round
from surveys.publish import PublicationError, preview_suppression, publish_round, purge_expired_raw
from surveys.responses import Submission, submit_response
from surveys.round_keys import RoundKeyFolder, destruction_pending, public_bytes
from surveys.sealed_answers import SealedResponseError, Sealer, Sealers, open_blob

MARK = "shred-marker-7f3a"


def key_files(settings) -> list[str]:
    folder = settings.round_keys_folder
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def people_with_comments(n: int, tag: str = MARK) -> list[Respondent]:
    return [Respondent({"psafe_1": 3, "speak_1": 4, "wres_5": 1},
                       {"ethnicity": ("white", "global_majority")[i % 2], "team": "a"},
                       comment=f"{tag}-{i:03d}") for i in range(n)]


# --- stored with no plaintext --------------------------------------------------------


def test_a_response_is_stored_with_no_plaintext_in_any_table(session, clock, settings):
    # Given an open round and one person's answers with a marked comment and an
    # answer pattern nobody else gives (every item at its top value) …
    survey = make_live_survey(session, clock, settings, ["a@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    [token] = tokens_for(session, settings, round_, 1)
    answers = {item_id: 7 if item_id.startswith("psafe") else 5
               for item_id in survey.item_ids if not item_id.startswith("wres")}
    submit_response(session, token_key(settings), token, Submission(
        answers, {"ethnicity": "global_majority", "team": "estates"}, f"{MARK} our ward"))
    session.flush()
    # … when every row of every table is dumped (bytes as they are and as hex) …
    pattern = json.dumps(answers, separators=(",", ":"))[1:40]
    dump = [(table, row_text(row), [bytes(v) for v in row.values()
                                    if isinstance(v, bytes | memoryview)])
            for table, row in every_row(session)]
    # … then neither the comment, nor the answer pattern, nor a group answer is there.
    for needle in (MARK, pattern, "global_majority\x00", "estates\x00"):
        assert not [t for t, text_, _ in dump if needle in text_], needle
    for needle in (MARK.encode(), pattern.encode(), b'"global_majority"'):
        assert not [t for t, _, blobs in dump if any(needle in b for b in blobs)], needle
    # And yet the round's key opens exactly what was sent.
    [response] = opened(session, settings, round_)
    assert response.comment == f"{MARK} our ward" and response.answers == answers


def test_opening_writes_the_private_key_only_to_a_0600_file_in_a_0700_folder(
        session, clock, settings):
    survey = make_live_survey(session, clock, settings, ["a@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    folder = settings.round_keys_folder
    [name] = key_files(settings)
    assert name.startswith(f"round-{round_.id}-") and name.endswith(".key")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600
    private = (folder / name).read_bytes()
    assert len(private) == 32 and len(round_.public_key) == 32
    # No table holds the private key (raw or hex): only the public one is on the row.
    rows = [(t, row_text(r)) for t, r in every_row(session)]
    assert not [t for t, r in rows if private.hex() in r]
    assert [t for t, r in rows if round_.public_key.hex() in r] == ["rounds"]
    # Opening again does nothing, and leaves no second key file behind.
    assert not rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
    assert key_files(settings) == [name]


def test_blobs_are_padded_so_length_says_little(session, settings):
    round_ = make_round(session, make_survey(session), keys=settings)
    add_responses(session, round_, [Respondent({"psafe_1": 1}),
                                    Respondent({i: 2 for i in ("psafe_1", "psafe_2", "speak_1",
                                                               "speak_2", "wres_5")},
                                               {"ethnicity": "white", "team": "a"}, "short")])
    lengths = {len(b) for b in session.scalars(select(Response.sealed))}
    assert lengths == {1 + 32 + 12 + 256 + 16}


def test_a_sealed_response_moved_to_another_round_does_not_open(session, settings):
    survey = make_survey(session)
    first = make_round(session, survey, keys=settings)
    add_responses(session, first, people_with_comments(1))
    blob = session.scalars(select(Response.sealed)).one()
    folder = RoundKeyFolder.of(settings)
    private = folder.load(first.id, first.public_key)
    assert open_blob(first.id, private, blob).comment == f"{MARK}-000"
    with pytest.raises(SealedResponseError):
        open_blob(first.id + 1, private, blob)  # the round id is bound in
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(SealedResponseError):
        open_blob(first.id, private, bytes(tampered))


def test_one_process_seals_a_round_under_one_sealer(session, settings):
    round_ = make_round(session, make_survey(session), keys=settings)
    sealers = Sealers()
    add_responses(session, round_, people_with_comments(5), sealers)
    add_responses(session, round_, people_with_comments(5), sealers)
    blobs = session.scalars(select(Response.sealed)).all()
    assert len({bytes(b)[1:33] for b in blobs}) == 1
    assert len({bytes(b)[33:45] for b in blobs}) == 10  # a fresh nonce each


# --- publication destroys the key, after the commit ----------------------------------


def test_publication_destroys_the_key_file_once_it_commits(session, settings, clock):
    survey = make_survey(session)
    round_ = make_round(session, survey, keys=settings, k=3)
    add_responses(session, round_, people_with_comments(12))
    [name] = key_files(settings)
    published = publish_round(session, round_, settings, clock)
    # Not before the commit: a rollback must leave a publishable round …
    assert key_files(settings) == [name]
    assert destruction_pending(session) == [(round_.id, round_.public_key)]
    session.commit()
    # … and at once after it: the file is gone, and the figures are stored.
    assert key_files(settings) == []
    assert published.responses == 12 and sorted(published.comments) == [
        f"{MARK}-{i:03d}" for i in range(12)]


def test_a_rolled_back_publication_keeps_the_key_and_the_round(session, settings, clock):
    round_ = make_round(session, make_survey(session), keys=settings, k=3)
    add_responses(session, round_, people_with_comments(12))
    session.commit()
    publish_round(session, round_, settings, clock)
    session.rollback()
    assert len(key_files(settings)) == 1 and destruction_pending(session) == []
    round_ = session.get(Round, round_.id, populate_existing=True)
    assert round_.status == "closed"
    assert publish_round(session, round_, settings, clock).responses == 12


def test_publication_without_the_key_file_fails_clearly_and_keeps_the_round_closed(
        session, settings, clock):
    round_ = make_round(session, make_survey(session), keys=settings, k=3)
    add_responses(session, round_, people_with_comments(12))
    [name] = key_files(settings)
    (settings.round_keys_folder / name).unlink()
    with pytest.raises(PublicationError) as caught:
        publish_round(session, round_, settings, clock)
    assert str(settings.round_keys_folder / name) in str(caught.value)
    assert "SPEAKUP_ROUND_KEYS_PATH" in str(caught.value)
    session.refresh(round_)
    assert round_.status == "closed" and raw_row_counts(session, round_.id)["responses"] == 12
    # The admins' preview says the same, where it is asked on a host without the keys.
    with pytest.raises(PublicationError, match="SPEAKUP_ROUND_KEYS_PATH"):
        preview_suppression(session, round_, settings)
    page = confirm.preview_round_action(session, round_, "publish", settings, clock)
    assert page.suppression_problem and str(settings.round_keys_folder) in page.suppression_problem


def test_a_key_file_of_another_key_is_refused(session, settings, clock):
    round_ = make_round(session, make_survey(session), keys=settings, k=3)
    add_responses(session, round_, people_with_comments(12))
    [name] = key_files(settings)
    (settings.round_keys_folder / name).write_bytes(os.urandom(32))
    with pytest.raises(PublicationError, match="does not hold round"):
        publish_round(session, round_, settings, clock)


def test_with_retention_the_key_is_destroyed_at_the_purge(session, settings, clock):
    settings = settings.with_changes(raw_retention_days=30)
    round_ = make_round(session, make_survey(session), keys=settings, k=3)
    add_responses(session, round_, people_with_comments(12))
    publish_round(session, round_, settings, clock)
    session.commit()
    assert len(key_files(settings)) == 1  # kept with the raw rows …
    assert len(opened(session, settings, round_)) == 12
    clock.advance(days=30)
    assert purge_expired_raw(session, settings, clock) == 1
    assert len(key_files(settings)) == 1  # … until the purge commits
    session.commit()
    assert key_files(settings) == []


def test_a_round_that_never_opened_publishes_nothing_without_a_key(session, settings, clock):
    round_ = make_round(session, make_survey(session), keys=settings, k=3)
    round_.public_key = None
    session.flush()
    assert publish_round(session, round_, settings, clock).responses is None


# --- migration 0014 seals what is there, and opens it again on the way down -------------


def test_migration_0014_seals_open_and_closed_rounds_and_unseals_them(
        empty_database_url, tmp_path, monkeypatch):
    url = empty_database_url
    keys = tmp_path / "round-keys"
    monkeypatch.setenv("SPEAKUP_ROUND_KEYS_PATH", str(keys))
    migrate.upgrade(url, "0013")
    engine = make_engine(url)
    people = [Respondent({"psafe_1": 3, "speak_1": i % 5 + 1},
                         {"ethnicity": "white"}, comment=f"{MARK}-{i}") for i in range(4)]
    people.append(Respondent({"wres_5": 0}, {}, None))
    try:
        with make_session_factory(engine)() as session:
            survey = make_survey(session, demographics=(ETHNICITY, TEAM))
            open_id, _ = add_plaintext_round(session, survey, people, status="open")
            closed_id, _ = add_plaintext_round(session, survey, people, status="closed")
            empty_open_id, _ = add_plaintext_round(session, survey, [], status="open")
            done_id, _ = add_plaintext_round(session, survey, [], status="published",
                                             raw_deleted=True)
            session.commit()
        migrate.upgrade(url, "0014")
        with make_session_factory(engine)() as session:
            tables = set(session.scalars(text(
                "SELECT name FROM sqlite_master WHERE type = 'table'" if url.startswith("sqlite")
                else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
            assert not {"response_answers", "response_groups"} & tables
            assert MARK.encode() not in b"".join(
                bytes(b) for b in session.scalars(text("SELECT sealed FROM responses")))
            folder = RoundKeyFolder(keys)
            for round_id in (open_id, closed_id):
                public = session.scalar(text("SELECT public_key FROM rounds WHERE id = :r"),
                                        {"r": round_id})
                private = folder.load(round_id, bytes(public))
                got = sorted((open_blob(round_id, private, bytes(b)) for b in session.scalars(
                    text("SELECT sealed FROM responses WHERE round_id = :r"), {"r": round_id})),
                    key=lambda r: r.comment or "")
                assert [(r.answers, r.groups, r.comment) for r in got] == sorted(
                    [(p.answers, p.groups, p.comment) for p in people],
                    key=lambda t: t[2] or "")
            # An open round with no answers yet still gets its key (answers will come);
            # a published round whose raw rows are gone needs none.
            assert folder.holds(empty_open_id, bytes(session.scalar(
                text("SELECT public_key FROM rounds WHERE id = :r"), {"r": empty_open_id})))
            assert session.scalar(text("SELECT public_key FROM rounds WHERE id = :r"),
                                  {"r": done_id}) is None
        engine.dispose()
        migrate.downgrade(url, "0013")
        with make_session_factory(engine)() as session:
            comments = sorted(session.scalars(text(
                "SELECT comment FROM responses WHERE round_id = :r AND comment IS NOT NULL"),
                {"r": closed_id}))
            assert comments == [f"{MARK}-{i}" for i in range(4)]
            assert session.scalar(text(
                "SELECT count(*) FROM response_answers WHERE round_id = :r"), {"r": open_id}) == 9
        engine.dispose()
        migrate.upgrade(url, "head")
    finally:
        engine.dispose()


def test_migration_0014_down_without_the_key_stops_and_names_the_file(
        empty_database_url, tmp_path, monkeypatch):
    url = empty_database_url
    monkeypatch.setenv("SPEAKUP_ROUND_KEYS_PATH", str(tmp_path / "round-keys"))
    migrate.upgrade(url, "0013")
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            add_plaintext_round(session, make_survey(session), people_with_comments(2))
            session.commit()
        engine.dispose()
        migrate.upgrade(url, "0014")
        for path in (tmp_path / "round-keys").iterdir():
            path.unlink()
        with pytest.raises(Exception, match=r"round-keys/round-\d+-[0-9a-f]{16}\.key"):
            migrate.downgrade(url, "0013")
    finally:
        engine.dispose()


def test_blob_layout_is_what_the_module_says():
    # version || sealer public key (32) || nonce (12) || ciphertext of a padded bucket + tag
    private = X25519PrivateKey.generate()
    sealer = Sealer(9, public_bytes(private))
    blob = sealer.seal({"psafe_1": 2}, {}, "x" * 300)
    assert blob[0] == 1 and blob[1:33] == sealer.public
    assert len(blob) == 1 + 32 + 12 + 512 + 16
    assert open_blob(9, private, blob).comment == "x" * 300


def test_destroying_overwrites_the_key_in_place_before_unlinking(session, settings):
    round_ = make_round(session, make_survey(session), keys=settings)
    folder = RoundKeyFolder.of(settings)
    path = folder.file_for(round_.id, round_.public_key)
    original = path.read_bytes()
    witness = settings.instance_path / "witness"
    os.link(path, witness)  # a second name for the same inode sees what happens to it
    assert folder.destroy(round_.id, round_.public_key)
    assert not path.exists()
    assert len(witness.read_bytes()) == 32 and witness.read_bytes() != original
    assert not folder.destroy(round_.id, round_.public_key)  # already gone: harmless


def test_a_process_that_loses_the_opening_race_discards_its_own_key(session, clock, settings):
    survey = make_live_survey(session, clock, settings, ["a@example.org"])
    round_ = rounds.add_round(session, survey, clock.now())
    session.flush()
    # Another process opens the round first; this one still holds it as scheduled.
    session.execute(text("UPDATE rounds SET status = 'open', public_key = :k WHERE id = :r"),
                    {"k": os.urandom(32), "r": round_.id})
    assert round_.status == "scheduled"
    assert not rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
    assert key_files(settings) == []
