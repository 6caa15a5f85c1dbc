"""Conflicts of interest: handlers a concern must never reach.

A reporter may name handlers (by the display name an admin gave them) who must not
receive their concern; a handler may recuse themselves from one. Either way the
handler holds no key wrap of it — none is ever made for an excluded handler, and a
recusing handler's are deleted — so no code path can decrypt it for them; the
recovery key still can.

What stays in the database is one marker per (concern, handler): an HMAC under a key
derived from the server secret. Share, recovery and the inbox check it so the handler
is never given the concern later. A copy of the database without the secret shows
only how many handlers a concern keeps out, never who.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from concerns.config import ConcernConfig
from concerns.errors import N_, TranslatableError
from concerns.models import ConcernExclusion, HandlerKey, HandlerProfile
from speakup import audit
from speakup.clock import Clock
from speakup.models import Role, User

MAX_DISPLAY_NAME = 80


class DisplayNameError(TranslatableError, ValueError):
    """A display name an admin typed cannot be used; the message says why."""


def marker(config: ConcernConfig, concern_id: str, user_id: int) -> bytes:
    """The stored marker that handler `user_id` must not read concern `concern_id`."""
    return hmac.new(config.exclusion_key, f"exclude:{concern_id}:{user_id}".encode(),
                    hashlib.sha256).digest()


def exclusion_rows(config: ConcernConfig, concern_id: str,
                   user_ids: Iterable[int]) -> list[dict[str, object]]:
    """Rows for `concern_exclusions` (Core insert parameters)."""
    return [{"concern_id": concern_id, "marker": marker(config, concern_id, user_id)}
            for user_id in sorted(set(user_ids))]


def is_excluded(session: Session, config: ConcernConfig, concern_id: str, user_id: int) -> bool:
    return session.get(ConcernExclusion, (concern_id, marker(config, concern_id, user_id))) \
        is not None


def excluded_handlers(session: Session, config: ConcernConfig, concern_id: str,
                      user_ids: Iterable[int]) -> set[int]:
    """Which of `user_ids` this concern keeps out."""
    stored = set(session.scalars(select(ConcernExclusion.marker)
                                 .where(ConcernExclusion.concern_id == concern_id)))
    return {u for u in user_ids if marker(config, concern_id, u) in stored}


def concerns_excluding(session: Session, config: ConcernConfig, user_id: int) -> set[str]:
    """Every concern that keeps handler `user_id` out (one pass over a small table)."""
    return {
        concern_id
        for concern_id, stored in session.execute(
            select(ConcernExclusion.concern_id, ConcernExclusion.marker))
        if hmac.compare_digest(stored, marker(config, concern_id, user_id))
    }


def offered_handlers(session: Session) -> list[tuple[int, str]]:
    """Handlers a reporter may keep out: active, with a key pair and a display name."""
    return [
        (user_id, name)
        for user_id, name in session.execute(
            select(User.id, HandlerProfile.display_name)
            .join(HandlerProfile, HandlerProfile.user_id == User.id)
            .join(HandlerKey, HandlerKey.user_id == User.id)
            .where(User.role == Role.HANDLER.value, User.disabled.is_(False),
                   HandlerProfile.display_name.is_not(None))
            .order_by(HandlerProfile.display_name)
        )
    ]


def handlers_with_names(session: Session) -> list[tuple[User, str | None]]:
    """Every active handler account and its display name (for the admin page)."""
    return [
        (user, name)
        for user, name in session.execute(
            select(User, HandlerProfile.display_name)
            .outerjoin(HandlerProfile, HandlerProfile.user_id == User.id)
            .where(User.role == Role.HANDLER.value, User.disabled.is_(False))
            .order_by(User.email)
        )
    ]


def set_display_name(session: Session, clock: Clock, user_id: int, name: object, *,
                     actor: str) -> str | None:
    """Set (or, given blank, clear) a handler's display name; audited. Returns the name."""
    user = session.get(User, user_id)
    if user is None or user.role != Role.HANDLER.value:
        raise DisplayNameError(N_("That account is not a case handler."))
    cleaned = " ".join(str(name or "").split())
    if len(cleaned) > MAX_DISPLAY_NAME:
        raise DisplayNameError(N_("Use at most %(most)s characters."), most=MAX_DISPLAY_NAME)
    if any(not ch.isprintable() for ch in cleaned):
        raise DisplayNameError(N_("Use letters, spaces and punctuation only."))
    new = cleaned or None
    if new is not None:
        clash = session.scalar(select(HandlerProfile.user_id).where(
            HandlerProfile.display_name == new, HandlerProfile.user_id != user_id))
        if clash is not None:
            raise DisplayNameError(N_("Another handler has this name; reporters could not tell "
                                   "them apart. Add a surname or a role."))
    row = session.get(HandlerProfile, user_id)
    if row is None:
        row = HandlerProfile(user_id=user_id, digest_enabled=True, last_digest_on=None)
        session.add(row)
    if row.display_name != new:
        row.display_name = new
        session.flush()
        audit.record(session, clock, actor=actor, action="handler.display_name",
                     subject=user.email, detail={"display_name": new})
    return new
