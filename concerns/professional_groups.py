"""Professional groups: the optional question reporters answer by choosing from a list.

The National Guardian's Office's quarterly return counts concerns by professional
group. Like the category, the answer is a label chosen from the list admins keep
(seeded by migration 0016 with the Office's groups; renamed, added and retired,
never deleted, so past returns keep their meaning) and never free text: free text
could name a ward or a job title that only one person holds. It is stored as a
plain column beside the category (what the statistics count, DESIGN.md rule 2),
counted exactly for handlers in the return (concerns/guardian_return.py) and shown
to reviewers only through the quarterly publication, above the minimum group size.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from concerns.errors import N_, ConcernNotFoundError, FieldError, Phrase
from concerns.labelled_lists import LabelledList, chosen_label
from concerns.models import ProfessionalGroup
from speakup.clock import Clock
from speakup.digits import coerce_ascii_int

MAX_GROUP_LABEL = 120
CHOOSE_GROUP = N_("Choose one of the listed professional groups, or leave the question "
                  "unanswered.")
NOT_ANSWERED = "Not answered"  # how the return and publication label a skipped question


def list_groups(session: Session, *, active_only: bool = True) -> list[ProfessionalGroup]:
    return GROUPS.entries(session, active_only=active_only)


def parse_choice(value: object) -> int | None:
    """The chosen group's id from a form value; None when left unanswered.

    Raises FieldError for anything that is not a list id (checked against the list
    by `check_choice` inside the submission's transaction).
    """
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        # ASCII digits only: int() would also take "١" or " 1" from a forged form.
        return coerce_ascii_int(value)
    except ValueError:
        raise FieldError("professional_group", CHOOSE_GROUP) from None


def check_choice(session: Session, group_id: int | None) -> None:
    """Refuse a group that is not on the list offered now (retired or unknown)."""
    if group_id is None:
        return
    offered = session.scalar(select(ProfessionalGroup.id).where(
        ProfessionalGroup.id == group_id, ProfessionalGroup.active.is_(True)))
    if offered is None:
        raise FieldError("professional_group", CHOOSE_GROUP)


def add_group(session: Session, clock: Clock, *, label: str, actor: str) -> ProfessionalGroup:
    return GROUPS.add(session, clock, label=label, actor=actor)


def update_group(session: Session, clock: Clock, group_id: int, *, label: str, active: bool,
                 actor: str) -> ProfessionalGroup:
    """Rename or retire (or bring back) a group; audited. The question being optional,
    every group may be retired (the question is then not asked)."""
    return GROUPS.update(session, clock, group_id, label=label, active=active, actor=actor)


def _group_label(session: Session, label: str, exclude_id: int | None = None) -> str:
    cleaned = chosen_label(session, ProfessionalGroup, label, max_chars=MAX_GROUP_LABEL,
                           noun=N_("a professional group"), exclude_id=exclude_id)
    if cleaned.casefold() == NOT_ANSWERED.casefold():
        raise FieldError("label", N_("Name: “%(not_answered)s” is how the return counts "
                                     "people who skip the question; choose another name."),
                         not_answered=Phrase(NOT_ANSWERED))
    return cleaned


GROUPS = LabelledList(ProfessionalGroup, "professional_group", _group_label,
                      lambda: ConcernNotFoundError(N_("There is no such professional group.")))
