"""Invitation tokens and the mail queue: unlinkable links, resumable sending.

Rule 4 of DESIGN.md: each invited address gets a random single-use token; the server
stores only a keyed hash of it (HMAC-SHA256 under a key derived from the server
secret) in `token_hashes`, next to the round and nothing else. No row ever holds a
token, and no row links an address (`mail_jobs`) to a token hash:

* tokens are made at send time, in memory, for a whole batch of pending
  invitations; their hashes are inserted together, in shuffled order, before any
  of the batch is sent, so neither the hashes' order nor their insertion time says
  which address got which;
* each message then moves its mail job `pending → sending → sent`, committing each
  step, so a sender that crashes resumes where it stopped: what is `sent` is never
  sent again and what is `pending` is sent once. Only a message that was with the
  mail server at the very moment of a crash is uncertain; its claim expires after
  `STALE_CLAIM` and it is sent again (the recipient may then hold two links).
  Tokens made for messages that were never sent are deleted, or, after a hard
  crash, left as hashes nobody holds the token to — harmless.

Reminders carry no token (nobody could know which one is whose): they go to every
invited address and thank those who have already answered.

No address outlives its use: a round's mail jobs (addresses and the moments they were
claimed) are deleted as soon as nothing more will be sent for the round, and at its
publication at the latest, when the outbox copies of its messages go too.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
import random
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from speakup.clock import Clock, as_utc
from speakup.db import request_erasure
from speakup.mail import Mailer, MailError, build_message, erase_outbox, outbox_labels
from speakup.settings import Settings
from speakup.site_settings import RESULTS_PATH, results_page_enabled
from speakup.translatable import N_, translations
from surveys.models import MailJob, MailStatus, Round, RoundStatus, Survey, TokenHash
from surveys.slip_codes import is_canonical_code
from surveys.texts import survey_text

log = logging.getLogger("surveys.invitations")

INVITATION = "invitation"
REMINDER_PREFIX = "reminder-"
TOKEN_BYTES = 24  # 192 random bits, 32 URL-safe characters
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")
# Up to this many invitations share one token batch (their hashes are inserted
# together in random order): the larger, the less a batch says about who got which.
INVITATION_BATCH = 5000
OTHER_BATCH = 500
STALE_CLAIM = dt.timedelta(minutes=15)
UNFINISHED = (MailStatus.PENDING.value, MailStatus.SENDING.value)
_KEY_INFO = b"speakup/surveys/invitation-token/v1"


def token_key(settings: Settings) -> bytes:
    """Derive the invitation-token HMAC key from the server secret (HKDF-SHA256)."""
    return _token_key(settings.resolved_secret_key())


@functools.lru_cache(maxsize=4)
def _token_key(secret: str) -> bytes:
    # Derived once per process and secret, not on every answering request.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        secret.encode("utf-8"))


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(key: bytes, token: str) -> bytes:
    """Return the keyed hash stored for a token (32 bytes)."""
    return hmac.new(key, token.encode("ascii"), hashlib.sha256).digest()


def looks_like_token(token: str) -> bool:
    """An e-mail link's token, or a printed slip's code in canonical form (surveys/slips.py)."""
    return TOKEN_RE.fullmatch(token) is not None or is_canonical_code(token)


def issue_tokens(session: Session, round_id: int, count: int, key: bytes,
                 make: Callable[[], str] = new_token) -> list[str]:
    """Create `count` fresh tokens for a round and store only their hashes; return the tokens.

    The mail sender uses this, and printed slips with their own `make` (short codes);
    the demo seeder and benchmarks may call it directly to answer a round without
    sending mail. The caller commits.
    """
    tokens = [make() for _ in range(count)]
    store_token_hashes(session, round_id, tokens, key)
    return tokens


def store_token_hashes(session: Session, round_id: int, tokens: list[str], key: bytes) -> None:
    """Insert the keyed hashes of `tokens` for a round, all at once, in shuffled order."""
    rows = [{"token_hash": hash_token(key, t), "round_id": round_id, "used": False}
            for t in tokens]
    random.SystemRandom().shuffle(rows)
    if rows:
        session.execute(insert(TokenHash), rows)


# --- the messages ----------------------------------------------------------------


def _local(moment: dt.datetime, tz: str, language: str = "en") -> str:
    local = as_utc(moment).astimezone(ZoneInfo(tz))
    return translations(language).gettext("%(time)s on %(date)s") % {
        "time": f"{local:%H:%M}",
        "date": format_datetime(local, "EEEE d MMMM y", locale=language),
    }


def answer_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/s/{token}"


def results_url(settings: Settings, results_on: bool) -> str | None:
    """The staff results page's address, or None while an admin has it switched off."""
    return f"{settings.base_url}{RESULTS_PATH}" if results_on else None


def results_paragraph(settings: Settings, results_on: bool, language: str = "en") -> str:
    """The link to the staff results page, or nothing while an admin has it switched off."""
    url = results_url(settings, results_on)
    if url is None:
        return ""
    _ = translations(language).gettext
    return "\n" + _(
        "What happened after the last round (results, goals and what was done):"
    ) + f"\n\n    {url}\n"


def local_words(moment: dt.datetime, tz: str, language: str = "en") -> str:
    """A moment as the invitations write it: "17:00 on Friday 11 December 2026"."""
    return _local(moment, tz, language)


# Said in each catalogue's own language: the Welsh catalogue says "… in Welsh".
ALSO_IN_LANGUAGE = N_("This survey is also in English:")
ALSO_IN_LANGUAGE_PAGE = N_("This survey is also in English: use the language link at the top "
                           "of the survey page.")


def mail_language(settings: Settings, chosen: str | None) -> str:
    """The language of one person's e-mail: theirs from the audience file, if still offered,
    else the organisation's first (SPEAKUP_LANGUAGES)."""
    return chosen if chosen in settings.languages else settings.languages[0]


def other_languages_paragraph(language: str, offered: tuple[str, ...],
                              link: str | None) -> str:
    """A line in each other offered language saying the survey is in it too.

    Written in that other language, so someone given the wrong one can read it (the
    pages' language link does the same). With a personal link, the link in that
    language; a reminder has none, so it points to the page's language link.
    """
    lines = []
    for other in offered:
        if other == language:
            continue
        # Each catalogue says these in its own language ("… in Welsh:" in the Welsh one).
        say = translations(other).gettext
        if link is None:
            lines.append(say(ALSO_IN_LANGUAGE_PAGE))
        else:
            lines.append(say(ALSO_IN_LANGUAGE) + f"\n\n    {link}?lang={other}")
    return "".join(f"\n{line}\n" for line in lines)


def invitation_message(
    settings: Settings, survey: Survey, round_: Round, to: str, token: str,
    results_on: bool = False, language: str = "en", offered: tuple[str, ...] = (),
) -> EmailMessage:
    """The invitation: a personal, single-use link and what happens to the answers.

    Written in `language`; its link opens the answering page in the same language, and
    a line in each other `offered` language gives the link in that language.
    """
    _ = translations(language).gettext
    k = round_.min_group_size or survey.min_group_size
    title = survey_text(survey, "title", language)
    link = answer_url(settings, token) + ("" if language == "en" else f"?lang={language}")
    body = _("""Hello,

You are invited to answer "%(title)s", a short anonymous survey. It is open
until %(closes)s (%(timezone)s time).

Your personal link works once. Please do not forward it:

    %(link)s

Your answers cannot be traced back to you. The link is not stored anywhere with
your e-mail address; your answers are saved without your name, e-mail address,
IP address or the time you answered; and the advisory group only ever sees totals
for groups of at least %(k)s people. Raw answers are deleted once the results are
published.

Every question is optional. If you would rather not take part, ignore this e-mail.
""") % {"title": title, "closes": _local(round_.closes_at, survey.timezone, language),
        "timezone": survey.timezone, "link": link, "k": k}
    body += results_paragraph(settings, results_on, language)
    body += other_languages_paragraph(language, offered, answer_url(settings, token))
    subject = _("%(title)s: your personal survey link") % {"title": title}
    return build_message(settings, to, subject, body)


def reminder_message(
    settings: Settings, survey: Survey, round_: Round, to: str, results_on: bool = False,
    language: str = "en", offered: tuple[str, ...] = (),
) -> EmailMessage:
    """A reminder to everyone invited: it cannot know who has already answered."""
    _ = translations(language).gettext
    opened = round_.opened_at or round_.opens_at
    title = survey_text(survey, "title", language)
    body = _("""Hello,

If you have already answered "%(title)s", thank you — please ignore this
reminder. We send it to everyone who was invited because we cannot tell who has
answered: that is how your answers stay anonymous.

If you have not answered yet, there is still time: the survey is open until
%(closes)s (%(timezone)s time). Use the
personal link in the invitation e-mail we sent on %(opened)s.
""") % {"title": title, "closes": _local(round_.closes_at, survey.timezone, language),
        "timezone": survey.timezone, "opened": _local(opened, survey.timezone, language)}
    body += results_paragraph(settings, results_on, language)
    body += other_languages_paragraph(language, offered, None)
    subject = _("Reminder: %(title)s closes soon") % {"title": title}
    return build_message(settings, to, subject, body)


# --- sending ------------------------------------------------------------------------


@dataclass
class SendReport:
    """What one run of the sender did."""

    sent: Counter[str] = field(default_factory=Counter)  # by kind
    requeued_stale: int = 0
    skipped: int = 0  # claimed by another sender first
    error: str | None = None

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())


def requeue_stale_claims(session: Session, clock: Clock) -> int:
    """Put claims a crashed sender left behind back in the queue; return how many."""
    cutoff = clock.now().astimezone(dt.UTC) - STALE_CLAIM
    moved = session.execute(
        update(MailJob)
        .where(MailJob.status == MailStatus.SENDING.value, MailJob.claimed_at < cutoff)
        .values(status=MailStatus.PENDING.value, claimed_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return int(moved or 0)


def _open_round_ids() -> object:
    return select(Round.id).where(Round.status == RoundStatus.OPEN.value)


def _next_batch(session: Session, round_id: int | None) -> list[MailJob]:
    """Pending invitations of open rounds first; reminders once a round's invitations are out."""
    base = select(MailJob).where(
        MailJob.status == MailStatus.PENDING.value, MailJob.round_id.in_(_open_round_ids())
    )
    if round_id is not None:
        base = base.where(MailJob.round_id == round_id)
    invitations = session.scalars(
        base.where(MailJob.kind == INVITATION).order_by(func.random()).limit(INVITATION_BATCH)
    ).all()
    if invitations:
        return list(invitations)
    unsent_invitations = select(MailJob.round_id).where(
        MailJob.kind == INVITATION,
        MailJob.status.in_([MailStatus.PENDING.value, MailStatus.SENDING.value]),
    )
    return list(session.scalars(
        base.where(MailJob.kind != INVITATION, MailJob.round_id.not_in(unsent_invitations))
        .order_by(func.random())
        .limit(OTHER_BATCH)
    ).all())


def _claim(session: Session, job_id: int, now: dt.datetime) -> bool:
    moved = session.execute(
        update(MailJob)
        .where(
            MailJob.id == job_id,
            MailJob.status == MailStatus.PENDING.value,
            MailJob.round_id.in_(_open_round_ids()),
        )
        .values(status=MailStatus.SENDING.value, claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return bool(moved)


def _set_status(session: Session, job_id: int, status: MailStatus) -> None:
    values: dict[str, object] = {"status": status.value}
    if status is MailStatus.PENDING:
        values["claimed_at"] = None
    session.execute(update(MailJob).where(MailJob.id == job_id).values(**values)
                    .execution_options(synchronize_session=False))
    session.commit()


def send_pending_mail(
    session_factory: sessionmaker[Session],
    mailer: Mailer,
    settings: Settings,
    clock: Clock,
    *,
    key: bytes,
    round_id: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SendReport:
    """Send every pending invitation and reminder of open rounds, resumably.

    Unlike other services this one commits: each message's progress must survive a
    crash, so it owns its transactions (one per step) and takes a session factory.
    Stops at the first mail-server error, leaving that message and the rest pending.
    """
    say = progress or log.info
    report = SendReport()
    with session_factory() as session:
        report.requeued_stale = requeue_stale_claims(session, clock)
        session.commit()
        if report.requeued_stale:
            log.warning(
                "%d e-mail(s) were with a sender that stopped; they are queued again "
                "(a recipient may get that message twice).", report.requeued_stale,
            )
        try:
            while True:
                batch = _next_batch(session, round_id)
                session.commit()
                if not batch:
                    break
                if not _send_batch(session, batch, mailer, settings, clock, key, report, say):
                    break
        finally:
            mailer.close()
        forget_finished_mail(session, round_id)
        session.commit()
    if report.total_sent:
        parts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.sent.items()))
        say(f"Sent {report.total_sent} e-mail(s): {parts}.")
    return report


def _send_batch(
    session: Session,
    batch: list[MailJob],
    mailer: Mailer,
    settings: Settings,
    clock: Clock,
    key: bytes,
    report: SendReport,
    say: Callable[[str], None],
) -> bool:
    """Send one batch; return False if the mail server failed (stop for now)."""
    jobs = [(job.id, job.round_id, job.kind, job.email,
             mail_language(settings, job.language)) for job in batch]
    for job in batch:
        session.expunge(job)  # only the tuples are used from here on
    tokens: dict[int, str] = {}
    invitation_jobs = [job_id for job_id, _, kind, _, _ in jobs if kind == INVITATION]
    if invitation_jobs:
        by_round = Counter(round_id for _, round_id, kind, _, _ in jobs if kind == INVITATION)
        for rid, count in by_round.items():
            issued = iter(issue_tokens(session, rid, count, key))
            for job_id, job_round, kind, _, _ in jobs:
                if kind == INVITATION and job_round == rid:
                    tokens[job_id] = next(issued)
        session.commit()
    context: dict[int, tuple[Survey, Round]] = {}
    results_on = results_page_enabled(session)  # read once per batch
    unused = set(tokens)
    done = 0
    try:
        for job_id, rid, kind, email, language in jobs:
            if rid not in context:
                round_ = session.get(Round, rid)
                assert round_ is not None
                survey = session.get(Survey, round_.survey_id)
                assert survey is not None
                context[rid] = (survey, round_)
            survey, round_ = context[rid]
            if not _claim(session, job_id, clock.now().astimezone(dt.UTC)):
                report.skipped += 1
                continue
            if kind == INVITATION:
                message = invitation_message(settings, survey, round_, email, tokens[job_id],
                                             results_on, language, settings.languages)
            else:
                message = reminder_message(settings, survey, round_, email, results_on,
                                           language, settings.languages)
            try:
                mailer.send(message, label=outbox_label(rid))
            except MailError as exc:
                _set_status(session, job_id, MailStatus.PENDING)
                report.error = str(exc)
                log.error("Mail server error after %d message(s); will retry later: %s",
                          report.total_sent, exc)
                return False
            _set_status(session, job_id, MailStatus.SENT)
            unused.discard(job_id)
            report.sent[kind.split("-")[0]] += 1
            done += 1
            if done % 100 == 0:
                say(f"Sent {done} of {len(jobs)} e-mail(s) in this batch.")
    finally:
        if unused:
            # Tokens made for messages that did not go out: nobody holds them; drop them.
            session.execute(delete(TokenHash).where(
                TokenHash.token_hash.in_([hash_token(key, tokens[j]) for j in unused])
            ).execution_options(synchronize_session=False))
            session.commit()
    return True


def mail_progress(session: Session, round_id: int) -> dict[str, dict[str, int]]:
    """Counts of a round's mail by kind and status, e.g. {"invitation": {"sent": 40, …}}."""
    rows = session.execute(
        select(MailJob.kind, MailJob.status, func.count())
        .where(MailJob.round_id == round_id)
        .group_by(MailJob.kind, MailJob.status)
    )
    progress: dict[str, dict[str, int]] = {}
    for kind, status, count in rows:
        progress.setdefault(kind, {})[status] = int(count)
    return progress


# --- forgetting -----------------------------------------------------------------------


def outbox_label(round_id: int) -> str:
    """The outbox file-name prefix of a round's messages: the round, nothing else."""
    return f"round-{round_id}"


def _delete_mail_jobs(session: Session, *conditions: object) -> int:
    deleted = int(session.execute(
        delete(MailJob).where(*conditions).execution_options(synchronize_session=False)
    ).rowcount or 0)
    if deleted:
        # Addresses must not linger in free pages or the SQLite WAL once the caller commits.
        request_erasure(session, MailJob.__tablename__)
    return deleted


def forget_finished_mail(session: Session, round_id: int | None = None) -> list[int]:
    """Delete the mail jobs of every round whose mail is finished; return those rounds' ids.

    A round's mail is finished when nothing more will be sent for it: the round is no
    longer open, or it is open, every invitation and reminder queued so far is sent,
    and no reminder is still to come (reminders are queued from the invitation rows,
    so those stay until the last one is out). The round keeps its `invited_count`.
    Its outbox files stay: the links in them work until the round closes, and are
    erased with the round's other link records at publication. Never commits.
    """
    with_mail = select(MailJob.round_id).distinct()
    if round_id is not None:
        with_mail = with_mail.where(MailJob.round_id == round_id)
    candidates = session.execute(
        select(Round.id, Round.status, Round.reminders_sent, Round.reminder_times)
        .where(Round.id.in_(with_mail))
    ).all()
    forgotten = []
    for rid, status, reminders_sent, reminder_times in candidates:
        if status == RoundStatus.OPEN and reminders_sent < len(reminder_times or []):
            continue  # a reminder is still to come: it goes to these addresses
        unfinished = aliased(MailJob)
        # One statement, so a reminder queued or a round reopened meanwhile (by another
        # process) is seen together with the jobs it would add.
        still_open = exists().where(
            Round.id == rid,
            Round.status == RoundStatus.OPEN.value,
            (Round.reminders_sent < len(reminder_times or []))
            | exists().where(unfinished.round_id == rid, unfinished.status.in_(UNFINISHED)),
        )
        counts = mail_progress(session, rid)
        if _delete_mail_jobs(session, MailJob.round_id == rid, ~still_open):
            forgotten.append(rid)
            not_sent = {kind: n.get(MailStatus.CANCELLED.value, 0) + sum(
                n.get(s, 0) for s in UNFINISHED) for kind, n in counts.items()}
            if any(not_sent.values()):
                # The admin page can no longer show these once the rows are gone.
                log.warning("Round %s closed before all its mail was sent (not sent: %s); "
                            "its addresses are forgotten.", rid,
                            ", ".join(f"{kind} {n}" for kind, n in sorted(not_sent.items()) if n))
            else:
                log.info("Round %s: all mail sent; its addresses are forgotten.", rid)
    return forgotten


def forget_round_mail(session: Session, round_id: int, settings: Settings) -> int:
    """Delete every mail job of a round and erase its outbox files; return jobs deleted.

    Publication calls this with the round's token hashes: afterwards nothing holds
    an address it was mailed to or a link it was sent. The files go at once, not at
    commit: a publication that then fails leaves the round closed, whose links no
    longer open anything. Never commits.
    """
    deleted = _delete_mail_jobs(session, MailJob.round_id == round_id)
    erase_outbox(settings.outbox_path, outbox_label(round_id))
    return deleted


def erase_published_outbox(session: Session, settings: Settings) -> int:
    """Erase outbox files left for rounds that are published or gone; return files erased.

    A sender already holding a message when its round closed can write it after the
    round's files were erased at publication; the purge job sweeps such stragglers.
    """
    labels = {label: int(label.removeprefix("round-"))
              for label in outbox_labels(settings.outbox_path)
              if label.startswith("round-") and label.removeprefix("round-").isdigit()}
    if not labels:
        return 0
    live = set(session.scalars(select(Round.id).where(
        Round.id.in_(labels.values()), Round.status != RoundStatus.PUBLISHED.value)))
    return sum(erase_outbox(settings.outbox_path, label)
               for label, rid in labels.items() if rid not in live)
