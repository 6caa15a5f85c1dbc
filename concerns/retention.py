"""Retention: erase the content of concerns closed longer than the retention period."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from concerns import keys, ratelimit
from concerns.config import ConcernConfig
from concerns.models import (
    Concern,
    ConcernAttachmentChunk,
    ConcernExclusion,
    ConcernKeyWrap,
    ConcernMessage,
)
from speakup import audit
from speakup.clock import Clock
from speakup.db import request_erasure


def purge_expired(session: Session, clock: Clock, config: ConcernConfig, *, actor: str) -> int:
    """Delete content and keys of concerns closed longer than the retention period.

    What remains is the dated metadata the statistics need: category, status,
    outcome and the dates of each step. Also forgets expired key sessions and past
    rate-limit windows. Idempotent: run it as often as you like.
    """
    today = config.today(clock)
    cutoff = today - dt.timedelta(days=config.retention_days)
    due = list(
        session.scalars(
            select(Concern.id).where(Concern.closed_on <= cutoff, Concern.purged_on.is_(None))
        )
    )
    if due:
        # The ciphertexts, key wraps and receipt hash must not outlive their rows on disk.
        request_erasure(session, ConcernKeyWrap.__tablename__, ConcernMessage.__tablename__,
                        Concern.__tablename__, ConcernExclusion.__tablename__,
                        ConcernAttachmentChunk.__tablename__)
        session.execute(delete(ConcernKeyWrap).where(ConcernKeyWrap.concern_id.in_(due)))
        # Nothing is left to keep anyone from: the markers go with the content.
        session.execute(delete(ConcernExclusion).where(ConcernExclusion.concern_id.in_(due)))
        session.execute(delete(ConcernAttachmentChunk).where(
            ConcernAttachmentChunk.concern_id.in_(due)))
        session.execute(delete(ConcernMessage).where(ConcernMessage.concern_id.in_(due)))
        session.execute(
            update(Concern)
            .where(Concern.id.in_(due))
            .values(receipt_hash=None, reporter_public_key=None, purged_on=today)
            .execution_options(synchronize_session=False)
        )
        audit.record(session, clock, actor=actor, action="concerns.purge",
                     subject=f"closed on or before {cutoff.isoformat()}",
                     detail={"concerns": len(due)})
    keys.purge_key_sessions(session, clock)
    ratelimit.forget_other_windows(session, ratelimit.window_tag(clock.now(),
                                                                  config.rate_limit_key))
    return len(due)
