"""The round's respondents, one by one, as the insiders' audit needs them.

Publication aggregates in SQL (:mod:`surveys.publish`); the insiders' audit
(:mod:`speakup.insider_audit`) needs what an HR insider is assumed to know — every
respondent's combination of groups — and each respondent's answers, so it reads the
raw rows once more, inside the publishing transaction, before they are erased.
Nothing here is stored or logged: the list lives only for the audit.

Scale score points are computed per respondent exactly as publication's SQL does
(reverse-scored items flipped, only answers on the scale, at least the scale's
minimum number of items answered, the mean rounded half up).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from speakup.insider_audit import Person
from surveys.itembank import Instrument, Item
from surveys.models import Response, ResponseAnswer, ResponseGroup

__all__ = ["round_people"]


class _Scale(Protocol):
    instrument: Instrument
    asked: tuple[Item, ...]

    @property
    def row_id(self) -> str: ...

    @property
    def min_answered(self) -> int: ...


class _Plan(Protocol):
    """What publication asks: its items and its (sub)scales (``surveys.publish._Plan``)."""

    items: tuple[Item, ...]
    scales: Sequence[_Scale]


def round_people(session: Session, round_id: int, plan: _Plan) -> list[Person]:
    """Every respondent of the round: their groups and their answers (as audit keys).

    ``answers`` holds an item's stored value (as a string) only when it is an answer
    (prefer-not-to-say counts as not answered, as publication counts it), and each
    (sub)scale's rounded score point when the respondent has a score.
    """
    items = {item.id: item for item in plan.items}
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for response_id, dimension, option in session.execute(
        select(ResponseGroup.response_id, ResponseGroup.dimension, ResponseGroup.option)
        .where(ResponseGroup.round_id == round_id)
    ):
        groups[response_id][dimension] = option
    values: dict[str, dict[str, int]] = defaultdict(dict)
    for response_id, item_id, value in session.execute(
        select(ResponseAnswer.response_id, ResponseAnswer.item_id, ResponseAnswer.value)
        .where(ResponseAnswer.round_id == round_id, ResponseAnswer.item_id.in_(list(items)))
    ):
        if value is not None:
            values[response_id][item_id] = int(value)
    people = []
    # Sorted by random id: the list's order says nothing about arrival.
    for response_id in sorted(session.scalars(
            select(Response.id).where(Response.round_id == round_id))):
        answered = values.get(response_id, {})
        answers = {item_id: str(value) for item_id, value in answered.items()
                   if value in items[item_id].scale.answer_values}  # fmt: skip
        for scale in plan.scales:
            point = _score_point(scale, answered)
            if point is not None:
                answers[scale.row_id] = str(point)
        people.append(Person(groups=dict(groups.get(response_id, {})), answers=answers))
    return people


def _score_point(scale: _Scale, answered: dict[str, int]) -> int | None:
    top = scale.instrument.scale.max_value
    bottom = scale.instrument.scale.min_value
    scored = [
        (top + 1 - answered[item.id]) if item.reverse else answered[item.id]
        for item in scale.asked
        if item.id in answered and bottom <= answered[item.id] <= top
    ]
    if not scored or len(scored) < scale.min_answered:
        return None
    total, count = sum(scored), len(scored)
    return (2 * total + count) // (2 * count)  # the mean, rounded half up, in integers
