"""Reference implementations of survey scoring (pure Python, no database).

Publication computes the same figures in SQL; its tests compare against these.
The definitions, in the words publication must reproduce:

Answers
    Values are as stored (see :mod:`surveys.itembank`). ``None`` (skipped) and
    prefer-not-to-say (0) are not answers: they count towards no ``n``, no mean and
    no share. A value that is not on the item's scale raises ``ValueError``.

Respondent scale score
    The mean of the respondent's *scored* answers (reverse-scored items flipped,
    v -> max + 1 - v) over the instrument's items, only if at least
    ``instrument.min_answered`` of them were answered (an exact integer,
    ceil(share x items)); otherwise ``None``. The denominator is always the whole
    instrument (or subdimension), so a survey that asks only some of its items
    gets scale scores only when enough of them are asked.

Item summary
    ``n`` answers; ``mean`` of scored values (higher = more favourable; ``None``
    for yes/no items); ``favourable_share`` = share of answers in the top boxes
    after reverse scoring, or in the item's favourable direction for yes/no items;
    ``yes_share`` = share answering Yes (yes/no only); ``declined`` = count of
    prefer-not-to-say; ``distribution`` = count per *stored* answer value (the
    option people chose, so labels read right for reversed items), every answer
    value present, zeros included, so ``sum(distribution.values()) == n``.

Scale summary
    Over respondent scale scores: ``n`` respondents with a score, ``mean`` of
    their scores, ``distribution`` = respondents per scale point after rounding
    each score half up to the nearest point (in integers:
    ``(2 * sum + count) // (2 * count)`` for a respondent with ``count`` scored
    answers summing to ``sum``), and ``favourable_share`` = share of respondents
    whose rounded score is in the top boxes, so it equals the top boxes of the
    distribution.

Rounding
    Nothing is rounded during computation: scores, means and shares keep full
    float precision (respondent scores are not rounded before aggregating, except
    for binning into the distribution as above). Round only for display, with
    :func:`round_half_up` (not ``round``, which rounds half to even): means to 2
    decimal places, percentages to whole numbers. SQL results should match these
    to within 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from surveys.itembank import NO, PREFER_NOT_TO_SAY, YES, Instrument, Item, ResponseScale

__all__ = [
    "Summary",
    "respondent_scale_score",
    "round_half_up",
    "scale_point",
    "summarise",
    "summarise_item",
    "summarise_scale",
    "yes_count",
    "yes_share",
]


@dataclass(frozen=True)
class Summary:
    """Aggregate of one item or one scale for one group of respondents."""

    n: int
    mean: float | None
    favourable_share: float | None
    distribution: dict[int, int]
    yes_share: float | None = None
    declined: int = 0


def respondent_scale_score(
    instrument: Instrument,
    answers: Mapping[str, int | None],
    *,
    subdimension: str | None = None,
) -> float | None:
    """Return one respondent's scale (or subdimension) score, or None.

    ``answers`` maps item ids to stored values; ids of other instruments are
    ignored, so a respondent's whole response can be passed.
    """
    if not instrument.has_scale_score:
        raise ValueError(f"instrument {instrument.id!r} has no scale score")
    items = instrument.items_in(subdimension)
    scored = [item.scored(answers.get(item.id)) for item in items]
    answered = [value for value in scored if value is not None]
    minimum = instrument.min_answered_for(subdimension)
    if not answered or minimum is None or len(answered) < minimum:
        return None
    return sum(answered) / len(answered)


def summarise_item(item: Item, values: Iterable[int | None]) -> Summary:
    """Summarise the stored answers to one item."""
    scale = item.scale
    distribution = dict.fromkeys(scale.answer_values, 0)
    scored_total = 0
    favourable = 0
    declined = 0
    for value in values:
        scored = item.scored(value)
        if scored is None:
            if value is not None:
                declined += 1
            continue
        distribution[value] += 1
        scored_total += scored
        favourable += bool(item.is_favourable(value))
    n = sum(distribution.values())
    if scale.type == "yes_no":
        return Summary(
            n=n,
            mean=None,
            favourable_share=favourable / n if n else None,
            distribution=distribution,
            yes_share=distribution[YES] / n if n else None,
            declined=declined,
        )
    return Summary(
        n=n,
        mean=scored_total / n if n else None,
        favourable_share=favourable / n if n else None,
        distribution=distribution,
        declined=declined,
    )


def summarise_scale(instrument: Instrument, scores: Iterable[float | None]) -> Summary:
    """Summarise respondent scale scores (None = respondent has no score)."""
    if not instrument.has_scale_score:
        raise ValueError(f"instrument {instrument.id!r} has no scale score")
    scale = instrument.scale
    distribution = dict.fromkeys(scale.answer_values, 0)
    kept: list[float] = []
    for score in scores:
        if score is None:
            continue
        distribution[scale_point(score, scale)] += 1
        kept.append(score)
    n = len(kept)
    favourable = sum(distribution[point] for point in scale.favourable_values)
    return Summary(
        n=n,
        mean=math.fsum(kept) / n if n else None,
        favourable_share=favourable / n if n else None,
        distribution=distribution,
    )


def summarise(values: Iterable[int | float | None], subject: Item | Instrument) -> Summary:
    """Summarise stored answers to an Item, or respondent scores for an Instrument."""
    if isinstance(subject, Item):
        return summarise_item(subject, values)
    if isinstance(subject, Instrument):
        return summarise_scale(subject, values)
    raise TypeError(f"expected an Item or an Instrument, got {type(subject).__name__}")


def scale_point(score: float, scale: ResponseScale) -> int:
    """Round a scale score half up to the nearest point of an ordinal scale.

    Exact for means of whole numbers: x.5 is representable, so floor(x + 0.5)
    never misplaces a half.
    """
    if scale.type != "ordinal":
        raise ValueError(f"scale {scale.id!r} has no points to round to")
    if not scale.min_value <= score <= scale.max_value:
        raise ValueError(f"score {score!r} is outside scale {scale.id!r}")
    return math.floor(score + 0.5)


def yes_count(values: Iterable[int | None]) -> tuple[int, int]:
    """Return (answering Yes, answering Yes or No) for stored yes/no values.

    Skips (None) and prefer-not-to-say (0) are left out of both counts.
    """
    yes = answered = 0
    for value in values:
        if value is None:
            continue
        if type(value) is not int or value not in (YES, NO, PREFER_NOT_TO_SAY):
            raise ValueError(f"{value!r} is not a yes/no value")
        if value == PREFER_NOT_TO_SAY:
            continue
        answered += 1
        yes += value == YES
    return yes, answered


def yes_share(values: Iterable[int | None]) -> float | None:
    """Return the share answering Yes among those answering Yes or No."""
    yes, answered = yes_count(values)
    return yes / answered if answered else None


def round_half_up(value: float, places: int = 0) -> float:
    """Round for display, halves away from zero, as a person would by hand.

    Works on the shortest decimal repr of the float, so 0.125 -> 0.13 and
    2.675 -> 2.68 (``round`` gives 0.12 and 2.67).
    """
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))
