"""Widening or narrowing who reads a concern: sharing with another handler, recovery
through the organisation's key, recusal. Every one is audited."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from sqlalchemy import and_, delete, insert, select
from sqlalchemy.orm import Session

from concerns import conflicts, crypto, keys
from concerns.config import ConcernConfig
from concerns.errors import N_, RecusalError, ShareError
from concerns.messages import (
    follow_up_readers,
    get_concern,
    handler_ids_with_access,
    make_reader_id,
    message_aad,
    require_access,
)
from concerns.models import ConcernExclusion, ConcernKeyWrap, ConcernMessage, HandlerKey, Reader
from speakup import audit
from speakup.clock import Clock
from speakup.db import request_erasure
from speakup.models import Role, User


def share_candidates(session: Session, config: ConcernConfig,
                     concern_id: str) -> list[tuple[int, str]]:
    """Active handlers with a key pair who cannot read this concern yet and are not kept
    out of it (by its reporter, or by recusing themselves)."""
    with_access = handler_ids_with_access(session, concern_id)
    rows = [
        (user_id, email)
        for user_id, email in session.execute(
            select(User.id, User.email)
            .join(HandlerKey, HandlerKey.user_id == User.id)
            .where(User.role == Role.HANDLER.value, User.disabled.is_(False),
                   User.id.not_in(with_access))
            .order_by(User.email)
        )
    ]
    kept_out = conflicts.excluded_handlers(session, config, concern_id, [u for u, _ in rows])
    return [(user_id, email) for user_id, email in rows if user_id not in kept_out]


def share_concern(
    session: Session, clock: Clock, config: ConcernConfig, user: User,
    private_key: X25519PrivateKey, concern_id: str, target_id: object,
) -> int:
    """Give another handler every message this handler can read; return how many."""
    concern = get_concern(session, concern_id)
    require_access(session, concern, user)
    candidates = dict(share_candidates(session, config, concern.id))
    target = (int(target_id) if isinstance(target_id, str) and target_id.isascii()
              and target_id.isdigit() and len(target_id) < 10 else None)
    if target not in candidates:
        raise ShareError(N_("Choose a case handler from the list."))
    target_key = session.get(HandlerKey, target)
    assert target_key is not None  # share_candidates joined on it
    shared = _rewrap_all(session, concern.id, Reader.HANDLER, user.id, private_key, target,
                         crypto.public_key_from_raw(target_key.public_key))[concern.id]
    audit.record(session, clock, actor=user.email, action="concern.share", subject=concern.id,
                 detail={"with": candidates[target], "messages": shared})
    return shared


def _rewrap_all(
    session: Session, concern_id: str | None, from_kind: Reader, from_id: int,
    private_key: X25519PrivateKey, target_id: int, target_public: X25519PublicKey,
    skip: frozenset[str] | set[str] = frozenset(),
) -> dict[str, int]:
    """Add handler `target_id` wraps for every message `from` can open; per-concern counts."""
    query = (
        select(ConcernKeyWrap, ConcernMessage.kind)
        .join(ConcernMessage, and_(ConcernMessage.concern_id == ConcernKeyWrap.concern_id,
                                   ConcernMessage.seq == ConcernKeyWrap.seq))
        .where(ConcernKeyWrap.reader_kind == from_kind.value, ConcernKeyWrap.reader_id == from_id)
    )
    if concern_id is not None:
        query = query.where(ConcernKeyWrap.concern_id == concern_id)
    existing = set(
        session.execute(
            select(ConcernKeyWrap.concern_id, ConcernKeyWrap.seq).where(
                ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
                ConcernKeyWrap.reader_id == target_id,
            )
        )
    )
    counts: dict[str, int] = {}
    for wrap, kind in session.execute(query):
        if (wrap.concern_id, wrap.seq) in existing or wrap.concern_id in skip:
            continue
        new = crypto.rewrap(wrap.wrap, private_key, target_public,
                            message_aad(wrap.concern_id, wrap.seq, kind))
        session.add(ConcernKeyWrap(concern_id=wrap.concern_id, seq=wrap.seq,
                                   reader_kind=Reader.HANDLER.value, reader_id=target_id,
                                   wrap=new))
        counts[wrap.concern_id] = counts.get(wrap.concern_id, 0) + 1
    session.flush()
    return counts if concern_id is None else {concern_id: counts.get(concern_id, 0)}


def recover_access(
    session: Session, clock: Clock, config: ConcernConfig, recovery_private: X25519PrivateKey,
    handler_email: str, *, actor: str,
) -> dict[str, int]:
    """Grant a handler every concern through the recovery key; return messages per concern."""
    recovery = keys.matching_recovery_key(session, recovery_private)
    user = session.scalar(select(User).where(User.email == handler_email.strip().lower()))
    if user is None or user.role != Role.HANDLER.value or user.disabled:
        raise ShareError(N_("%(email)s is not an active case handler account."),
                         email=handler_email)
    target_key = keys.handler_key(session, user.id)
    if target_key is None:
        raise keys.NoHandlerKeyError(
            f"{user.email} has not signed in yet, so has no key pair to receive concerns. "
            "Ask them to sign in once, then run this again."
        )
    counts = _rewrap_all(session, None, Reader.RECOVERY, recovery.id, recovery_private, user.id,
                         crypto.public_key_from_raw(target_key.public_key),
                         skip=conflicts.concerns_excluding(session, config, user.id))
    for concern_id, messages in sorted(counts.items()):
        audit.record(session, clock, actor=actor, action="concern.recover", subject=concern_id,
                     detail={"handler": user.email, "messages": messages})
    return counts


# Issue 19, finding 6: a handler who is the only reader, with nobody to share with (the
# others kept out by the reporter, never signed in, or none at all), was told to "share it
# first" with no way to. Recusal is still refused — it would leave the reporter with no
# reader — but the page and this message now say the way out: the recovery key.
SHARE_FIRST = (
    "You are the only handler who can read this concern. Share it with a colleague "
    "first (“Share with another case handler” on this page), then recuse yourself, so that "
    "someone can still answer the reporter."
)
NOBODY_TO_SHARE_WITH = (
    "You are the only handler who can read this concern, and nobody else can be given it "
    "from this page. Recusing now would leave nobody to answer the reporter, so it is "
    "refused. The way out is the organisation's recovery key: ask an admin to have it used "
    "to give another case handler access (see “Conflict of interest” on this page); then "
    "you can recuse yourself."
)


def sole_reader(session: Session, concern_id: str, user: User) -> bool:
    """Whether `user` is the only active handler who can read the concern."""
    concern = get_concern(session, concern_id)
    others = set(follow_up_readers(session, concern, to_reporter=False)) - {
        make_reader_id(Reader.HANDLER, user.id)}
    return not any(reader.startswith("handler:") for reader in others)


def recovery_contacts(session: Session) -> list[str]:
    """Active admins' addresses: whom a handler asks to have the recovery key used."""
    return list(session.scalars(select(User.email).where(
        User.role == Role.ADMIN.value, User.disabled.is_(False)).order_by(User.email)))


def recuse(session: Session, clock: Clock, config: ConcernConfig, user: User,
           concern_id: str) -> int:
    """Take a handler off a concern for good: delete their key wraps, keep them out of
    sharing and recovery, audit it. Refused while nobody else could read it. Returns the
    number of wraps deleted."""
    concern = get_concern(session, concern_id)
    require_access(session, concern, user)
    if sole_reader(session, concern.id, user):
        raise RecusalError(SHARE_FIRST if share_candidates(session, config, concern.id)
                           else NOBODY_TO_SHARE_WITH)
    deleted = session.execute(
        delete(ConcernKeyWrap).where(
            ConcernKeyWrap.concern_id == concern.id,
            ConcernKeyWrap.reader_kind == Reader.HANDLER.value,
            ConcernKeyWrap.reader_id == user.id,
        )
    ).rowcount
    session.execute(insert(ConcernExclusion).values(
        conflicts.exclusion_rows(config, concern.id, [user.id])))
    audit.record(session, clock, actor=user.email, action="concern.recuse", subject=concern.id,
                 detail={"wraps_deleted": deleted})
    request_erasure(session, ConcernKeyWrap.__tablename__)
    return deleted
