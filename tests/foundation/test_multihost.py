"""Two web hosts and two schedulers on one PostgreSQL keep every promise (issue 23).

Two gunicorn instances (their own loopback ports and instance folders, the same
SPEAKUP_SECRET_KEY and database) and `speakup scheduler` processes run a survey round of
ADDRESSES (1,000) invited addresses through a real SMTP server (aiosmtpd in this
process): opening, invitations, a reminder, closing and publication; three days of the
handlers' daily summary; and the quarterly concern publication. One active scheduler is
killed with SIGKILL while it is sending invitations and publishing a quarter, another
while it is publishing the round; the waiting one takes over.

Time is simulated in the database only where waiting would take minutes or days: a
killed holder's lease, mail claim and the next day's summary are moved back as the
clock would have moved them; a reminder and the round's end are made due now. Each
hand-over is a real scheduler process gaining the lease, which runs every job at once.

"Exactly once" is proven for a kill before the mail server acknowledged the message in
flight (the SMTP server holds that message until the kill): a sender killed between the
server's acknowledgement and its own commit would send that one message again after the
claim goes stale, as surveys/invitations.py says; SMTP offers nothing better.

The single-host references are computed in this process while the killed scheduler
was storing: the same closed round read and decided (surveys.publish.read_round and
decide_round), and the due quarters published in a transaction rolled back. What the
surviving schedulers stored must be byte-identical to them (a quarter's audit-chain
head hash apart: it records when it was published).

Size and time: 1,000 addresses, 24 respondents answering through both hosts; five to seven
minutes on the shared 2-core development machine, nearly all of it waiting for the
schedulers' one-minute job ticks and 20-second lease renewals (35-60 s of CPU in
the test process).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import http.cookiejar
import json
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiosmtpd.controller import Controller
from conftest import (
    PASSWORD,
    TEST_SECRET,
    VENV_BIN,
    LiveServer,
    _new_database,
    add_concern_reader,
    server_env,
    start_gunicorn,
    stop_server,
)
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from concerns import keys, publication
from concerns.config import ConcernConfig
from concerns.digest import DIGEST_SUBJECT
from concerns.models import ConcernStatsPublication, HandlerProfile
from speakup import accounts, migrate
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory, read_only_session
from speakup.derived_keys import session_keys
from speakup.models import AuditEntry, PublicationLogEntry, SchedulerLease
from speakup.settings import Settings
from surveys import admin_services, audience, rounds
from surveys.models import MailJob, MailStatus, Round, RoundStatus
from surveys.publish import decide_round, read_round
from surveys.published import published_round

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("multihost")]

ADDRESSES = 1000
STALL_AT = ADDRESSES * 2 // 5  # the invitation the SMTP server holds until the kill
RESPONDENTS = 24
CHECKS_PER_RECEIPT = 4
SECRET = TEST_SECRET  # the one SPEAKUP_SECRET_KEY of every host and scheduler
LINK_RE = re.compile(r"/s/([A-Za-z0-9_-]{32})")
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'type="hidden" name="csrf_token" value="([^"]+)"|'
                     r'name="csrf_token" value="([^"]+)"')
RECEIPT_RE = re.compile(r'id="receipt"[^>]*>(.*?)</p>', re.S)
SPEC: dict[str, Any] = {
    "title": "Many hosts pulse",
    "instruments": ["psafe", "speak", "wres"],
    "demographics": [
        {"id": "ethnicity", "label": "Which ethnicity group do you identify with?",
         "options": [{"id": "global_majority", "label": "Global Majority"},
                     {"id": "white", "label": "White"}]},
        {"id": "team", "label": "Which team?", "options": ["Nursing", "Estates"]},
    ],
    "comment_question": "Anything else?",
    "schedule": "weekly, Monday 09:00",
    "timezone": "Europe/London",
    "open_days": 3,
    "reminder_offsets_days": [1, 2],
    "min_group_size": 3,
}


# --- the SMTP server ----------------------------------------------------------------


def body_of(message: Message) -> str:
    if message.is_multipart():
        return "".join(body_of(part) for part in message.get_payload())  # type: ignore[union-attr]
    payload = message.get_payload(decode=True)
    return payload.decode(message.get_content_charset() or "utf-8") if payload else ""


@dataclass
class Sink:
    """Keeps what it accepts; holds one invitation (no answer) until `release` is set."""

    stall_at: int
    accepted: list[Message] = field(default_factory=list)
    invitations: int = 0
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        if LINK_RE.search(body_of(message)):
            if self.invitations == self.stall_at and not self.release.is_set():
                self.stalled.set()
                while not self.release.is_set():
                    await asyncio.sleep(0.05)
                return "451 4.3.0 Try again later"  # never accepted: not delivered
            self.invitations += 1
        self.accepted.append(message)
        return "250 Message accepted"

    def to(self, kind: str) -> Counter[str]:
        """Messages accepted per recipient: invitations, reminders or digests."""
        counts: Counter[str] = Counter()
        for message in list(self.accepted):
            subject, body = str(message["Subject"]), body_of(message)
            recipient = str(message["X-Envelope-To"])
            if subject == DIGEST_SUBJECT:
                found = "digest"
            elif LINK_RE.search(body):
                found = "invitation"
            elif recipient.startswith("person"):
                found = "reminder"
            else:
                found = "other"  # e.g. the handlers' alert about an unread concern
            if found == kind:
                counts[str(message["X-Envelope-To"])] += 1
        return counts


def smtp_sink() -> tuple[Controller, Sink, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = Sink(stall_at=STALL_AT)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink, f"smtp://127.0.0.1:{port}?timeout=60"


# --- browsers -------------------------------------------------------------------------


class Browser:
    """A cookie-keeping HTTP client that can be pointed at either host."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def get(self, url: str) -> tuple[int, str, str]:
        return self._open(url, None)

    def post(self, url: str, data: dict[str, str]) -> tuple[int, str, str]:
        return self._open(url, urllib.parse.urlencode(data).encode())

    def form(self, page_url: str, post_url: str, data: dict[str, str]) -> tuple[int, str, str]:
        """GET the form (for its CSRF token) from one host, POST it to the URL given."""
        status, html, _ = self.get(page_url)
        assert status == 200, html[:300]
        match = CSRF_RE.search(html)
        assert match, "page has no CSRF token"
        token = next(g for g in match.groups() if g)
        return self.post(post_url, {"csrf_token": token, **data})

    def _open(self, url: str, body: bytes | None) -> tuple[int, str, str]:
        try:
            with self.opener.open(url, data=body, timeout=60) as response:
                return response.status, response.read().decode(), ""
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers.get("Location", "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- schedulers -----------------------------------------------------------------------


@dataclass
class Scheduler:
    process: subprocess.Popen[str]
    lines: queue.Queue[str]
    seen: list[str]

    def wait_for(self, needle: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if needle in line:
                return line
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.seen)
                continue
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"scheduler never said {needle!r}:\n{''.join(self.seen)}")

    def said(self, needle: str) -> int:
        """How many lines so far contain `needle` (reads what is waiting first)."""
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return sum(needle in line for line in self.seen)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.put(line)
    except ValueError:  # closed by stop()
        pass


@dataclass
class Cluster:
    url: str
    root: Path
    smtp_url: str
    keys_path: Path
    schedulers: list[Scheduler] = field(default_factory=list)

    def start_scheduler(self, *, active: bool) -> Scheduler:
        n = len(self.schedulers)
        env = {**server_env(self.url, self.root / f"scheduler-{n}"),
               "PYTHONUNBUFFERED": "1",
               "SPEAKUP_SMTP_URL": self.smtp_url,
               "SPEAKUP_ROUND_KEYS_PATH": str(self.keys_path),
               "SPEAKUP_HANDLER_DIGEST_AT": "00:00"}
        proc = subprocess.Popen([str(VENV_BIN / "speakup"), "scheduler"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=self.root)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
        scheduler = Scheduler(proc, lines, [])
        self.schedulers.append(scheduler)
        scheduler.wait_for("is active: running jobs" if active else "Another scheduler")
        return scheduler


# --- the database ----------------------------------------------------------------------


@dataclass
class World:
    engine: Engine
    settings: Settings
    round_id: int
    admin_email: str
    admin_totp: str
    handler_email: str

    def session(self) -> Session:
        return make_session_factory(self.engine, session_keys(SECRET))()

    def scalar(self, statement: Any) -> Any:
        with self.session() as session:
            return session.scalar(statement)

    def execute(self, statement: Any) -> None:
        with self.session() as session:
            session.execute(statement)
            session.commit()

    def lease_ran_out(self) -> None:
        """What 90 seconds without renewal does to a killed holder's lease."""
        self.execute(update(SchedulerLease).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))

    def mail(self, status: MailStatus, kind_prefix: str) -> int:
        return int(self.scalar(select(func.count()).select_from(MailJob).where(
            MailJob.round_id == self.round_id, MailJob.status == status.value,
            MailJob.kind.startswith(kind_prefix))))

    def round(self) -> Round:
        with self.session() as session:
            found = session.get(Round, self.round_id)
            assert found is not None
            session.expunge(found)
            return found


def set_up(url: str, root: Path) -> World:
    """An admin, a handler who can read concerns, and a survey whose round opens now."""
    clock = SystemClock()
    settings = Settings(instance_path=root / "setup", database_url=url, secret_key=SECRET)
    engine = make_engine(url)
    config = ConcernConfig.from_settings(settings)
    with make_session_factory(engine, session_keys(SECRET))() as session:
        keys.create_recovery_key(session, clock, config, actor="test")
        handler = add_concern_reader(session, clock, config, email="handler@example.org")
        admin = accounts.create_user(session, clock, email="admin@example.org", role="admin",
                                     password=PASSWORD, actor="test", with_totp=True)
        spec = admin_services.check_spec(SPEC, settings, now=clock.now())
        survey = admin_services.create_survey(session, clock, spec, actor="test")
        audience.replace_audience(session, clock, survey,
                                  [f"person{i:04d}@example.org" for i in range(ADDRESSES)],
                                  actor="test")
        # The round opens now; the scheduler opens it (and plans the next ones after it).
        round_ = rounds.add_round(session, survey, clock.now() - dt.timedelta(minutes=1))
        session.commit()
        assert admin.totp_secret
        return World(engine, settings, round_.id, admin.email, admin.totp_secret,
                     handler.email)


@pytest.fixture
def pg_database(tmp_path: Path) -> Iterator[str]:
    url, drop = _new_database("postgresql", tmp_path)
    migrate.upgrade(url)
    yield url
    drop()


class TableLock:
    """Hold a table in EXCLUSIVE mode (reads go on, writes wait) from this process."""

    def __init__(self, engine: Engine, table: str) -> None:
        self.connection = engine.connect()
        self.transaction = self.connection.begin()
        self.connection.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))

    def release(self) -> None:
        self.transaction.rollback()
        self.connection.close()


def quarters_published(session: Session) -> dict[str, str]:
    """Each stored quarter as the database hands it back, in one canonical text.

    All of it but the audit chain's head hash: each quarter freezes the chain as it
    stands, and the chain's last entry (the previous quarter's publication) carries the
    moment it was written, so any two runs differ there. Its length is compared.
    """
    found = {}
    for quarter, on, k, payload in session.execute(select(
            ConcernStatsPublication.quarter, ConcernStatsPublication.published_on,
            ConcernStatsPublication.min_group_size, ConcernStatsPublication.payload)):
        assert payload["published"]["audit_chain"].pop("head")
        found[quarter] = json.dumps([str(on), k, payload], sort_keys=True)
    return found


def quarters_published_alone(world: World, lock: TableLock) -> dict[str, str]:
    """The single-host reference: this process publishes the due quarters, then rolls back."""
    clock = SystemClock()
    config = ConcernConfig.from_settings(world.settings)
    with Session(bind=lock.connection, info=session_keys(SECRET)) as session:
        publication.publish_due_quarters(
            session, clock, config.today(clock), k=world.settings.min_group_size,
            grace_days=config.stats_grace_days, actor="scheduler")
        session.flush()
        return quarters_published(session)


def wait_until(check: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def writer_waiting_on_lock(world: World) -> bool:
    """A scheduler's transaction is blocked on our table lock (it is mid-publication)."""
    return bool(world.scalar(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")))


# --- the respondents and the reporter -----------------------------------------------


def answer(base: str, token: str, n: int) -> None:
    browser = Browser()
    status, html, where = browser.form(f"{base}/s/{token}", f"{base}/s/{token}", {
        "item-psafe_1": str(n % 7 + 1), "item-speak_1": str(n % 4 + 1),
        "item-wres_5": str(n % 2 + 1), "group-ethnicity": ("white", "global_majority")[n % 2],
        "group-team": "prefer_not", "comment": "", "send_anyway": "1",
    })
    assert status == 302 and where.endswith("/s/thanks"), html[:500]


def staff_session_is_shared(first: LiveServer, second: LiveServer, world: World) -> None:
    staff = Browser()
    status, html, where = staff.form(f"{first.url}/login", f"{first.url}/login", {
        "email": world.admin_email, "password": PASSWORD,
        "totp": pyotp.TOTP(world.admin_totp).now()})
    assert status == 302, html[:500]
    # Signed in on the first host, the same browser is signed in on the second.
    assert staff.get(f"{second.url}/admin/")[0] == 200
    assert staff.get(f"{first.url}/admin/")[0] == 200
    # A copy of the session cookie on the second host works the same way …
    thief = Browser()
    for cookie in staff.jar:
        thief.jar.set_cookie(cookie)
    assert thief.get(f"{second.url}/admin/")[0] == 200
    # … until the staff member signs out on the second host: the session ends on both.
    status, _, _ = staff.form(f"{second.url}/admin/", f"{second.url}/logout", {})
    assert status == 302
    status, _, where = thief.get(f"{first.url}/admin/")
    assert status == 302 and "/login" in where
    assert thief.get(f"{second.url}/admin/")[0] == 302


def receipt_checks_are_counted_across_hosts(first: LiveServer, second: LiveServer) -> None:
    reporter = Browser()
    status, html, _ = reporter.form(f"{first.url}/concerns/new", f"{first.url}/concerns/new", {
        "category": "1", "what_happened": "Checked from both hosts", "what_wanted": ""})
    assert status == 200, html[:500]
    match = RECEIPT_RE.search(html)
    assert match, html[:500]
    receipt = re.sub(r"<[^>]+>", "", match.group(1))
    # The limit is per minute: start with enough of this minute left for every check.
    if dt.datetime.now(dt.UTC).second > 40:
        time.sleep(61 - dt.datetime.now(dt.UTC).second)
    statuses = []
    for n in range(CHECKS_PER_RECEIPT + 2):
        host = (first, second)[n % 2]
        statuses.append(Browser().form(f"{host.url}/concerns/check",
                                       f"{host.url}/concerns/check",
                                       {"receipt": receipt})[0])
    # Each host alone saw at most three checks: only a shared count stops the fifth.
    assert statuses == [200] * CHECKS_PER_RECEIPT + [429, 429]


# --- the test -------------------------------------------------------------------------


def test_two_hosts_and_two_schedulers_do_everything_exactly_once(pg_database, tmp_path):
    world = set_up(pg_database, tmp_path)
    controller, sink, smtp_url = smtp_sink()
    hosts: list[LiveServer] = []
    cluster = Cluster(pg_database, tmp_path, smtp_url, tmp_path / "shared-round-keys")
    quarter_lock: TableLock | None = None
    round_lock: TableLock | None = None
    try:
        for name in ("host-a", "host-b"):
            hosts.append(start_gunicorn(
                pg_database, tmp_path / name, tmp_path, workers=1, threads=4,
                SPEAKUP_CHECKS_PER_RECEIPT_PER_MINUTE=str(
                    CHECKS_PER_RECEIPT)))
        a, b = hosts
        staff_session_is_shared(a, b, world)
        receipt_checks_are_counted_across_hosts(a, b)

        # Day 1. The first scheduler takes the lease and runs every job: it opens the round,
        # sends invitations, publishes the past quarters and sends the day's summary.
        quarter_lock = TableLock(world.engine, "concern_stats_publications")
        first = cluster.start_scheduler(active=True)
        cluster.start_scheduler(active=False)
        # It is killed while the SMTP server holds an invitation and while its quarterly
        # publication waits to write.
        assert sink.stalled.wait(timeout=180), "".join(first.seen)
        wait_until(lambda: writer_waiting_on_lock(world), "the quarterly publication")
        first.kill()
        sink.release.set()
        quarters_alone = quarters_published_alone(world, quarter_lock)
        assert quarters_alone
        quarter_lock.release()
        quarter_lock = None
        assert world.mail(MailStatus.SENT, "invitation") == STALL_AT
        # The clock moves on: the lease runs out, the claim of the held message goes stale.
        world.execute(update(MailJob).where(MailJob.status == MailStatus.SENDING.value)
                      .values(claimed_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)))
        world.lease_ran_out()
        second = cluster.schedulers[1]
        second.wait_for("is active: running jobs")
        cluster.start_scheduler(active=False)
        wait_until(lambda: world.mail(MailStatus.SENT, "invitation") == ADDRESSES,
                   "every invitation", timeout=300)
        wait_until(lambda: sum(sink.to("digest").values()) == 1, "day 1's summary")
        wait_until(lambda: world.scalar(select(func.count()).select_from(
            ConcernStatsPublication)) == len(quarters_alone), "the quarters' publication")
        with world.session() as session:
            # Byte for byte what one process alone would have published (see above).
            assert quarters_published(session) == quarters_alone

        # Respondents answer through both hosts.
        tokens = sorted({LINK_RE.search(body_of(m)).group(1)  # type: ignore[union-attr]
                         for m in list(sink.accepted) if LINK_RE.search(body_of(m))})
        assert len(tokens) == ADDRESSES
        for n, token in enumerate(tokens[:RESPONDENTS]):
            answer(hosts[n % 2].url, token, n)

        # Day 2: a reminder is due and another summary. The active scheduler stops
        # (a restart); the waiting one takes over at once.
        world.execute(update(Round).where(Round.id == world.round_id).values(reminder_times=[
            (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(),
            (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()]))
        world.execute(update(HandlerProfile).values(
            last_digest_on=dt.date.today() - dt.timedelta(days=1)))
        second.stop()
        third = cluster.schedulers[2]
        third.wait_for("is active: running jobs")
        wait_until(lambda: world.mail(MailStatus.SENT, "reminder") == ADDRESSES,
                   "every reminder", timeout=300)
        wait_until(lambda: sum(sink.to("digest").values()) == 2, "day 2's summary")

        # Day 3: the round ends; it is published while another summary is due. The
        # scheduler publishing it is killed while it waits to store the publication.
        fourth = cluster.start_scheduler(active=False)
        third.stop()
        fourth.wait_for("is active: running jobs")
        cluster.start_scheduler(active=False)
        round_lock = TableLock(world.engine, "published_results")
        world.execute(update(Round).where(Round.id == world.round_id).values(
            closes_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
        world.execute(update(HandlerProfile).values(
            last_digest_on=dt.date.today() - dt.timedelta(days=1)))
        wait_until(lambda: writer_waiting_on_lock(world), "the round's publication",
                   timeout=180)
        assert world.round().status == RoundStatus.CLOSED.value
        # The single-host reference: the same closed round, read and decided here.
        with read_only_session(make_session_factory(world.engine)) as reader:
            closed = reader.get(Round, world.round_id)
            assert closed is not None
            reference = decide_round(read_round(reader, closed, Settings(
                instance_path=tmp_path / "reference", database_url=pg_database,
                secret_key=SECRET, round_keys_path=cluster.keys_path)), dt.date.today())
        fourth.kill()
        round_lock.release()
        round_lock = None
        world.lease_ran_out()
        cluster.schedulers[4].wait_for("is active: running jobs")
        wait_until(lambda: sum(sink.to("digest").values()) == 3, "day 3's summary")
        wait_until(lambda: world.round().status == RoundStatus.PUBLISHED.value,
                   "the round's publication", timeout=180)

        # Every message exactly once.
        invitations, reminders = sink.to("invitation"), sink.to("reminder")
        audience_ = {f"person{i:04d}@example.org" for i in range(ADDRESSES)}
        assert set(invitations) == audience_ and set(invitations.values()) == {1}
        assert set(reminders) == audience_ and set(reminders.values()) == {1}
        assert sink.to("digest") == Counter({world.handler_email: 3})
        # Each job once: one reminder, one publication, each quarter published and logged once.
        published = world.round()
        assert published.reminders_sent == 1 and published.invited_count == ADDRESSES
        with world.session() as session:
            stored = published_round(session, world.round_id)
            assert stored is not None and stored.responses == RESPONDENTS
            logged = Counter(session.execute(
                select(PublicationLogEntry.kind, PublicationLogEntry.ref)).all())
            labels = session.scalars(select(ConcernStatsPublication.quarter)).all()
            audited = Counter(session.scalars(select(AuditEntry.subject).where(
                AuditEntry.action == "statistics.publish")))
        assert set(logged.values()) == {1}
        assert audited == Counter(set(labels))
        # Byte for byte what one process alone publishes from the same round.
        assert (json.dumps(stored.to_payload(), sort_keys=True)
                == json.dumps(reference.to_payload(), sort_keys=True))
        # The lease: every scheduler but the first waited on start, and each became the
        # active one once, after the one before it was killed or stopped.
        assert [sch.said("is active: running jobs") for sch in cluster.schedulers] == [1] * 5
        assert [sch.said("Another scheduler is active") for sch in cluster.schedulers] == (
            [0] + [1] * 4)
        for host in hosts:
            assert "Traceback" not in host.log()
    finally:
        sink.release.set()
        for lock in (quarter_lock, round_lock):
            if lock is not None:
                lock.release()
        for scheduler in cluster.schedulers:
            scheduler.stop()
        for host in hosts:
            stop_server(host)
        controller.stop()
        world.engine.dispose()
