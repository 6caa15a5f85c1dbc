"""Demo concerns for `speakup demo`: a year of plausible traffic, through the real services.

Every demo concern is encrypted like a real one: to every handler that has a key pair
(`speakup demo` gives the two demo handlers one before this runs) and to a demo recovery
key, whose file lets `speakup keys recover` grant any other handler access. Handlers have
tagged most of them with themes; `concerns.demo_cases` adds one concern per inbox feature.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concerns import (
    conflicts,
    crypto,
    demo_cases,
    keys,
    messages,
    professional_groups,
    publication,
    services,
    sharing,
    themes,
    verdict,
)
from concerns.config import ConcernConfig
from concerns.models import (
    OUTCOMES,
    Concern,
    ConcernKeyWrap,
    HandlerKey,
    MessageKind,
    Reader,
    Status,
)
from speakup.clock import FrozenClock
from speakup.demo import DEMO_HANDLERS
from speakup.models import User
from speakup.web import Services

DEMO_KEY_FILE = "demo-recovery-key.pem"
# Concerns per past quarter (oldest first): each reaches k = 5, so statistics show.
PER_QUARTER = (8, 6, 9, 7)
REPORTS = (
    ("A colleague keeps making comments about my accent in team meetings and others laugh.",
     "I would like it to stop, and for my manager to know it is not banter."),
    ("I was passed over for acting-up again; the last three people chosen were all white.",
     "A fair, open process for acting-up roles."),
    ("Agency staff on the night shift are left without a handover most nights.",
     "A handover routine that includes everyone."),
    ("A patient's relative shouted racist abuse at a nurse and nobody logged it.",
     "Incidents like this recorded and staff supported."),
    ("My shift pattern was changed without notice after I raised a grievance.", ""),
    ("Someone keeps moving my things and leaving notes on my desk.",
     "To feel safe at my desk."),
)
# Themes a handler would tag each report with, by position in the migrated list (1 patient
# safety, 2 worker safety, 3 bullying, 4 attitudes, 5 detriment); admins may rename them.
REPORT_THEMES = ((3, 4), (4,), (1, 2), (2, 3), (5,), (3,))
REPLIES = (
    "Thank you for raising this. We have read it carefully and are looking into it.",
    "We have spoken to the team manager. Could you tell us roughly when this started?",
    "An update: the process has been reviewed and changes start next month.",
)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _clock_on(day: dt.date, minute: int) -> FrozenClock:
    return FrozenClock(dt.datetime.combine(day, dt.time(12, minute % 60), tzinfo=dt.UTC))


def _ensure_recovery_key(session: Session, svc: Services, config: ConcernConfig,
                         say: Callable[[str], None]) -> Path | None:
    """Make a demo recovery key if there is none; return where its private half went."""
    if keys.active_recovery_key(session) is not None:
        return None
    pem, _key = keys.create_recovery_key(session, svc.clock, config, actor="demo")
    path: Path = svc.settings.instance_path / DEMO_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    say(f"Demo recovery key written to {path} (a real installation uses `speakup keys init`).")
    return path


def seed_demo_concerns(session: Session, svc: Services, say: Callable[[str], None]) -> None:
    """Create about thirty concerns over the last four quarters, in every status."""
    if session.scalar(select(func.count()).select_from(Concern)):
        say("Demo concerns already exist.")
        _grant_late_demo_handlers(session, svc, say)
        _publish_due_statistics(session, svc, say)
        return
    config: ConcernConfig = svc.extras["concerns"]
    key_file = _ensure_recovery_key(session, svc, config, say) or "<your recovery key file>"
    _name_demo_handlers(session, svc)
    handlers = _demo_handlers(session)
    theme_ids = [t.id for t in themes.list_themes(session)]
    rng = random.Random(2026)  # the same demo every time
    today = config.today(svc.clock)
    categories = [c.id for c in services.list_categories(session)]
    this_quarter = _quarter_start(today)
    starts = [_quarter_start(this_quarter - dt.timedelta(days=1))]
    for _ in range(len(PER_QUARTER) - 1):
        starts.insert(0, _quarter_start(starts[0] - dt.timedelta(days=1)))
    days: list[dt.date] = []
    for start, count in zip(starts, PER_QUARTER, strict=True):
        length = (_quarter_start(start + dt.timedelta(days=95)) - start).days
        days += sorted(start + dt.timedelta(days=rng.randrange(length)) for _ in range(count))
    # Two recent ones (with the scripted cases below, this quarter is published only
    # after it ends, like any other).
    days += [max(this_quarter, today - dt.timedelta(days=d)) for d in (3, 1)]
    receipt = ""
    verdict_rng = random.Random(7)  # its own, so the concerns stay as they always were
    group_rng = random.Random(19)  # likewise for the optional professional-group question
    groups = [g.id for g in professional_groups.list_groups(session)]
    for minute, day in enumerate(days):
        happened, wanted = rng.choice(REPORTS)
        receipt, concern_id = services.submit_concern(
            session, _clock_on(day, minute), config, category_id=rng.choice(categories),
            what_happened=happened, what_wanted=wanted,
            professional_group=_group_answer(group_rng, groups),
        )
        concern = session.get(Concern, concern_id)
        _progress(session, config, concern, today, rng)
        _answer_verdict(session, config, receipt, concern, verdict_rng)
        if concern is not None and concern.acknowledged_on is not None \
                and concern.outcome != "spam":
            _tag(session, svc, concern, REPORT_THEMES[REPORTS.index((happened, wanted))],
                 theme_ids, handlers)
    cases = demo_cases.seed_cases(session, config, today, categories, handlers)
    for case, (_receipt, concern) in cases.items():
        _tag(session, svc, concern, demo_cases.THEMES[case], theme_ids, handlers)
    say(f"Created {len(days) + len(cases)} demo concerns. One receipt to try on "
        f"/concerns/check: {receipt}")
    say("Receipts of the concerns that show each feature (shown once):")
    for case, (case_receipt, _concern) in cases.items():
        say(f"  {case.shows:<38} {case_receipt}")
    say(f"Demo handlers can read them; to give another handler access, run `speakup keys "
        f"recover --key {key_file} --handler <handler e-mail>` after their first sign-in.")
    _publish_due_statistics(session, svc, say)


def _group_answer(rng: random.Random, groups: list[int]) -> str | None:
    """Three reporters in four answer the optional professional-group question."""
    return str(rng.choice(groups)) if groups and rng.random() < 0.75 else None


def _demo_handlers(session: Session) -> list[User]:
    """Active handlers with a key pair, the demo's own first (in DEMO_HANDLERS order)."""
    return [user for user in _all_handlers_demo_first(session)
            if session.get(HandlerKey, user.id) is not None]


def _grant_late_demo_handlers(session: Session, svc: Services,
                              say: Callable[[str], None]) -> None:
    """A demo handler made after the demo concerns (the second one, in an instance an
    older demo made) gets them through the demo recovery key, as `speakup keys recover`
    would, so that every demo handler reads them as the README says."""
    path: Path = svc.settings.instance_path / DEMO_KEY_FILE
    late = [user for user in _demo_handlers(session) if user.email in DEMO_HANDLERS
            and session.scalar(select(ConcernKeyWrap.concern_id).where(
                ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
                ConcernKeyWrap.reader_id == user.id).limit(1)) is None]
    if not late or not path.exists():
        return
    _name_demo_handlers(session, svc)
    try:
        private = crypto.load_recovery_private_key(path.read_bytes())
        for user in late:
            counts = sharing.recover_access(session, svc.clock, svc.extras["concerns"],
                                            private, user.email, actor="demo")
            say(f"Gave {user.email} the {len(counts)} demo concerns through the demo "
                "recovery key.")
    except (crypto.CryptoError, keys.KeyManagementError):
        return  # a real recovery key replaced the demo's: leave access to its holders


def _name_demo_handlers(session: Session, svc: Services) -> None:
    """Give demo handlers the names reporters may pick from on /concerns/new:
    handler@ is "Demo Handler 1", handler2@ "Demo Handler 2", any other one after them."""
    named = {user.id for user, name in conflicts.handlers_with_names(session) if name}
    for number, user in enumerate(_all_handlers_demo_first(session), start=1):
        if user.id not in named:
            conflicts.set_display_name(session, svc.clock, user.id, f"Demo Handler {number}",
                                       actor="demo")


def _all_handlers_demo_first(session: Session) -> list[User]:
    order = {email: i for i, email in enumerate(DEMO_HANDLERS)}
    return sorted((user for user, _name in conflicts.handlers_with_names(session)),
                  key=lambda user: (order.get(user.email, len(order)), user.email))


def _tag(session: Session, svc: Services, concern: Concern, positions: tuple[int, ...],
         theme_ids: list[int], handlers: list[User]) -> None:
    """Tag a concern as its first reader would (audited as that handler)."""
    chosen = [theme_ids[p - 1] for p in positions if p <= len(theme_ids)]
    if chosen:
        themes.set_concern_themes(session, svc.clock, concern.id, chosen,
                                  actor=handlers[0].email if handlers else "demo")


def _publish_due_statistics(session: Session, svc: Services, say: Callable[[str], None]) -> None:
    """Publish the demo's due quarters, as the scheduler would, so the review has figures."""
    config: ConcernConfig = svc.extras["concerns"]
    session.flush()
    done = publication.publish_due_quarters(
        session, svc.clock, config.today(svc.clock), k=svc.settings.min_group_size,
        grace_days=config.stats_grace_days, actor="demo",
    )
    if done:
        say("Published concern statistics for " + ", ".join(q.quarter for q in done) + ".")


def _progress(session: Session, config: ConcernConfig, concern: Concern | None, today: dt.date,
              rng: random.Random) -> None:
    """Move a demo concern along its life with plausible delays, never past today."""
    assert concern is not None
    received = concern.received_on
    if rng.random() < 0.07:
        _set(concern, Status.CLOSED, received + dt.timedelta(days=1), today, outcome="spam")
        return
    acknowledged = received + dt.timedelta(days=rng.choice((1, 2, 3, 5, 6, 9, 12)))
    if not _set(concern, Status.ACKNOWLEDGED, acknowledged, today):
        return
    replied = acknowledged + dt.timedelta(days=rng.randrange(0, 110))
    if replied > today:
        return
    for text in REPLIES[: rng.randrange(1, 4)]:
        messages.append_message(  # demo data, written as a handler would
            session, config, _clock_on(replied, 0), concern, MessageKind.HANDLER_REPLY,
            {"text": text}, author_id=None, seen_seq=concern.last_seq,
        )
        concern.first_replied_on = concern.first_replied_on or replied
        replied += dt.timedelta(days=rng.randrange(3, 30))
        if replied > today:
            return
    if not _set(concern, Status.IN_PROGRESS, replied, today):
        return
    closed = replied + dt.timedelta(days=rng.randrange(5, 90))
    _set(concern, Status.CLOSED, closed, today, outcome=rng.choice(list(OUTCOMES)))


def _answer_verdict(session: Session, config: ConcernConfig, receipt: str,
                    concern: Concern | None, rng: random.Random) -> None:
    """Most demo reporters answer the verdict questions on the day of the last step."""
    assert concern is not None
    stage = verdict.current_stage(status=concern.status,
                                  first_replied_on=concern.first_replied_on)
    if stage is None or concern.outcome == "spam" or rng.random() < 0.15:
        return
    day = concern.closed_on if stage == "at_closing" else concern.first_replied_on
    assert day is not None
    keys_ = services.receipt_keys(config, receipt)
    answers = verdict.Answers(rng.choice(("yes", "yes", "yes", "maybe", "no", "prefer_not")),
                              rng.choice("344555"), rng.choice("234455"))
    verdict.record_verdict(session, _clock_on(day, 0), config, keys_.lookup, keys_.private_key,
                           stage=stage, answers=answers)


def _set(concern: Concern, status: Status, day: dt.date, today: dt.date,
         outcome: str | None = None) -> bool:
    if day > today:
        return False
    concern.status = status.value
    concern.acknowledged_on = concern.acknowledged_on or day
    if status == Status.CLOSED:
        concern.closed_on, concern.outcome = day, outcome
    return True
