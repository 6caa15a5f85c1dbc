"""The round's respondents, one by one, as the insiders' audit needs them.

The insiders' audit (:mod:`speakup.insider_audit`) needs what an HR insider is
assumed to know — every respondent's combination of groups — and each respondent's
answers. Publication opens each sealed response once (:mod:`surveys.sealed_answers`)
and hands every opened body both to its tally and to a :class:`PeopleCollector`.
Nothing here is stored or logged: the list lives only for the audit, in the
publishing process, before the round's key is destroyed.

Scale score points are computed per respondent exactly as publication counts them
(reverse-scored items flipped, only answers on the scale, at least the scale's
minimum number of items answered, the mean rounded half up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from speakup.insider_audit import Person
from surveys.itembank import Instrument, Item

__all__ = ["PeopleCollector"]


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


class PeopleCollector:
    """Turn opened response bodies into :class:`Person` records for the insiders' audit.

    ``answers`` holds an item's stored value (as a string) only when it is an answer
    (prefer-not-to-say counts as not answered, as publication counts it), and each
    (sub)scale's rounded score point when the respondent has a score.
    """

    def __init__(self, plan: _Plan) -> None:
        self.items = {item.id: item for item in plan.items}
        self.scales = list(plan.scales)
        self.people: list[Person] = []

    def add(self, body: Mapping[str, Any]) -> None:
        answered = {item_id: int(value) for item_id, value in body["a"].items()
                    if item_id in self.items and value is not None}  # fmt: skip
        answers = {item_id: str(value) for item_id, value in answered.items()
                   if value in self.items[item_id].scale.answer_values}  # fmt: skip
        for scale in self.scales:
            point = _score_point(scale, answered)
            if point is not None:
                answers[scale.row_id] = str(point)
        self.people.append(Person(groups=dict(body["g"]), answers=answers))


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
