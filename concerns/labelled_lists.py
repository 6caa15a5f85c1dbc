"""Lists of labels admins keep: concern categories, themes and professional groups.

Each is a table of rows with `id`, `label`, `position` and `active`: entries are added
at the end, renamed, retired and brought back, never deleted (past publications and
returns keep their meaning), and every change is audited as `<name>.create` or
`<name>.update`. What differs between the lists — how a label is checked, which error
says an entry is missing, whether the last open entry may be retired — is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concerns.errors import N_, FieldError, Phrase
from concerns.messages import clean_text
from speakup import audit
from speakup.clock import Clock


class Labelled(Protocol):
    id: Any
    label: Any
    position: Any
    active: Any


Entry = TypeVar("Entry", bound=Labelled)
# (session, typed label, id of the entry being renamed or None) -> the label to store
LabelCheck = Callable[[Session, Any, "int | None"], str]


@dataclass(frozen=True)
class LabelledList(Generic[Entry]):
    model: type[Entry]
    audit_name: str  # "category": audited as category.create / category.update
    check_label: LabelCheck
    missing: Callable[[], Exception]  # raised for an id that is not on the list
    # Called before an entry is retired; raises to refuse (e.g. the last open category).
    before_retiring: Callable[[Session, Entry], None] | None = None

    def entries(self, session: Session, *, active_only: bool = True) -> list[Entry]:
        model: Any = self.model
        query = select(model).order_by(model.position, model.id)
        if active_only:
            query = query.where(model.active.is_(True))
        return list(session.scalars(query))

    def add(self, session: Session, clock: Clock, *, label: object, actor: str) -> Entry:
        model: Any = self.model
        cleaned = self.check_label(session, label, None)
        position = (session.scalar(select(func.max(model.position))) or 0) + 1
        entry = model(label=cleaned, position=position, active=True)
        session.add(entry)
        session.flush()
        audit.record(session, clock, actor=actor, action=f"{self.audit_name}.create",
                     subject=cleaned)
        return entry

    def update(self, session: Session, clock: Clock, entry_id: int, *, label: object,
               active: bool, actor: str) -> Entry:
        """Rename, retire or bring back an entry; audited when anything changed."""
        entry = session.get(self.model, entry_id)
        if entry is None:
            raise self.missing()
        cleaned = self.check_label(session, label, entry.id)
        changes: dict[str, list[object]] = {}
        if cleaned != entry.label:
            changes["label"] = [entry.label, cleaned]
            entry.label = cleaned
        if active != entry.active:
            if not active and self.before_retiring is not None:
                self.before_retiring(session, entry)
            changes["active"] = [entry.active, active]
            entry.active = active
        if changes:
            audit.record(session, clock, actor=actor, action=f"{self.audit_name}.update",
                         subject=entry.label, detail=changes)
        return entry


def chosen_label(session: Session, model: Any, label: str, *, max_chars: int, noun: str,
                 exclude_id: int | None = None) -> str:
    """A new name for an entry of a chosen list (`model` has `id` and `label`): one line,
    not too long, unique ignoring case; else FieldError at the label."""
    cleaned = clean_text(label, field_name="label", label="Name", required=True,
                         max_chars=max_chars)
    if "\n" in cleaned or "\t" in cleaned:
        raise FieldError("label", N_("Name: use a single line."))
    # Compared in Python: SQLite's lower() folds ASCII only, so "Énergie" typed twice
    # slipped past it into the unique index. The lists are short (an admin's).
    folded = cleaned.casefold()
    clash = next((id_ for id_, other in session.execute(select(model.id, model.label))
                  if other.casefold() == folded), None)
    if clash is not None and clash != exclude_id:
        raise FieldError("label", N_("Name: %(noun)s with that name already exists."),
                         noun=Phrase(noun))
    return cleaned
