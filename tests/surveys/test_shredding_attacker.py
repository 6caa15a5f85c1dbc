"""The attacker who kept a backup taken while a round was open, tried after its publication.

PostgreSQL: a real ``pg_basebackup`` (plain format, WAL streamed in) of the running
server, then every file of that backup and of the live data directory (the test
database's ``base/<oid>/`` and ``pg_wal/``). SQLite: a copy of the database files
(the database and its ``-wal``; the key folder is not part of a database backup).

The attacker holds the backup, the live database files after publication, the
instance folder and ``SPEAKUP_SECRET_KEY``. They find no answer or comment in plain
text anywhere, and cannot open the sealed responses the backup holds: the round's
private key is in no byte they have. The same attacker given the key file (the
destruction skipped: an operator who kept a copy of the key folder) opens every
blob and reads every marked comment — so the test can fail.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
from pathlib import Path

from conftest import TEST_SECRET
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from surveys_testlib import addresses, make_survey, open_round_now, tokens_for

from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.derived_keys import session_keys
from speakup.settings import Settings
from surveys import rounds
from surveys.invitations import token_key
from surveys.models import Response, Round
from surveys.responses import Submission, submit_response
from surveys.sealed_answers import SealedResponseError, Sealers, open_blob


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _take_backup(url: str, engine, destination: Path) -> dict[str, bytes]:  # noqa: ANN001
    """The operator's routine backup, taken while the round is open."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = Path(parsed.database)
        destination.mkdir()
        for path in database.parent.glob(f"{database.name}*"):
            shutil.copy2(path, destination / path.name)
        return _files(destination)
    # Plain format with the WAL streamed in: what a restore would start from.
    subprocess.run(["pg_basebackup", "-h", parsed.host or "127.0.0.1",
                    "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres",
                    "-D", str(destination), "-Fp", "-Xs", "-c", "fast", "--no-sync"],
                   check=True, capture_output=True, timeout=300)
    return _files(destination)


def _live_files(url: str, engine) -> dict[str, bytes]:  # noqa: ANN001
    """Every file of the live database an attacker could copy after publication."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = Path(parsed.database)
        return {p.name: p.read_bytes() for p in database.parent.glob(f"{database.name}*")}
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))  # what is in shared buffers reaches the files
        data = Path(conn.scalar(text("SHOW data_directory")))
        oid = conn.scalar(text("SELECT oid FROM pg_database WHERE datname = current_database()"))
    files = {f"base/{oid}/{k}": v for k, v in _files(data / "base" / str(oid)).items()}
    files.update({f"pg_wal/{k}": v for k, v in _files(data / "pg_wal").items()})
    return files


def _found(files: dict[str, bytes], needle: bytes) -> list[str]:
    return [name for name, content in files.items() if needle in content]


def test_a_backup_taken_while_open_cannot_be_read_after_publication(
        fresh_database_url, tmp_path):
    url = fresh_database_url
    instance = tmp_path / "instance"
    settings = Settings(instance_path=instance, database_url=url, secret_key=TEST_SECRET)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    clock = SystemClock()
    tag = secrets.token_hex(6)
    markers = [f"shred-comment-{tag}-{n}" for n in range(6)]
    try:
        # Given an open round (k = 3) and six people who answer, each with a marked
        # comment (six: fewer than the ten a round needs before comments are published) …
        with factory() as session:
            survey = make_survey(session, clock, settings, addresses(6),
                                 title=f"Pulse {tag}")
            round_ = open_round_now(session, clock, survey, settings)
            tokens = tokens_for(session, settings, round_, 6)
            session.commit()
            round_id = round_.id
        sealers = Sealers()  # one web process
        for n, (token, marker) in enumerate(zip(tokens, markers, strict=True)):
            with factory() as session:
                submit_response(session, token_key(settings), token, Submission(
                    {"psafe_1": n % 7 + 1, "speak_1": 4, "wres_5": 1},
                    {"ethnicity": ("white", "global_majority")[n % 2], "team": "prefer_not"},
                    marker), sealers=sealers)
                session.commit()
        # … and an operator's backup taken while the round is open.
        backup = _take_backup(url, engine, tmp_path / "backup")
        with factory() as session:
            blobs = [bytes(b) for b in session.scalars(
                select(Response.sealed).where(Response.round_id == round_id))]
        [key_file] = list(settings.round_keys_folder.iterdir())
        kept_key = key_file.read_bytes()  # the control below: an operator who kept it
        # The backup holds every sealed response, byte for byte, and no comment in clear.
        assert len(blobs) == 6 and all(_found(backup, blob) for blob in blobs)
        assert [m for m in markers if _found(backup, m.encode())] == []

        # When the scheduler closes and publishes the round …
        with factory() as session:
            rounds.close_round(session, session.get(Round, round_id), clock)
            session.commit()
        with factory() as session:
            published = rounds.publish(session, session.get(Round, round_id), settings, clock)
            session.commit()
        assert published.responses == 6 and published.comments is None
        assert list(settings.round_keys_folder.iterdir()) == []

        # … then the attacker holds the backup, the live files and the instance folder.
        held = {**{f"backup/{k}": v for k, v in backup.items()},
                **{f"live/{k}": v for k, v in _live_files(url, engine).items()},
                **{f"instance/{k}": v for k, v in _files(instance).items()}}
        # The scan reads the right files: the survey's title is there in plain text …
        assert _found(held, f"Pulse {tag}".encode())
        # … but no comment, in any file, and no answer vector in clear.
        assert [(m, _found(held, m.encode())) for m in markers
                if _found(held, m.encode())] == []
        assert _found(held, b'"psafe_1":1,"speak_1":4') == []
        # The round's private key is in no byte they hold (raw or hex) …
        assert _found(held, kept_key) == [] and _found(held, kept_key.hex().encode()) == []
        # … and every key they can make from what they hold fails to open a blob.
        candidates = [*session_keys(TEST_SECRET).values(),
                      hashlib.sha256(TEST_SECRET.encode()).digest(),
                      TEST_SECRET.encode()[:32]]
        # Every 32-byte window of the instance folder and of an SQLite database (a
        # PostgreSQL data directory is too large to try whole: the check above covers it).
        for name, content in held.items():
            if name.startswith("instance/") or url.startswith("sqlite"):
                candidates += [content[i:i + 32] for i in range(0, len(content) - 31, 32)]
        opened_without_key = 0
        for candidate in {c for c in candidates if len(c) == 32}:
            private = X25519PrivateKey.from_private_bytes(candidate)
            try:
                open_blob(round_id, private, blobs[0])
                opened_without_key += 1
            except SealedResponseError:
                pass
        assert opened_without_key == 0

        # Control: the same attacker with the key file kept opens every blob of the
        # backup and reads every marked comment.
        private = X25519PrivateKey.from_private_bytes(kept_key)
        read = sorted(open_blob(round_id, private, blob).comment or "" for blob in blobs)
        assert read == sorted(markers)
    finally:
        engine.dispose()
