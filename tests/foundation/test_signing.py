"""Signed publications (issue 22): the key, the append-only log, and the offline verifier.

The verifier is run the way a journalist would run it: the one file, by a Python that
sees nothing but the standard library and `cryptography` (no Speak Up, no site-packages).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_SECRET
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from verifier_support import isolated_verifier, run_isolated

from speakup import publication_log, signing, verify_report
from speakup.cli import main
from speakup.clock import FrozenClock
from speakup.db import make_engine, make_session_factory
from speakup.derived_keys import session_keys
from speakup.models import PublicationLogEntry, SigningKey

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 2)


def publish(session, n: int = 3) -> list[PublicationLogEntry]:
    out = []
    for i in range(n):
        entry = publication_log.record(
            session, kind=publication_log.SURVEY_ROUND, ref=str(i + 1),
            payload={"round": i + 1, "favourable": 0.6 + i / 100, "groups": {"a": None, "b": 7},
                     "label": "März – café"},
            published_on=DAY + dt.timedelta(days=30 * i))
        assert entry is not None
        out.append(entry)
    return out


def write(tmp_path: Path, name: str, document: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False))
    return str(path)


def run_inline(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return verify_report.run(list(args), out), out.getvalue()


# --- the key ---------------------------------------------------------------------------------


def test_the_first_publication_makes_a_sealed_key_that_a_copy_of_the_database_cannot_use(
    session, clock
):
    publish(session, 1)
    row = signing.active_key(session)
    assert row is not None and len(signing.all_keys(session)) == 1
    private = signing.private_key(session, row)
    raw = private.private_bytes_raw()
    # The private half is stored only sealed: neither its bytes nor their encodings appear.
    stored = " ".join(str(v) for v in session.execute(select(SigningKey.__table__)).one())
    for form in (raw.hex(), base64.b64encode(raw).decode()):
        assert form not in stored
    assert publication_log.init_signing_key(session, clock) is None  # never a second first key
    # A database copy opened under another secret cannot unseal it.
    session.info.update(signing_seal_key=session_keys("another secret " + "z" * 40)
                        ["signing_seal_key"])
    with pytest.raises(signing.SigningError, match="SPEAKUP_SECRET_KEY"):
        signing.private_key(session, row)


def test_a_session_without_the_seal_key_signs_nothing(session):
    session.info.pop("signing_seal_key")
    assert publication_log.record(session, kind=publication_log.SURVEY_ROUND, ref="1",
                                  payload={}, published_on=DAY) is None
    assert publication_log.entries(session) == []


def test_fingerprints_read_as_printed():
    fp = "ab" * 32
    assert signing.grouped(fp).count(" ") == 15
    assert signing.normalise_fingerprint(signing.grouped(fp).upper()) == fp
    assert signing.normalise_fingerprint(":".join(fp[i:i + 2] for i in range(0, 64, 2))) == fp
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        signing.normalise_fingerprint("abcd")


# --- the log ---------------------------------------------------------------------------------


def test_the_log_verifies_end_to_end_across_a_key_rotation(session, clock):
    publish(session, 2)
    first = signing.active_key(session)
    second = publication_log.rotate_signing_key(session, clock)
    publication_log.record(session, kind=publication_log.CONCERN_QUARTER, ref="2026-Q1",
                           payload={"received": None}, published_on=DAY)
    document = json.loads(json.dumps(publication_log.log_document(session)))
    found = verify_report.verify_log(document)
    assert [h["kind"] for h in found.headers] == [
        "signing-key", "survey-round", "survey-round", "signing-key", "concern-quarter"]
    assert found.keys == [first.fingerprint, second.fingerprint]
    # The rotation is signed by the old key; everything after it by the new one.
    assert found.headers[3]["key"] == first.fingerprint
    assert found.headers[4]["key"] == second.fingerprint
    # Either announced fingerprint vouches for the whole chain.
    for fp in found.keys:
        verify_report.verify_log(document, pinned=fp)
    with pytest.raises(verify_report.VerificationError, match="Wrong key"):
        verify_report.verify_log(document, pinned="ab" * 32)


def test_the_tables_refuse_update_and_delete_at_the_database(session):
    publish(session, 1)
    for statement in (update(PublicationLogEntry).values(payload="{}"),
                      delete(PublicationLogEntry),
                      update(SigningKey).values(created_on=DAY),
                      delete(SigningKey)):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(statement)
    assert len(publication_log.entries(session)) == 2


def test_no_code_updates_or_deletes_a_published_entry():
    pattern = re.compile(r"\b(update|delete)\(\s*(PublicationLogEntry|SigningKey)\b|"
                         r"(UPDATE|DELETE FROM)\s+(publication_log|signing_keys)\b")
    offenders = [str(path.relative_to(REPO)) for package in ("speakup", "surveys", "concerns",
                                                             "review")
                 for path in (REPO / package).rglob("*.py") if pattern.search(path.read_text())]
    assert offenders == []


def test_a_correction_is_a_new_entry_pointing_to_what_it_replaces(session, tmp_path):
    first, *_ = publish(session, 2)
    with pytest.raises(publication_log.LogError, match="must name the entry it replaces"):
        publication_log.record(session, kind=publication_log.SURVEY_ROUND, ref="1",
                               payload={"round": 1}, published_on=DAY)
    with pytest.raises(publication_log.LogError, match="same thing"):
        publication_log.record(session, kind=publication_log.SURVEY_ROUND, ref="2",
                               payload={"round": 2}, published_on=DAY, replaces=first.seq)
    fixed = publication_log.record(session, kind=publication_log.SURVEY_ROUND, ref="1",
                                   payload={"round": 1, "favourable": 0.61}, published_on=DAY,
                                   replaces=first.seq)
    assert fixed is not None and json.loads(fixed.header)["replaces"] == first.seq
    assert publication_log.entry(session, first.seq).payload == first.payload  # untouched
    log = write(tmp_path, "log.json", publication_log.log_document(session))
    old = write(tmp_path, "old.json", publication_log.signed_file(session, first))
    new = write(tmp_path, "new.json", publication_log.signed_file(session, fixed))
    assert run_inline(new, "--log", log)[0] == 0
    code, said = run_inline(old, "--log", log)
    assert code == 1 and f"was corrected by entry {fixed.seq}: it is out of date" in said


def test_two_publishers_at_once_queue_and_each_extends_the_chain(fresh_database_url):
    """The second publisher waits for the first to commit, then chains onto its entry."""
    engine = make_engine(fresh_database_url)
    factory = make_session_factory(engine, session_keys(TEST_SECRET))
    try:
        with factory() as session:
            publication_log.init_signing_key(session, FrozenClock())
            session.commit()
        first = factory()
        publication_log.record(first, kind=publication_log.SURVEY_ROUND, ref="1",
                               payload={"n": 1}, published_on=DAY)
        done = threading.Event()

        def second() -> None:
            with factory() as session:
                publication_log.record(session, kind=publication_log.SURVEY_ROUND, ref="2",
                                       payload={"n": 2}, published_on=DAY)
                session.commit()
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(1.0)  # queued behind the first, uncommitted, append
        first.commit()
        first.close()
        thread.join(30)
        assert done.is_set()
        with factory() as session:
            found = verify_report.verify_log(publication_log.log_document(session))
    finally:
        engine.dispose()
    assert [(h["seq"], h["ref"]) for h in found.headers[1:]] == [(2, "1"), (3, "2")]


# --- the verifier, as a stranger runs it -------------------------------------------------------


@pytest.fixture
def published(session, clock, tmp_path):
    """A log of six entries (with a rotation) and the file of its fourth publication."""
    entries = publish(session, 3)
    publication_log.rotate_signing_key(session, clock)
    last = publication_log.record(session, kind=publication_log.PROGRESS_REPORT,
                                  ref=DAY.isoformat(), payload={"schema": "x", "goals": []},
                                  published_on=DAY)
    return {"log": publication_log.log_document(session),
            "file": publication_log.signed_file(session, last),
            "first_file": publication_log.signed_file(session, entries[0]),
            "keys": [k.fingerprint for k in signing.all_keys(session)]}


def test_the_single_file_verifier_needs_only_cryptography_and_accepts_genuine_files(
    published, tmp_path
):
    folder = isolated_verifier(tmp_path)
    probe = subprocess.run([sys.executable, "-E", "-S", "-c", "import speakup"], cwd=folder,
                           capture_output=True, text=True, check=False)
    assert "No module named 'speakup'" in probe.stderr  # it really cannot lean on Speak Up
    log = write(tmp_path, "log.json", published["log"])
    report = write(tmp_path, "report.json", published["file"])
    old_key = signing.grouped(published["keys"][0])
    result = run_isolated(folder, report, "--key", old_key, "--log", log)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature good: entry 6, progress-report" in result.stdout
    assert "It is entry 6 of the log, which is intact (6 entries)" in result.stdout
    result = run_isolated(folder, log, "--key", published["keys"][1])
    assert result.returncode == 0 and "Log intact: 6 entries" in result.stdout


def _removed(log):
    del log["entries"][2]
    return "Entry 3 of the log says it is entry 4: an entry was removed, reordered or replayed"


def _reordered(log):
    log["entries"][1], log["entries"][2] = log["entries"][2], log["entries"][1]
    return "Entry 2 of the log says it is entry 3: an entry was removed, reordered or replayed"


def _replayed(log):
    log["entries"].append(copy.deepcopy(log["entries"][1]))
    return "Entry 7 of the log says it is entry 2: an entry was removed, reordered or replayed"


def _renumbered_replay(log):
    """A replay dressed up with the next number: the signature no longer matches."""
    entry = log["entries"][1]
    header = json.loads(entry["header"])
    header.update(seq=7, prev=verify_report._sha256(log["entries"][-1]["header"]))
    log["entries"].append({**entry, "header": json.dumps(header, separators=(",", ":"))})
    return "Entry 7 (survey-round 1): the signature does not match"


@pytest.mark.parametrize("tamper", [_removed, _reordered, _replayed, _renumbered_replay])
def test_the_verifier_names_a_removed_reordered_or_replayed_entry(published, tmp_path, tamper):
    folder = isolated_verifier(tmp_path)
    log = copy.deepcopy(published["log"])
    message = tamper(log)
    result = run_isolated(folder, write(tmp_path, "log.json", log))
    assert result.returncode == 1
    assert result.stdout.startswith("NOT VERIFIED: ") and message in result.stdout, result.stdout


def test_the_verifier_names_a_wrong_key_and_a_cut_short_log(published, tmp_path):
    folder = isolated_verifier(tmp_path)
    report = write(tmp_path, "report.json", published["file"])
    result = run_isolated(folder, report, "--key", "ab" * 32)
    assert result.returncode == 1
    assert "Wrong key: this was signed by key " in result.stdout
    assert "the key you trust (abab abab abab abab …) is not in its chain" in result.stdout
    short = copy.deepcopy(published["log"])
    del short["entries"][-1]
    result = run_isolated(folder, report, "--log", write(tmp_path, "short.json", short))
    assert result.returncode == 1
    assert "The log ends at entry 5 but this publication is entry 6: the log was cut short" \
        in result.stdout


def test_a_one_byte_change_anywhere_in_a_signed_file_is_detected(published, tmp_path):
    """Every byte of the file, changed in turn: either nothing signed changed, or it fails."""
    original = json.dumps(published["first_file"], indent=1).encode()
    genuine = json.loads(original)
    path = tmp_path / "file.json"
    path.write_bytes(original)
    assert run_inline(str(path))[0] == 0
    reasons = set()
    for at in range(len(original)):
        changed = bytearray(original)
        changed[at] = ord("x") if changed[at] != ord("x") else ord("y")
        path.write_bytes(bytes(changed))
        code, said = run_inline(str(path))
        try:
            same = json.loads(bytes(changed)) == genuine
        except ValueError:
            same = False
        assert code == 1 or same, f"byte {at} changed and still verified: {said}"
        if code == 1:
            reasons.add(said)
    # The messages say what happened, not just "invalid".
    for expected in ("is not JSON", "the signature does not match",
                     "the figures do not match the signed hash", "base64"):
        assert any(expected in r for r in reasons), expected
    # And the stranger's own run of one such change.
    folder = isolated_verifier(tmp_path)
    figure = original.index(b"0.6")
    changed = original[:figure] + b"0.7" + original[figure + 3:]
    path.write_bytes(changed)
    result = run_isolated(folder, str(path))
    assert result.returncode == 1
    assert "the figures do not match the signed hash" in result.stdout


def test_speakup_verify_is_the_same_check(published, tmp_path):
    runner = CliRunner()
    good = write(tmp_path, "report.json", published["file"])
    result = runner.invoke(main, ["verify", good, "--key", published["keys"][0]])
    assert result.exit_code == 0 and "Signature good" in result.output
    bad = copy.deepcopy(published["file"])
    bad["signature"] = published["first_file"]["signature"]
    result = runner.invoke(main, ["verify", write(tmp_path, "bad.json", bad)])
    assert result.exit_code == 1 and "the signature does not match" in result.output


def test_db_upgrade_makes_the_key_once_and_the_cli_rotates_it(
    fresh_database_url, tmp_path
):
    env = {"SPEAKUP_INSTANCE_PATH": str(tmp_path / "instance"), "SPEAKUP_SECRET_KEY": TEST_SECRET,
           "SPEAKUP_DATABASE_URL": fresh_database_url}
    runner = CliRunner()
    made = runner.invoke(main, ["db", "upgrade"], env=env)
    assert made.exit_code == 0, made.output
    printed = re.search(r"Signing key fingerprint: ((?:[0-9a-f]{4} ?){16})", made.output)
    assert printed, made.output
    for command in (["init"], ["keys", "init-signing"], ["db", "upgrade"]):
        again = runner.invoke(main, command, env=env)
        assert again.exit_code == 0 and printed.group(0) in again.output  # the same key
    rotated = runner.invoke(main, ["keys", "rotate-signing"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert f"Old signing key: {printed.group(1).strip()}" in rotated.output
    engine = make_engine(fresh_database_url)
    try:
        with make_session_factory(engine, session_keys(TEST_SECRET))() as session:
            found = verify_report.verify_log(
                json.loads(json.dumps(publication_log.log_document(session))),
                pinned=signing.normalise_fingerprint(printed.group(1)))
    finally:
        engine.dispose()
    assert [h["kind"] for h in found.headers] == ["signing-key", "signing-key"]


def test_init_before_the_database_exists_says_what_makes_the_key(tmp_path):
    env = {"SPEAKUP_INSTANCE_PATH": str(tmp_path / "instance"), "SPEAKUP_SECRET_KEY": None,
           "SPEAKUP_DATABASE_URL": None}
    result = CliRunner().invoke(main, ["init"], env=env)
    assert result.exit_code == 0, result.output
    assert "The signing key is made by `speakup db upgrade`." in result.output


@pytest.mark.parametrize("document", [
    [], "text", {"format": verify_report.LOG_FORMAT, "entries": [1]},
    {"format": verify_report.LOG_FORMAT, "entries": {"a": 1}},
    {"format": verify_report.LOG_FORMAT, "entries": [{"header": "{}"}]},
    {"format": verify_report.LOG_FORMAT, "entries": []},
    {"format": verify_report.FILE_FORMAT},
    {"format": verify_report.FILE_FORMAT, "header": json.dumps(
        {"format": verify_report.HEADER_FORMAT, "seq": 1}), "keys": [{"payload": 3}]},
])
def test_a_malformed_file_gets_one_clear_line_not_a_traceback(document, tmp_path):
    code, said = run_inline(write(tmp_path, "odd.json", document))
    assert code == 1 and said.startswith("NOT VERIFIED: ") and said.count("\n") == 1, said
