"""Themes of the Freedom to Speak Up guardians' quarterly data return.

Handlers tag a concern with any number of themes (the National Guardian's Office
list, seeded by migration 0013; admins rename, add and retire, never delete, so past
returns keep their meaning). Handlers, who read every case anyway, download a
quarter's exact counts for their return (audited: who exported what); the advisory
group sees the same counts only through the quarterly publication
(`concerns.publication`), above the minimum group size. Every concern here is
"raised anonymously", so the return's count of anonymous concerns is the quarter's
received count.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from concerns.errors import N_, TranslatableError
from concerns.labelled_lists import LabelledList
from concerns.models import EXCLUDED_OUTCOMES, Concern, ConcernTheme, ConcernThemeTag
from concerns.stats import parse_quarter, quarter_bounds
from speakup import audit
from speakup.clock import Clock
from speakup.digits import coerce_ascii_int
from speakup.spreadsheet import formula_safe

MAX_THEME_LABEL = 120
TAG_ACTION = "concern.themes"  # per concern: counted like concern actions on the review
EXPORT_ACTION = "themes.export"


class ThemeError(TranslatableError):
    """A theme change or export was refused; nothing was stored."""


class ThemeFieldError(ThemeError):
    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(message, **params)
        self.field = field


def _clean_label(session: Session, label: object, exclude_id: int | None = None) -> str:
    cleaned = " ".join(label.split()) if isinstance(label, str) else ""
    if not cleaned:
        raise ThemeFieldError("label", N_("Name: enter a name."))
    if len(cleaned) > MAX_THEME_LABEL:
        raise ThemeFieldError("label", N_("Name: use at most %(most)s characters."),
                              most=MAX_THEME_LABEL)
    # Compared in Python: SQLite's lower() folds ASCII only.
    folded = cleaned.casefold()
    for id_, other in session.execute(select(ConcernTheme.id, ConcernTheme.label)):
        if other.casefold() == folded and id_ != exclude_id:
            raise ThemeFieldError("label", N_("Name: a theme with that name already exists."))
    return cleaned


THEMES = LabelledList(ConcernTheme, "theme", _clean_label,
                      lambda: ThemeError(N_("There is no such theme.")))


def list_themes(session: Session, *, active_only: bool = True) -> list[ConcernTheme]:
    return THEMES.entries(session, active_only=active_only)


def add_theme(session: Session, clock: Clock, *, label: object, actor: str) -> ConcernTheme:
    return THEMES.add(session, clock, label=label, actor=actor)


def update_theme(session: Session, clock: Clock, theme_id: int, *, label: object, active: bool,
                 actor: str) -> ConcernTheme:
    """Rename or retire (or bring back) a theme; audited."""
    return THEMES.update(session, clock, theme_id, label=label, active=active, actor=actor)


def concern_theme_ids(session: Session, concern_id: str) -> set[int]:
    return set(session.scalars(
        select(ConcernThemeTag.theme_id).where(ConcernThemeTag.concern_id == concern_id)))


def set_concern_themes(session: Session, clock: Clock, concern_id: str, theme_ids: Iterable[object],
                       *, actor: str) -> tuple[list[str], list[str]]:
    """Make the concern's themes exactly these; audit what was added and removed.

    A retired theme already on the concern may stay; it cannot be newly added.
    Returns the labels added and removed. Never commits.
    """
    if session.get(Concern, concern_id) is None:
        raise ThemeError(N_("There is no such concern."))
    themes = {t.id: t for t in list_themes(session, active_only=False)}
    wanted: set[int] = set()
    for value in theme_ids:
        try:
            # ASCII digits only: int() would also take "١" or " 1" from a forged form.
            wanted.add(coerce_ascii_int(value))
        except ValueError:
            raise ThemeFieldError("themes", N_("Choose themes from the list.")) from None
    current = concern_theme_ids(session, concern_id)
    added, removed = wanted - current, current - wanted
    if any(t not in themes or not themes[t].active for t in added):
        raise ThemeFieldError("themes", N_("Choose themes from the list."))
    if removed:
        session.execute(delete(ConcernThemeTag).where(
            ConcernThemeTag.concern_id == concern_id, ConcernThemeTag.theme_id.in_(removed)))
    session.add_all(ConcernThemeTag(concern_id=concern_id, theme_id=t) for t in sorted(added))
    session.flush()
    added_labels = [themes[t].label for t in sorted(added)]
    removed_labels = [themes[t].label for t in sorted(removed)]
    if added or removed:
        audit.record(session, clock, actor=actor, action=TAG_ACTION, subject=concern_id,
                     detail={"added": added_labels, "removed": removed_labels})
    return added_labels, removed_labels


def theme_counts(session: Session, received_in: Any) -> list[list[Any]]:
    """[id, label, active, concerns] for every theme, over concerns matching `received_in`."""
    found = dict(session.execute(
        select(ConcernThemeTag.theme_id, func.count())
        .join(Concern, Concern.id == ConcernThemeTag.concern_id)
        .where(received_in)
        .group_by(ConcernThemeTag.theme_id)
    ).all())  # fmt: skip
    return [[t.id, t.label, bool(t.active), int(found.get(t.id, 0))]
            for t in list_themes(session, active_only=False)]


def _received_in(quarter: str) -> Any:
    first, last = quarter_bounds(*parse_quarter(quarter))
    counted = or_(Concern.outcome.is_(None), Concern.outcome.not_in(list(EXCLUDED_OUTCOMES)))
    return and_(Concern.received_on >= first, Concern.received_on <= last, counted)


def quarter_return(session: Session, quarter: str) -> tuple[int, list[tuple[str, int]]]:
    """The exact figures for one quarter's return: concerns received, and per theme."""
    received_in = _received_in(quarter)
    received = int(session.scalar(select(func.count()).select_from(Concern)
                                  .where(received_in)) or 0)  # fmt: skip
    return received, [(label, n) for _, label, _, n in theme_counts(session, received_in)]


def export_quarter_return(session: Session, clock: Clock, quarter: str, *,
                          actor: str) -> tuple[str, str]:
    """The quarter's canonical label and its return as CSV (formula-escaped).

    Audited as an export, only once the quarter has been read. Never commits.
    """
    try:
        year, q = parse_quarter(quarter)
        if not 1 <= q <= 4 or not 2000 <= year <= 2999:
            raise ValueError
    except ValueError:
        raise ThemeFieldError("quarter", N_("Choose a quarter like 2026-Q3.")) from None
    label = f"{year}-Q{q}"
    received, rows = quarter_return(session, label)
    out = io.StringIO()
    out.write("\ufeff")  # lets spreadsheet programs read accented theme names correctly
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["quarter", "figure", "concerns"])
    writer.writerow([label, "Concerns received", received])
    writer.writerow([label, "Raised anonymously", received])
    for theme, n in rows:
        writer.writerow([label, formula_safe(str(theme)), n])
    audit.record(session, clock, actor=actor, action=EXPORT_ACTION, subject=label,
                 detail={"format": "csv", "rows": len(rows) + 2})
    return label, out.getvalue()
