"""Every concern readable by someone, or loudly not (issue 19, findings 1 and 2).

A concern is sealed to the active handlers who hold a key pair, the reporter and the
recovery key. Key pairs are made at a handler's first sign-in (`concerns.keys`), so a
concern sent before any handler signed in — or one whose only handler was disabled —
could be read by nobody but the holder of the offline recovery key, while every
counter said 0. So:

* the concern form is refused (before it is shown, and again inside the storing
  transaction) until a recovery key exists and at least one active handler has keys;
* "waiting for a reader" — stored concerns no active handler holds a wrap for — is
  counted in the inbox, the daily summary, the admin status page and `/healthz`;
* admins are mailed: at once when an admin's change to an account leaves concerns
  without a reader, and otherwise in the daily batch at the summary hour (never at the
  moment a concern arrives: that mail would tell its reader when someone spoke up).

Counts only, everywhere: no category, date or word of any concern.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from concerns import conflicts, keys
from concerns.config import ConcernConfig
from concerns.errors import N_
from concerns.messages import NO_READER, NOT_READY
from concerns.models import Concern, ConcernKeyWrap, HandlerKey, Reader
from speakup.clock import Clock
from speakup.mail import Mailer, MailError, build_message
from speakup.models import Role, SiteSetting, User
from speakup.settings import Settings

log = logging.getLogger("concerns.readers")

ALERT_SUBJECT = "Speak Up: concerns that nobody can read"
ADMIN_PATH = "/admin/concern-handlers/readers"
# The day the daily batch last mailed admins (a site_settings row: no migration).
ALERT_SENT_KEY = "concerns_unread_alert_on"


def active_reader_ids() -> Select[tuple[int]]:
    """SQL: the user ids of active handlers who hold a key pair (can read what is shared)."""
    return (
        select(HandlerKey.user_id)
        .join(User, User.id == HandlerKey.user_id)
        .where(User.role == Role.HANDLER.value, User.disabled.is_(False))
    )


def has_active_reader() -> ColumnElement:
    """SQL: some active handler holds a wrap of the concern's first message."""
    return exists().where(
        ConcernKeyWrap.concern_id == Concern.id,
        ConcernKeyWrap.seq == 1,
        ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
        ConcernKeyWrap.reader_id.in_(active_reader_ids()),
    )


def not_ready_reason(session: Session) -> str | None:
    """Why concerns cannot be received now (safe to show a reporter), or None."""
    if keys.active_recovery_key(session) is None:
        return NOT_READY
    if not session.scalar(select(exists(active_reader_ids()))):
        return NO_READER
    return None


# The same reasons, worded for the page shown instead of the form (nothing typed yet).
FORM_REFUSED = {
    NOT_READY: N_("Speak Up cannot receive concerns yet: its recovery key has not been set "
                  "up."),
    NO_READER: N_("Speak Up cannot receive concerns yet: no case handler has signed in for the "
                  "first time, so nobody could read a concern sent now."),
}


def form_refusal(session: Session) -> str | None:
    """Why the concern form is not offered now (for the page shown instead), or None."""
    reason = not_ready_reason(session)
    return None if reason is None else FORM_REFUSED[reason]


def count_waiting_for_a_reader(session: Session) -> int:
    """Stored concerns that no active handler can read (one query, no content)."""
    return session.scalar(
        select(func.count()).select_from(Concern).where(
            Concern.purged_on.is_(None), ~has_active_reader()
        )
    ) or 0


def waiting_shown_to_handler(session: Session, config: ConcernConfig, user_id: int) -> int:
    """The count as a handler's inbox and summary show it: without the concerns that
    keep this handler out, whose very existence is not theirs to learn."""
    waiting = set(session.scalars(
        select(Concern.id).where(Concern.purged_on.is_(None), ~has_active_reader())))
    if not waiting:
        return 0
    return len(waiting - conflicts.concerns_excluding(session, config, user_id))


@dataclass(frozen=True)
class ReaderStatus:
    """What the admin status page shows: counts and account names, never a concern."""

    waiting_for_a_reader: int
    not_ready: str | None
    # Active handlers with no key pair yet: each must sign in once before anything can
    # be shared with them.
    not_signed_in: list[str]
    # Active handlers with a key pair: `speakup keys recover` can give them access.
    can_receive: list[str]
    # Disabled (or no longer handler) accounts still holding wraps of concerns nobody
    # else can read: re-enabling one gives those concerns a reader back.
    former_readers: list[str]


def reader_status(session: Session) -> ReaderStatus:
    handlers = session.execute(
        select(User.email, HandlerKey.user_id.is_not(None))
        .outerjoin(HandlerKey, HandlerKey.user_id == User.id)
        .where(User.role == Role.HANDLER.value, User.disabled.is_(False))
        .order_by(User.email)
    ).all()
    unreadable = select(Concern.id).where(Concern.purged_on.is_(None), ~has_active_reader())
    former = session.scalars(
        select(User.email).distinct()
        .join(ConcernKeyWrap, and_(ConcernKeyWrap.reader_id == User.id,
                                   ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
                                   ConcernKeyWrap.seq == 1))
        .where(ConcernKeyWrap.concern_id.in_(unreadable))
        .order_by(User.email)
    ).all()
    return ReaderStatus(
        waiting_for_a_reader=count_waiting_for_a_reader(session),
        not_ready=not_ready_reason(session),
        not_signed_in=[email for email, keyed in handlers if not keyed],
        can_receive=[email for email, keyed in handlers if keyed],
        former_readers=list(former),
    )


def health_detail(session: Session) -> dict[str, object]:
    """The concerns part of `/healthz`: a flag and a count, nothing about any concern."""
    return {"concerns": {"receiving": not_ready_reason(session) is None,
                         "waiting_for_a_reader": count_waiting_for_a_reader(session)}}


def alert_body(settings: Settings, count: int, why: str) -> str:
    return (
        f"{why}\n\n"
        f"Concerns waiting for a reader: {count}\n\n"
        "No active case handler can read them, so nobody will answer them until one can. "
        "To fix it: make sure a case handler has signed in at least once, then run\n\n"
        "    speakup keys recover --key RECOVERY-KEY-FILE --handler HANDLER-EMAIL\n\n"
        "(or re-enable the handler who could read them). What to do, and who can receive "
        f"access, is on {settings.base_url}{ADMIN_PATH}\n\n"
        "This e-mail holds a count only: nothing about any concern.\n"
    )


def account_change_warning(count: int) -> str:
    return (f"Warning: {count} concerns now have no active case handler who can read them. "
            f"The administrators have been e-mailed; what to do is on {ADMIN_PATH}")


def _admin_emails(session: Session) -> list[str]:
    return list(session.scalars(
        select(User.email).where(User.role == Role.ADMIN.value, User.disabled.is_(False))
        .order_by(User.email)
    ))


def mail_admins(session: Session, settings: Settings, mailer: Mailer, count: int,
                why: str) -> int:
    """Mail every active admin the count; return how many mails were handed over."""
    sent = 0
    for email in _admin_emails(session):
        mailer.send(build_message(settings, email, ALERT_SUBJECT,
                                  alert_body(settings, count, why)))
        sent += 1
    return sent


AFTER_ACCOUNT_CHANGE = "An administrator's change to a case handler's account has just left " \
                       "concerns that no active case handler can read."
DAILY = "Daily check: there are concerns that no active case handler can read."


def alert_after_account_change(session: Session, settings: Settings, mailer: Mailer,
                               before: int) -> int:
    """Mail admins at once if an account change raised the count (it says nothing about
    when any reporter wrote); return the count now."""
    now = count_waiting_for_a_reader(session)
    if now > before:
        try:
            mail_admins(session, settings, mailer, now, AFTER_ACCOUNT_CHANGE)
        except MailError:
            log.exception("The admins could not be told that concerns have no reader; the "
                          "daily check tells them at the summary hour.")
    return now


def send_daily_alert(session: Session, clock: Clock, config: ConcernConfig,
                     settings: Settings, mailer: Mailer) -> int:
    """At the daily summary hour, mail admins once if any concern waits for a reader.

    Batched with the handlers' summary (concerns.digest), so the mail can say no more
    about when a concern arrived than the summary already does. The day is claimed
    before sending; a failed send is retried at the next tick. Returns mails sent.
    """
    now = config.local_now(clock)
    if now.time() < config.digest_at:
        return 0
    today = now.date()
    row = session.get(SiteSetting, ALERT_SENT_KEY, with_for_update=True)
    if row is not None and row.value >= today.isoformat():
        session.rollback()
        return 0
    count = count_waiting_for_a_reader(session)
    if count == 0:  # the day stays unclaimed: a later tick today still tells them
        session.rollback()
        return 0
    if row is None:
        session.add(SiteSetting(key=ALERT_SENT_KEY, value=today.isoformat()))
    else:
        row.value = today.isoformat()
    try:
        sent = mail_admins(session, settings, mailer, count, DAILY)
    except MailError:
        session.rollback()
        log.exception("The admins' daily unread-concerns mail could not be sent; it is "
                      "retried at the next run.")
        return 0
    session.commit()
    return sent
