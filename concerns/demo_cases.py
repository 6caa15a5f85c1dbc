"""Scripted demo concerns: one for each handler feature a newcomer should see working.

`concerns.demo` makes a year of random traffic for the statistics; these few are placed
relative to the day the demo is made, so the inbox shows a deadline passed and one due
soon (for acknowledgement and for feedback), one concern that keeps the second demo
handler out, and one conversation with replies both ways, a verdict answered at closing
and a reply that reopened it. Their dates move with the demo's day, never its content.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from concerns import conversation, messages, services, verdict
from concerns.config import ACKNOWLEDGE_DAYS, FEEDBACK_MONTHS, ConcernConfig, add_months
from concerns.digest import DUE_SOON_DAYS
from concerns.models import Concern, MessageKind, Status
from speakup.clock import FrozenClock
from speakup.models import User


@dataclass(frozen=True)
class DemoCase:
    """What a scripted case is for (printed with its receipt) and what it says."""

    shows: str
    category: int  # index into the categories, wrapped
    what_happened: str
    what_wanted: str = ""


OVERDUE = DemoCase("acknowledgement overdue", 0,
                   "Two colleagues were told in a huddle to 'speak English on this ward'.",
                   "For the ward manager to address it with the whole team.")
DUE_SOON = DemoCase("acknowledgement due soon", 1,
                    "The new rota gives the same three of us every bank holiday again.")
FEEDBACK_OVERDUE = DemoCase("feedback overdue", 2,
                            "Equipment checks on the night shift are being signed without "
                            "being done.", "Someone to check the records.")
FEEDBACK_DUE_SOON = DemoCase("feedback due soon", 3,
                             "I was told my complaint about a senior nurse 'would go nowhere'.")
EXCLUDED = DemoCase("keeps Demo Handler 2 out", 4,
                    "I am raising this about a conversation I had with someone in the "
                    "guardian's team, so I have kept one handler out.",
                    "Someone independent to look at it.")
THREAD = DemoCase("a reply thread, a verdict, reopened", 5,
                  "My manager mocks the way I pronounce colleagues' names in front of "
                  "patients.", "For it to stop and for my manager to be told why it matters.")
THREAD_MESSAGES = (
    (MessageKind.HANDLER_REPLY, "Thank you for trusting us with this. Could you tell us "
                                "roughly how often it happens?"),
    (MessageKind.REPORTER_REPLY, "Most shifts we work together, for about two months now."),
    (MessageKind.HANDLER_REPLY, "We have met your manager, who has agreed to training and "
                                "an apology to the team. We will close this now; write back "
                                "if anything changes."),
)
REOPENING_REPLY = "It has started again since the training, this week in front of a patient."
# Themes by position in the migrated list (admins may rename them; positions stay); the
# two nobody has acknowledged yet are not tagged yet either.
THEMES = {OVERDUE: (), DUE_SOON: (), FEEDBACK_OVERDUE: (1,), FEEDBACK_DUE_SOON: (5,),
          EXCLUDED: (3,), THREAD: (3, 4)}


def _clock_on(day: dt.date) -> FrozenClock:
    return FrozenClock(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC))


def _submit(session: Session, config: ConcernConfig, day: dt.date, categories: Sequence[int],
            case: DemoCase, excluded: Sequence[User] = ()) -> tuple[str, Concern]:
    receipt, concern_id = services.submit_concern(
        session, _clock_on(day), config, category_id=categories[case.category % len(categories)],
        what_happened=case.what_happened, what_wanted=case.what_wanted,
        excluded=[str(user.id) for user in excluded] or None,
    )
    concern = session.get(Concern, concern_id)
    assert concern is not None
    return receipt, concern


def _acknowledge(concern: Concern, day: dt.date) -> None:
    concern.status, concern.acknowledged_on = Status.ACKNOWLEDGED.value, day


def _reply(session: Session, config: ConcernConfig, concern: Concern, day: dt.date, text: str,
           author: User | None) -> None:
    messages.append_message(session, config, _clock_on(day), concern, MessageKind.HANDLER_REPLY,
                            {"text": text}, author_id=author.id if author else None,
                            seen_seq=concern.last_seq)
    concern.first_replied_on = concern.first_replied_on or day
    session.flush()


def _feedback_due_soon_day(today: dt.date) -> dt.date | None:
    """A receipt day whose 3-month feedback deadline falls in the next DUE_SOON_DAYS days
    (None on the few days no such day exists, e.g. the end of May after February)."""
    soon = today + dt.timedelta(days=DUE_SOON_DAYS)
    return next((day for day in (today - dt.timedelta(days=n) for n in range(80, 100))
                 if today < add_months(day, FEEDBACK_MONTHS) <= soon), None)


def seed_cases(session: Session, config: ConcernConfig, today: dt.date,
               categories: Sequence[int],
               handlers: Sequence[User]) -> dict[DemoCase, tuple[str, Concern]]:
    """Make the scripted cases; return each one's receipt and row (to tag and print)."""
    made: dict[DemoCase, tuple[str, Concern]] = {}
    first = handlers[0] if handlers else None
    # Never acknowledged: one deadline passed three days ago, one falls tomorrow.
    made[OVERDUE] = _submit(session, config, today - dt.timedelta(days=ACKNOWLEDGE_DAYS + 3),
                            categories, OVERDUE)
    made[DUE_SOON] = _submit(session, config, today - dt.timedelta(days=ACKNOWLEDGE_DAYS - 1),
                             categories, DUE_SOON)
    # Acknowledged, never answered: the 3-month feedback deadline, passed and close.
    received = add_months(today, -FEEDBACK_MONTHS) - dt.timedelta(days=10)
    made[FEEDBACK_OVERDUE] = _submit(session, config, received, categories, FEEDBACK_OVERDUE)
    _acknowledge(made[FEEDBACK_OVERDUE][1], received + dt.timedelta(days=2))
    soon = _feedback_due_soon_day(today)
    if soon is not None:
        made[FEEDBACK_DUE_SOON] = _submit(session, config, soon, categories, FEEDBACK_DUE_SOON)
        _acknowledge(made[FEEDBACK_DUE_SOON][1], soon + dt.timedelta(days=1))
    if len(handlers) > 1 and config.exclusions_offered:
        # The reporter ticked the second handler: only the first (and the recovery key)
        # can read it, and the first cannot recuse without someone to hand it to.
        received = today - dt.timedelta(days=20)
        made[EXCLUDED] = _submit(session, config, received, categories, EXCLUDED,
                                 excluded=[handlers[1]])
        concern = made[EXCLUDED][1]
        _reply(session, config, concern, received + dt.timedelta(days=2),
               "Thank you. Only I can read this; I will look into it and write again.", first)
        concern.status, concern.acknowledged_on = Status.IN_PROGRESS.value, concern.first_replied_on
    made[THREAD] = _seed_thread(session, config, today, categories, handlers)
    session.flush()
    return made


def _seed_thread(session: Session, config: ConcernConfig, today: dt.date,
                 categories: Sequence[int], handlers: Sequence[User]) -> tuple[str, Concern]:
    """Replies both ways, closed with the reporter's verdict, then reopened by their reply
    within the reopening period (as `/concerns/check` does it)."""
    reopened = today - dt.timedelta(days=4)
    closed = reopened - dt.timedelta(days=min(21, config.reopen_days))
    day = closed - dt.timedelta(days=40)
    receipt, concern = _submit(session, config, day, categories, THREAD)
    keys_ = services.receipt_keys(config, receipt)
    for number, (kind, text) in enumerate(THREAD_MESSAGES):
        day += dt.timedelta(days=2 + 10 * number)
        if kind == MessageKind.REPORTER_REPLY:
            conversation.reporter_reply(session, _clock_on(day), config, keys_, text=text,
                                        seen_seq=concern.last_seq)
            continue
        # Both handlers answer, so the thread shows who wrote what.
        author = handlers[(number // 2) % len(handlers)] if handlers else None
        _reply(session, config, concern, day, text, author)
        if concern.acknowledged_on is None:
            concern.status, concern.acknowledged_on = Status.IN_PROGRESS.value, day
    concern.status, concern.closed_on, concern.outcome = Status.CLOSED.value, closed, "resolved"
    session.flush()
    verdict.record_verdict(session, _clock_on(closed), config, keys_.lookup, keys_.private_key,
                           stage="at_closing", answers=verdict.Answers("yes", "4", "3"))
    conversation.reporter_reply(session, _clock_on(reopened), config, keys_,
                                text=REOPENING_REPLY, seen_seq=concern.last_seq)
    return receipt, concern
