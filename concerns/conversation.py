"""The reporter's side: turn a typed receipt into keys, read the conversation, reply.

A reply to a closed concern within the reopening period reopens it (`reopen`, which
handlers also use).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from concerns import crypto, evidence, ratelimit
from concerns.config import ConcernConfig
from concerns.errors import (
    N_,
    ConcernClosedError,
    ConcernNotFoundError,
    ConversationMovedOnError,
    MalformedReceiptError,
    Nn_,
    RateLimitedError,
    ReceiptNotFoundError,
)
from concerns.messages import (
    MAX_MESSAGE,
    ConcernSummary,
    Conversation,
    append_message,
    clean_text,
    decrypt_messages,
    summarise,
)
from concerns.models import EXCLUDED_OUTCOMES, Concern, MessageKind, Reader, Status
from speakup import audit
from speakup.clock import Clock

CHECK_BUCKET = "receipt-check"


@dataclass(frozen=True)
class ReceiptKeys:
    """What a typed receipt turns into; computed the same way whether or not it exists."""

    receipt: str = field(repr=False)
    lookup: bytes
    private_key: X25519PrivateKey = field(repr=False)
    bucket: str

    @property
    def download_bucket(self) -> str:
        """The receipt's own budget for file downloads, apart from its checks (issue 19)."""
        return "files:" + self.bucket.removeprefix("receipt:")


def receipt_keys(config: ConcernConfig, typed: object) -> ReceiptKeys:
    """Normalise a typed receipt and derive its lookup hash, key and rate-limit bucket."""
    canonical = crypto.normalise_receipt(typed) if isinstance(typed, str) else None
    if canonical is None:
        raise MalformedReceiptError(
            "receipt",
            N_("That is not a receipt. A receipt has 20 letters and numbers in five groups "
               "of four, like ABCD-EFGH-JKMN-PQRS-TVWX."),
        )
    bucket_hash = crypto.receipt_lookup_key(canonical, config.rate_limit_key).hex()
    return ReceiptKeys(
        receipt=canonical,
        lookup=crypto.receipt_lookup_key(canonical, config.lookup_key),
        private_key=crypto.reporter_private_key(canonical, config.reporter_key),
        bucket=f"receipt:{bucket_hash[:40]}",
    )


def count_receipt_use(
    session: Session, clock: Clock, config: ConcernConfig, keys_: ReceiptKeys, *,
    download: bool = False,
) -> None:
    """Count a check or reply (or, with `download`, a file download) against the limits.

    The caller commits this on its own, before looking the receipt up, so that wrong
    guesses are counted even though they change nothing else. Downloads have their own
    per-receipt budget (issue 19, finding 4): a reporter fetching the files of their
    conversation must not use up the checks that keep them in it. Each refusal says
    which limit it was and how long until it opens again.
    """
    now = clock.now()
    key = config.rate_limit_key
    wait = ratelimit.seconds_to_next_window(now)
    minutes = ratelimit.wait_minutes(wait)
    # The global limit counts only receipts that name no concern (guesses, typos): a
    # script flooding it with made-up receipts cannot lock a reporter holding a real
    # one out (issue 13, finding 3). A real receipt has its own per-receipt limits,
    # which only someone holding that receipt can use up.
    known = session.scalar(select(Concern.id).where(Concern.receipt_hash == keys_.lookup))
    if known is None and not ratelimit.hit(
            session, CHECK_BUCKET, config.receipt_checks_per_minute, now, key, forget_all=True):
        raise RateLimitedError(
            Nn_("There have been too many receipt checks in the last minute. You can try "
                "again in about %(num)s minute; nothing you typed has been lost.",
                "There have been too many receipt checks in the last minute. You can try "
                "again in about %(num)s minutes; nothing you typed has been lost."), wait,
            num=minutes)
    if download:
        if not ratelimit.hit(session, keys_.download_bucket,
                             config.downloads_per_receipt_per_minute, now, key):
            raise RateLimitedError(
                Nn_("You have downloaded %(files)s files in the last minute, the most allowed "
                    "with one receipt. You can download more in about %(num)s minute. Reading "
                    "your concern and replying are counted apart from downloads, so you can "
                    "carry on here.",
                    "You have downloaded %(files)s files in the last minute, the most allowed "
                    "with one receipt. You can download more in about %(num)s minutes. Reading "
                    "your concern and replying are counted apart from downloads, so you can "
                    "carry on here."), wait,
                num=minutes, files=config.downloads_per_receipt_per_minute)
        return
    if not ratelimit.hit(session, keys_.bucket, config.checks_per_receipt_per_minute, now, key):
        raise RateLimitedError(
            Nn_("Your receipt has been used %(times)s times in the last minute to show your "
                "concern, reply or answer, the most allowed. You can try again in about "
                "%(num)s minute; nothing you typed has been lost. (Downloading files is "
                "counted apart and does not use these up.)",
                "Your receipt has been used %(times)s times in the last minute to show your "
                "concern, reply or answer, the most allowed. You can try again in about "
                "%(num)s minutes; nothing you typed has been lost. (Downloading files is "
                "counted apart and does not use these up.)"), wait,
            num=minutes, times=config.checks_per_receipt_per_minute)


def _concern_for_receipt(session: Session, keys_: ReceiptKeys) -> Concern:
    concern = session.scalar(select(Concern).where(Concern.receipt_hash == keys_.lookup))
    if concern is None:
        raise ReceiptNotFoundError(
            N_("We could not find a concern with that receipt. Check it and try again.")
        )
    return concern


def open_conversation(session: Session, keys_: ReceiptKeys) -> Conversation:
    """Return the reporter's view of their concern: replies, dates, status; no notes."""
    concern = _concern_for_receipt(session, keys_)
    messages = decrypt_messages(session, concern.id, keys_.private_key, Reader.REPORTER, 0,
                                 include_notes=False, with_authors=False)
    return Conversation(summarise(session, concern), messages)


def reporter_reply(
    session: Session, clock: Clock, config: ConcernConfig, keys_: ReceiptKeys, *,
    text: object, seen_seq: object, files: list[evidence.PreparedFile] | None = None,
) -> Conversation:
    """Add the reporter's reply (and any cleaned files) to their conversation; return it."""
    concern = _concern_for_receipt(session, keys_)
    until = reopen_until(summarise(session, concern), config)
    if concern.status == Status.CLOSED and (until is None or config.today(clock) > until):
        raise ConcernClosedError(N_(
            "This concern has been closed, so it cannot take more replies. "
            "If something new has happened, you can raise a new concern."
        ))
    body = clean_text(text, field_name="text", label="Your reply", required=True,
                      max_chars=MAX_MESSAGE)
    if concern.status == Status.CLOSED:
        # Within the reopening period: the reply reopens it (checked text first, so a
        # reply that is refused reopens nothing).
        reopen(session, clock, config, concern, actor="reporter")
    message = {"text": body}
    if files:
        message["attachments"] = evidence.body_entry(files)
    seq = append_message(session, config, clock, concern, MessageKind.REPORTER_REPLY, message,
                          author_id=None, seen_seq=seen_seq)
    if files:
        evidence.store(session, concern.id, seq, files)
    return open_conversation(session, keys_)


def reopen_until(summary: ConcernSummary, config: ConcernConfig) -> dt.date | None:
    """The last day a reporter's reply reopens this closed concern (None: it cannot).

    Spam and duplicates are not reopened by a reply; a handler can still reopen them.
    """
    if summary.status != Status.CLOSED or summary.closed_on is None or summary.purged:
        return None
    if summary.outcome in EXCLUDED_OUTCOMES:
        return None
    return summary.closed_on + dt.timedelta(days=config.reopen_days)


def reopen(session: Session, clock: Clock, config: ConcernConfig, concern: Concern, *,
            actor: str) -> None:
    """Move a closed concern back to "in progress"; conditional, so it happens once."""
    moved = session.execute(
        update(Concern)
        .where(Concern.id == concern.id, Concern.status == Status.CLOSED.value)
        .values(status=Status.IN_PROGRESS.value, closed_on=None, outcome=None,
                reopened_on=config.today(clock))
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ConversationMovedOnError(N_(
            "Someone changed this concern's status at the same moment. Check the page again."
        ))
    session.refresh(concern)
    audit.record(session, clock, actor=actor, action="concern.reopen", subject=concern.id,
                 detail={"by": "reporter" if actor == "reporter" else "handler"})


def open_reporter_attachment(
    session: Session, keys_: ReceiptKeys, seq: object, number: object,
) -> tuple[evidence.AttachmentInfo, Iterator[bytes]]:
    """Give the reporter one file of their conversation (theirs or a handler's reply)."""
    wanted = [int(v) if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 10
              else -1 for v in (seq, number)]
    conversation = open_conversation(session, keys_)
    body = next((m.body for m in conversation.messages if m.seq == wanted[0]), None)
    info = next((a for a in evidence.listed(body) if a.number == wanted[1]), None)
    key = evidence.key_of(body, wanted[1]) if body is not None else None
    if info is None or key is None:
        raise ConcernNotFoundError(N_("There is no such attachment."))
    return info, evidence.stream(session, conversation.concern.id, wanted[0], wanted[1], key)
