"""Synthetic organisations for comparing disclosure protections (issue 17).

``synthetic_org(staff, seed)`` builds a whole organisation and one survey round of it:

- teams of 5 to 40 people with a realistic skew (many small teams, a few big ones:
  sizes drawn from a log-normal with median about 9);
- four ethnicity groups with shares like an English NHS trust's workforce (White
  about 70 %, Asian 13 %, Black 8 %, Mixed or other 4 %) and "prefer not to say"
  about 5 %, and a staff-group dimension (clinical, admin, estates, management);
- a response rate drawn between 40 % and 80 %;
- answers to every general-sector item of the real item bank (surveys/itembank),
  correlated within a person (one latent "climate" per person, shifted by team and,
  for Global Majority staff, by a gap, as staff surveys find) and skewed towards
  agreement; WRES yes/no items answered "yes" (harassment, discrimination) more
  often by Global Majority staff.

It returns the :class:`~surveys.round_disclosure.RoundTruth` publication would
build for that round (items, scale and subscale rows, three dimensions) and the
microdata as :class:`speakup.insider_audit.Person`-shaped records. Seeded: the same
``(staff, seed)`` always gives the same organisation.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from surveys.itembank import YES, Instrument, Item, load_item_bank
from surveys.published import PREFER_NOT
from surveys.round_disclosure import InstrumentTruth, RoundTruth, RowTruth

ETHNICITY_SHARES = {"white": 0.70, "asian": 0.13, "black": 0.08, "mixed_other": 0.04,
                    PREFER_NOT: 0.05}
GLOBAL_MAJORITY = frozenset({"asian", "black", "mixed_other"})
STAFF_GROUP_SHARES = {"clinical": 0.55, "admin": 0.25, "estates": 0.10, "management": 0.07,
                      PREFER_NOT: 0.03}
TEAM_MIN, TEAM_MAX = 5, 40
RESPONSE_RANGE = (0.40, 0.80)
DIMENSIONS = ("team", "ethnicity", "staff_group")


@dataclass(frozen=True)
class SyntheticPerson:
    """One respondent, shaped like ``speakup.insider_audit.Person``."""

    groups: Mapping[str, str]  # dimension -> group id
    answers: Mapping[str, str]  # row id -> answer value key (as in RowTruth.overall)


@dataclass(frozen=True)
class SyntheticOrg:
    staff: int
    seed: int
    team_sizes: tuple[int, ...]  # headcount per team (staff, not respondents)
    response_rate: float
    truth: RoundTruth
    people: tuple[SyntheticPerson, ...]


def team_sizes(staff: int, rng: random.Random) -> list[int]:
    """Split ``staff`` into teams of 5–40, many small and a few big."""
    sizes: list[int] = []
    left = staff
    while left > 0:
        size = min(TEAM_MAX, max(TEAM_MIN, round(rng.lognormvariate(math.log(9), 0.6))))
        if left - size < TEAM_MIN:
            size = left if left <= TEAM_MAX else left - TEAM_MIN
        sizes.append(size)
        left -= size
    if sizes[-1] < TEAM_MIN:  # only when staff < 5: one team of everyone
        sizes = [staff]
    return sizes


def _draw(shares: Mapping[str, float], rng: random.Random) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _general_items() -> tuple[tuple[Instrument, tuple[Item, ...]], ...]:
    bank = load_item_bank()
    out = []
    for instrument in bank.instruments.values():
        items = tuple(i for i in bank.items_for(instrument.id) if i.offered_in("general"))
        if items:
            out.append((instrument, items))
    return tuple(out)


def _answer(item: Item, climate: float, rng: random.Random, gm: bool) -> int | None:
    """One answer: the person's climate plus item noise, skewed towards agreement."""
    if rng.random() < 0.03:
        return None  # skipped
    scale = item.scale
    if scale.type == "yes_no":
        # WRES: yes to harassment/discrimination is commoner for Global Majority staff
        # and for people in a poor climate; "acts fairly" is the favourable yes.
        favourable_yes = item.favourable_value == YES
        base = 0.75 if favourable_yes else 0.22
        shift = (-0.15 if gm else 0.0) if favourable_yes else (0.12 if gm else 0.0)
        p_yes = min(0.95, max(0.03, base + shift + (0.1 if favourable_yes else -0.1) * climate))
        return YES if rng.random() < p_yes else 2
    low, high = scale.min_value, scale.max_value
    centre = low + 0.68 * (high - low) + 0.45 * (high - low) / 4 * climate
    value = round(centre + rng.gauss(0, 0.9 * (high - low) / 6 + 0.3))
    value = min(high, max(low, value))
    return high + low - value if item.reverse else value  # stored raw; reversal flips back


def synthetic_org(staff: int, seed: int = 1) -> SyntheticOrg:
    """Generate an organisation of ``staff`` people and one round's answers."""
    rng = random.Random(f"speakup-synthetic-{staff}-{seed}")
    sizes = team_sizes(staff, rng)
    rate = rng.uniform(*RESPONSE_RANGE)
    team_climate = [rng.gauss(0, 0.7) for _ in sizes]
    instruments = _general_items()
    raw_people: list[tuple[dict[str, str], dict[str, int]]] = []
    for t, size in enumerate(sizes):
        for _ in range(size):
            if rng.random() >= rate:
                continue
            ethnicity = _draw(ETHNICITY_SHARES, rng)
            groups = {"team": f"team_{t + 1:03d}", "ethnicity": ethnicity,
                      "staff_group": _draw(STAFF_GROUP_SHARES, rng)}
            if rng.random() < 0.02:  # skipped the team question altogether
                groups["team"] = ""
            gm = ethnicity in GLOBAL_MAJORITY
            climate = team_climate[t] + rng.gauss(0, 0.8) - (0.35 if gm else 0.0)
            answers: dict[str, int] = {}
            for _instrument, items in instruments:
                for item in items:
                    value = _answer(item, climate, rng, gm)
                    if value is not None:
                        answers[item.id] = value
            raw_people.append((groups, answers))
    truth, people = _truth(sizes, instruments, raw_people)
    return SyntheticOrg(staff, seed, tuple(sizes), rate, truth, people)


def _scales(instruments: tuple[tuple[Instrument, tuple[Item, ...]], ...]
            ) -> list[tuple[str, Instrument, tuple[Item, ...], int]]:
    """(row id, instrument, items, min answered) of every scale and subscale, as publish plans."""
    out = []
    for instrument, items in instruments:
        needed = instrument.min_answered
        if not instrument.has_scale_score or needed is None or len(items) < needed:
            continue
        out.append((instrument.id, instrument, items, needed))
        for sub in instrument.subdimensions:
            in_sub = tuple(i for i in items if i.subdimension == sub)
            sub_needed = instrument.min_answered_for(sub)
            if sub_needed is not None and in_sub and len(in_sub) >= sub_needed:
                out.append((f"{instrument.id}.{sub}", instrument, in_sub, sub_needed))
    return out


def _truth(
    sizes: list[int], instruments: tuple[tuple[Instrument, tuple[Item, ...]], ...],
    raw_people: list[tuple[dict[str, str], dict[str, int]]],
) -> tuple[RoundTruth, tuple[SyntheticPerson, ...]]:
    team_ids = [f"team_{t + 1:03d}" for t in range(len(sizes))]
    dimensions = {
        "team": [*team_ids, PREFER_NOT],
        "ethnicity": list(ETHNICITY_SHARES),
        "staff_group": list(STAFF_GROUP_SHARES),
    }
    scales = _scales(instruments)
    scored_instruments = {s[1].id for s in scales}
    person_rows: list[dict[str, str]] = []
    score_of: list[dict[str, Fraction]] = []
    for _groups, answers in raw_people:
        shown = {item_id: str(v) for item_id, v in answers.items()}
        scores: dict[str, Fraction] = {}
        for row_id, _instrument, items, needed in scales:
            scored = [i.scored(answers[i.id]) for i in items if i.id in answers]
            if len(scored) >= needed:
                score = Fraction(sum(scored), len(scored))  # type: ignore[arg-type]
                scores[row_id] = score
                shown[row_id] = str(math.floor(score + Fraction(1, 2)))
        person_rows.append(shown)
        score_of.append(scores)
    group_sizes: dict[tuple[str, str], int] = defaultdict(int)
    for groups, _answers in raw_people:
        for dim, g in groups.items():
            if g:
                group_sizes[dim, g] += 1
    rows: list[RowTruth] = []
    inst_truths: list[InstrumentTruth] = []
    for instrument, items in instruments:
        for item in items:
            values = [str(v) for v in item.scale.answer_values]
            rows.append(_row(item.id, instrument.id, False, values, raw_people, person_rows,
                             score_of=None,
                             scored={str(v): item.scored(v) for v in item.scale.answer_values}
                             if instrument.id in scored_instruments else {},
                             favourable=frozenset(str(v) for v in item.scale.answer_values
                                                  if item.is_favourable(v))
                             if instrument.id in scored_instruments else frozenset()))
        inst_truths.append(InstrumentTruth(instrument.id, tuple(i.id for i in items)))
    for row_id, instrument, items, needed in scales:
        values = [str(v) for v in instrument.scale.answer_values]
        rows.append(_row(row_id, instrument.id, True, values, raw_people, person_rows,
                         score_of=score_of))
        link = InstrumentTruth(row_id, tuple(i.id for i in items), row_id, needed,
                               instrument.scale.min_value, instrument.scale.max_value)
        if row_id == instrument.id:
            inst_truths = [link if i.id == instrument.id else i for i in inst_truths]
        else:
            inst_truths.append(link)
    truth = RoundTruth(total=len(raw_people), dimensions=dimensions,
                       group_sizes=dict(group_sizes), rows=rows, instruments=inst_truths)
    people = tuple(SyntheticPerson(dict(groups), person_rows[p])
                   for p, (groups, _answers) in enumerate(raw_people))
    return truth, people


def _row(
    row_id: str, instrument_id: str, is_scale: bool, values: list[str],
    raw_people: list[tuple[dict[str, str], dict[str, int]]], person_rows: list[dict[str, str]],
    *, score_of: list[dict[str, Fraction]] | None,
    scored: Mapping[str, int | None] | None = None, favourable: frozenset[str] = frozenset(),
) -> RowTruth:
    overall = dict.fromkeys(values, 0)
    by_group: dict[tuple[str, str], dict[str, int]] = {}
    score_sum = Fraction(0)
    group_sums: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for p, (groups, _answers) in enumerate(raw_people):
        value = person_rows[p].get(row_id)
        if value is None:
            continue
        overall[value] += 1
        score = score_of[p][row_id] if score_of is not None else Fraction(0)
        score_sum += score
        for dim, g in groups.items():
            if g:
                by_group.setdefault((dim, g), dict.fromkeys(values, 0))[value] += 1
                group_sums[dim, g] += score
    return RowTruth(
        id=row_id, instrument_id=instrument_id, is_scale=is_scale, overall=overall,
        by_group=by_group, score_sum=score_sum,
        group_score_sums=dict(group_sums) if is_scale else {},
        scored=dict(scored or {}), favourable_values=favourable,  # type: ignore[arg-type]
    )
