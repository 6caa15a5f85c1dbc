"""Concern categories: the list reporters choose from, kept by admins (audited)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concerns.errors import ConcernNotFoundError, FieldError
from concerns.messages import clean_text
from concerns.models import ConcernCategory
from speakup import audit
from speakup.clock import Clock

MAX_CATEGORY_LABEL = 120


def list_categories(session: Session, *, active_only: bool = True) -> list[ConcernCategory]:
    query = select(ConcernCategory).order_by(ConcernCategory.position, ConcernCategory.id)
    if active_only:
        query = query.where(ConcernCategory.active.is_(True))
    return list(session.scalars(query))


def add_category(session: Session, clock: Clock, *, label: str, actor: str) -> ConcernCategory:
    label = _category_label(session, label)
    position = (session.scalar(select(func.max(ConcernCategory.position))) or 0) + 1
    category = ConcernCategory(label=label, position=position, active=True)
    session.add(category)
    session.flush()
    audit.record(session, clock, actor=actor, action="category.create", subject=label)
    return category


def update_category(
    session: Session, clock: Clock, category_id: int, *, label: str, active: bool, actor: str
) -> ConcernCategory:
    category = session.get(ConcernCategory, category_id)
    if category is None:
        raise ConcernNotFoundError("There is no such category.")
    label = _category_label(session, label, exclude_id=category.id)
    changes: dict[str, list[object]] = {}
    if label != category.label:
        changes["label"] = [category.label, label]
        category.label = label
    if active != category.active:
        if not active and sum(1 for c in list_categories(session) if c.id != category.id) == 0:
            raise FieldError("active", "At least one category must stay open to reporters.")
        changes["active"] = [category.active, active]
        category.active = active
    if changes:
        audit.record(session, clock, actor=actor, action="category.update",
                     subject=category.label, detail=changes)
    return category


def _category_label(session: Session, label: str, exclude_id: int | None = None) -> str:
    return chosen_label(session, ConcernCategory, label, max_chars=MAX_CATEGORY_LABEL,
                        noun="a category", exclude_id=exclude_id)


def chosen_label(session: Session, model: Any, label: str, *, max_chars: int, noun: str,
                 exclude_id: int | None = None) -> str:
    """A new name for an entry of a chosen list (`model` has `id` and `label`): one line,
    not too long, unique ignoring case; else FieldError at the label."""
    cleaned = clean_text(label, field_name="label", label="Name", required=True,
                         max_chars=max_chars)
    if "\n" in cleaned or "\t" in cleaned:
        raise FieldError("label", "Name: use a single line.")
    # Compared in Python: SQLite's lower() folds ASCII only, so "Énergie" typed twice
    # slipped past it into the unique index. The lists are short (an admin's).
    folded = cleaned.casefold()
    clash = next((id_ for id_, other in session.execute(select(model.id, model.label))
                  if other.casefold() == folded), None)
    if clash is not None and clash != exclude_id:
        raise FieldError("label", f"Name: {noun} with that name already exists.")
    return cleaned
