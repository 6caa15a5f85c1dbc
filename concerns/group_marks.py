"""The reporter's professional group, stored without a link to their concern.

The concern form asks one optional question, the reporter's professional group, for the
Freedom to Speak Up guardian's quarterly return. A plain column on the concern would put
the group beside its dates in every copy of the database, and a group beside a date can
single a reporter out (the only consultant from a minority group who raised a concern
that week); DESIGN.md rule 2 keeps plain columns to category, status and dates.

So, as with the reporters' verdict (`concerns.verdict`), each answer is one
`ConcernGroupMark` row holding the quarter the concern was received in, the group and
a `counted` flag — no concern id, no receipt hash, no date, a random id (on SQLite the
table is stored in the order of that id, not of arrival). The row's id, with the group,
travels inside the concern's first message (`MARK_FIELD`, `GROUP_FIELD`), sealed with
the report to every handler who may read it, to the reporter's key and to the recovery
key: only someone who can read the concern learns which row is its.

Spam and duplicates are left out of every figure. A handler closing a concern as spam
or a duplicate normally has their key unlocked (they have just read it), so the first
message is decrypted there and its row's `counted` is set False; a handler
reopening it sets it back, under the same condition. A handler who cannot read the
concern (it was not shared with them, or their key is locked) cannot find the row: the
group then stays counted, and the return's "Not answered" line, which is the cases
raised minus the counted answers, is one lower (never below zero; the quarterly
publication then shows no group table for that quarter); one who reopens it leaves the
answer uncounted. Share the concern first, or unlock the key.

Residual limits, stated so nobody over-promises: someone who copies the database
before and after a submission sees one concern row and one mark row appear together
(and before and after a spam marking, one concern's outcome and one mark's flag
change together), which links that concern to its group; a quarter with very few
concerns narrows down whose marks they are. The engines keep traces of one write
together: a live PostgreSQL database (not a dump) stamps every row with the transaction
that wrote it (the concern's first message and its mark share it) and keeps rows in
arrival order on its heap; SQLite's -wal file, until checkpointed, holds one
submission's pages side by side. Like the verdict's, the mark is written with the
submission; writing it apart (later, in a batch) would close that and is not done. Only
handlers see exact counts (the audited return); reviewers see only the quarterly
publication's aggregates of at least k.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from concerns.messages import decrypt_messages
from concerns.models import Concern, ConcernGroupMark, MessageKind, ProfessionalGroup, Reader

# Keys of the first message's body (a JSON object of strings) that carry the answer.
GROUP_FIELD = "professional_group"
MARK_FIELD = "group_mark"

_INSERT_MARK = insert(ConcernGroupMark.__table__)


def new_mark_id() -> str:
    return secrets.token_hex(16)


def body_entries(group_id: int | None, mark_id: str | None) -> dict[str, str]:
    """What the first message carries: nothing when the question was not answered."""
    if group_id is None or mark_id is None:
        return {}
    return {GROUP_FIELD: str(group_id), MARK_FIELD: mark_id}


def store_mark(session: Session, mark_id: str, quarter: str, group_id: int) -> None:
    """Insert one answer's unlinked row (Core, on the submission's hot path)."""
    session.connection().execute(_INSERT_MARK, {"id": mark_id, "quarter": quarter,
                                                "group_id": group_id, "counted": True})


def group_id_of(body: dict[str, str] | None) -> int | None:
    """The group a decrypted first message names, or None."""
    value = (body or {}).get(GROUP_FIELD, "")
    return int(value) if value.isascii() and value.isdigit() else None


def group_label(session: Session, body: dict[str, str] | None) -> str | None:
    """The current label of the group a decrypted first message names (for handlers)."""
    group_id = group_id_of(body)
    group = session.get(ProfessionalGroup, group_id) if group_id is not None else None
    return group.label if group is not None else None


def set_counted(session: Session, concern: Concern, private_key: X25519PrivateKey | None,
                handler_id: int, counted: bool) -> bool:
    """Count or stop counting the concern's answer; False when this handler cannot read
    the first message (nothing changes then). Never commits."""
    if private_key is None:
        return False
    first = next((m for m in decrypt_messages(session, concern.id, private_key,
                                              Reader.HANDLER, handler_id, include_notes=False,
                                              with_authors=False)
                  if m.kind == MessageKind.REPORT), None)
    if first is None or first.body is None:
        return False
    mark_id = first.body.get(MARK_FIELD)
    if mark_id:
        session.execute(update(ConcernGroupMark).where(ConcernGroupMark.id == mark_id)
                        .values(counted=counted).execution_options(synchronize_session=False))
    return True


def counted_by_group(session: Session, quarter: str) -> dict[int, int]:
    """Counted answers of concerns received in the quarter: group id -> count (SQL)."""
    return {int(group_id): int(n) for group_id, n in session.execute(
        select(ConcernGroupMark.group_id, func.count())
        .where(ConcernGroupMark.quarter == quarter, ConcernGroupMark.counted.is_(True))
        .group_by(ConcernGroupMark.group_id)
    )}  # fmt: skip
