"""What opening, closing or publishing a round will do, shown before an admin confirms it.

Each of these moves is irreversible: opening mails the whole audience and freezes
`k`; closing stops answers and leads straight to publication; publication deletes
the raw answers for good. The admin pages and `speakup rounds …` show this preview
first and act only on an explicit confirmation. Reads only: nothing is stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from speakup.clock import Clock, as_utc
from speakup.settings import MIN_GROUP_SIZE_FLOOR, Settings
from speakup.translatable import N_, Nn_, Phrase, Translatable
from surveys import rounds
from surveys.audience import audience_size
from surveys.models import Round, RoundStatus, Survey
from surveys.naming import round_label
from surveys.publish import PublicationError, preview_suppression
from surveys.published import PREFER_NOT, PublishedRound

ACTIONS = ("open", "close", "publish")
# The status each action starts from.
_FROM = {"open": RoundStatus.SCHEDULED, "close": RoundStatus.OPEN,
         "publish": RoundStatus.CLOSED}

# Why a round in another status cannot take the action.
_ONLY = {"open": N_("This round is %(status)s; only a scheduled round opens."),
         "close": N_("This round is %(status)s; only an open round closes."),
         "publish": N_("This round is %(status)s; only a closed round can be published.")}


@dataclass(frozen=True)
class HiddenGroups:
    """The groups of one breakdown that publication would hide."""

    dimension: str
    groups: list[str]


@dataclass(frozen=True)
class RoundActionPreview:
    round: Round
    survey: Survey
    action: str
    label: str
    k: int
    audience: int  # addresses invited if the round opens now
    live: rounds.LiveResponses
    # Why the action cannot be taken now (the page then offers no button).
    blocked: str | None = None
    everything_hidden: bool = False  # fewer than k responses: only "fewer than k" is shown
    hidden: list[HiddenGroups] = field(default_factory=list)
    suppression_problem: str | None = None
    # The hidden groups were not worked out (the publish page: the background job works
    # them out, which can take minutes).
    hidden_not_worked_out: bool = False
    raw_retention_days: int = 0
    opens: str = ""
    closes: str = ""
    reminders: list[str] = field(default_factory=list)

    @property
    def deletes_raw(self) -> bool:
        return self.action in ("close", "publish")


# The words every review page uses for a hidden figure (review.tables.not_shown_note).
NOT_SHOWN_WORDS = N_("“not shown” (fewer than %(k)s responses, or hidden as well so that a "
                     "smaller group cannot be worked out by subtraction)")
ALL_BLANK = N_("Every figure: fewer than %(k)s responses, so only the count “fewer than k” "
               "is published.")
GAP_BLANK = Nn_("%(dimension)s: the gap between two of its groups, for every scale and "
                "question, because %(groups)s is %(not_shown)s, so fewer than two groups are "
                "left to compare.",
                "%(dimension)s: the gap between two of its groups, for every scale and "
                "question, because %(groups)s are %(not_shown)s, so fewer than two groups "
                "are left to compare.")
GROUPS_BLANK = Nn_("%(dimension)s: %(groups)s is %(not_shown)s.",
                   "%(dimension)s: %(groups)s are %(not_shown)s.")


def blank_measures(published: PublishedRound) -> list[Translatable]:
    """Say which whole measures a publication leaves blank, and why, in the review's words.

    A gap compares two groups of a breakdown: with fewer than two of them shown, every
    gap of that breakdown is blank on the review pages, the trends and the results page.
    Group and breakdown names are shown as the survey has them.
    """
    if published.responses is None:
        return [Translatable(ALL_BLANK, k=published.k)]
    not_shown = Translatable(NOT_SHOWN_WORDS, k=published.k)
    out = []
    for dimension in published.dimensions:
        counts = published.group_counts.get(dimension.id, {})
        shown = [g.label for g in dimension.groups if g.id != PREFER_NOT and counts.get(g.id)]
        hidden = [g.label for g in dimension.groups if not counts.get(g.id)]
        if len(shown) < 2:
            groups = ", ".join(hidden) if hidden else Phrase(N_("its groups"))
            out.append(Translatable(GAP_BLANK, num=len(hidden), dimension=dimension.name,
                                    groups=groups, not_shown=not_shown))
        elif hidden:
            out.append(Translatable(GROUPS_BLANK, num=len(hidden), dimension=dimension.name,
                                    groups=", ".join(hidden), not_shown=not_shown))
    return out


def preview_round_action(session: Session, round_: Round, action: str, settings: Settings,
                         clock: Clock, *, decide: bool = True) -> RoundActionPreview:
    """Say what `action` would do to the round now; `blocked` says why it cannot.

    With `decide=False` the groups publication would hide are not worked out (that
    runs the whole disclosure decision).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown round action {action!r}")
    survey = session.get(Survey, round_.survey_id)
    assert survey is not None
    k = round_.min_group_size or max(survey.min_group_size, MIN_GROUP_SIZE_FLOOR)
    size = audience_size(session, survey.id)
    times = rounds.times_if_opened(round_, survey, clock) if action == "open" else None
    common = {
        "round": round_, "survey": survey, "action": action,
        "label": round_label(session, round_, survey.timezone), "k": k, "audience": size,
        "live": rounds.live_responses(session, round_),
        "raw_retention_days": settings.raw_retention_days,
        "opens": rounds.local_time(times.opens_at if times else
                                   (round_.opened_at or round_.opens_at), survey.timezone),
        "closes": rounds.local_time(times.closes_at if times else
                                    (round_.closed_at or round_.closes_at), survey.timezone),
        "reminders": [rounds.local_time(t, survey.timezone) for t in
                      (times.reminders if times else [])],
    }
    blocked = _blocked(round_, action, size, clock)
    other = rounds.other_open_round(session, round_) if action == "open" else None
    if blocked is None and other is not None:
        blocked = Translatable(N_("Another round of this survey is still open (it closes "
                                  "%(closes)s): close it first, so nobody is invited twice."),
                               closes=rounds.local_time(other.closes_at, survey.timezone))
    if blocked or action == "open":
        return RoundActionPreview(blocked=blocked, **common)  # type: ignore[arg-type]
    if not decide:
        return RoundActionPreview(hidden_not_worked_out=True, **common)  # type: ignore[arg-type]
    try:
        preview = preview_suppression(session, round_, settings)
    except PublicationError as exc:
        return RoundActionPreview(suppression_problem=Translatable.of(exc), **common)  # type: ignore[arg-type]
    hidden = [
        HiddenGroups(dim.name, [g.label for g in dim.groups
                                if g.id in preview.suppression.groups_hidden.get(dim.id, ())])
        for dim in preview.dimensions
    ]
    return RoundActionPreview(
        everything_hidden=preview.suppression.total_hidden,
        hidden=[h for h in hidden if h.groups], **common,  # type: ignore[arg-type]
    )


def _blocked(round_: Round, action: str, size: int, clock: Clock) -> str | None:
    expected = _FROM[action]
    if round_.status != expected:
        return Translatable(_ONLY[action], status=round_.status)
    if action == "open":
        if size == 0:
            return Translatable(N_("This survey has no audience yet, so nobody would be "
                                   "invited. Upload the staff addresses first."))
        if as_utc(round_.closes_at) <= clock.now().astimezone(dt.UTC):
            return Translatable(N_("This round's window has already ended; it can no longer "
                                   "open."))
    return None
