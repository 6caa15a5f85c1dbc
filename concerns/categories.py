"""Concern categories: the list reporters choose from, kept by admins (audited)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from concerns.errors import N_, ConcernNotFoundError, FieldError
from concerns.labelled_lists import LabelledList, chosen_label
from concerns.models import ConcernCategory
from speakup.clock import Clock

__all__ = ["MAX_CATEGORY_LABEL", "add_category", "chosen_label", "list_categories",
           "update_category"]

MAX_CATEGORY_LABEL = 120


def _category_label(session: Session, label: str, exclude_id: int | None = None) -> str:
    return chosen_label(session, ConcernCategory, label, max_chars=MAX_CATEGORY_LABEL,
                        noun=N_("a category"), exclude_id=exclude_id)


def _keep_one_open(session: Session, category: ConcernCategory) -> None:
    if sum(1 for c in list_categories(session) if c.id != category.id) == 0:
        raise FieldError("active", N_("At least one category must stay open to reporters."))


CATEGORIES = LabelledList(ConcernCategory, "category", _category_label,
                          lambda: ConcernNotFoundError(N_("There is no such category.")),
                          before_retiring=_keep_one_open)


def list_categories(session: Session, *, active_only: bool = True) -> list[ConcernCategory]:
    return CATEGORIES.entries(session, active_only=active_only)


def add_category(session: Session, clock: Clock, *, label: str, actor: str) -> ConcernCategory:
    return CATEGORIES.add(session, clock, label=label, actor=actor)


def update_category(
    session: Session, clock: Clock, category_id: int, *, label: str, active: bool, actor: str
) -> ConcernCategory:
    return CATEGORIES.update(session, clock, category_id, label=label, active=active,
                             actor=actor)
