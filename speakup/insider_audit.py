"""The insider's audit: can a colleague or a manager with the HR list prove anyone's answer?

:mod:`speakup.disclosure_audit` models the outsider, who sees only what a round
publishes, one breakdown at a time. Insiders know more (DESIGN.md, threat model):

* the **HR insider** (``"hr"``) knows every respondent's combination of groups
  across all dimensions — team × ethnicity × staff group, the cross-classification
  the raw responses hold — so the headcount of every *cross-cell*, but no answer;
* the **respondent** (``"respondent"``) knows their own answers and groups. We grant
  them the HR list as well (a manager who answered is both), so their knowledge is
  "the HR insider's, with one respondent's answers removed from every figure".

The unknowns are, per row of the round (item or scale), per cross-cell and per
answer value, how many of the cell's members gave that answer: non-negative whole
numbers, at most the cell's headcount in total (each person answers a row at most
once). Every figure the publication shows is a linear equality over them (or an
interval when ``shown_tolerance`` says a shown count is only known within ±d):
each shown group's distribution and the Everyone distribution, each shown scale
cell's score sum (exactly: a stronger attacker than the real one, who sees the mean
to two decimals) within half a point of each respondent's rounded score; with
``link_scales``, also each shown scale cell's pooled favourable answers and answers
and, per cross-cell, the link between a scale's respondents, their score sum and the
same people's item answers (as :func:`surveys.round_disclosure.attack_model` links
them per group). τ-Argus calls this auditing *linked tables*.

**The rule.** For every cross-cell with fewer than ``k`` members, for every row and
answer value, the smallest count the attacker cannot rule out must stay at what a
single shown figure already says on its own: a shown group (or Everyone) whose
members nearly all gave one answer tells each member's answer to anyone who knows
who is in it — group attribute disclosure, inherent to publishing that figure at all
and handled for sensitive items by their own rule (hidden below 2k). Almost always
that allowance is 0: no answer of any member of a small cross-cell can be proven.
What the audit forbids is what *combining* figures proves: "the Global Majority row
minus what the shown teams can contribute", or "the hidden pool minus my own answer".

**How it is solved** (HiGHS through ``scipy.optimize.milp``, integer programs, never
their relaxation). Every requirement "this count can be as low as its allowance" is
met by any feasible integer point where it is. The truth itself is one (every count
the truth already holds at its allowance is done); a few programs then look for
points that meet as many of the remaining requirements as possible at once
(minimising the weighted sum of the uncovered counts, plus a small pull towards the
truth so that each point changes few cells and serves many respondents); only what
is left is solved one program per requirement. A respondent's knowledge only tightens
bounds in their own cell, so every point found for anyone is checked, vectorised,
against every respondent's requirements before any program is solved for them, each
respondent on their own (the HR insider's points serve them this way) before one
program looks for a point suiting one respondent per cell at once.
Rows that share no constraint are separate programs: every row on its own, unless
``link_scales`` joins an instrument's rows. A program that ends without proof (time limit) counts
against the publication, as in :mod:`speakup.disclosure_audit`.

Pure apart from calling the solver: no SQL, no Flask. The round's figures come as
:class:`surveys.round_disclosure.RoundTruth` and the suppression to audit as
:class:`surveys.round_disclosure.RoundSuppression`; this module only reads their
fields (a type-checking import: the survey package depends on this one, not back).
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from speakup.disclosure import validate_min_group_size
from speakup.disclosure_audit import point_is_feasible
from speakup.lazy_import import LazyModule

if TYPE_CHECKING:  # annotations only: surveys.round_disclosure imports this module
    import numpy as np

    from surveys.round_disclosure import RoundSuppression, RoundTruth, RowTruth
else:  # imported when an audit first runs, not with every web process (speakup/lazy_import.py)
    np = LazyModule("numpy")
optimize = LazyModule("scipy.optimize")
sparse = LazyModule("scipy.sparse")

__all__ = [
    "ATTACKERS",
    "InsiderAuditError",
    "InsiderExposure",
    "InsiderReport",
    "InsiderWitnesses",
    "Person",
    "audit_insiders",
]

#: The attacker classes this module models.
ATTACKERS = ("hr", "respondent")
#: The group of a person outside every listed group of a dimension; equal to
#: ``surveys.round_disclosure.UNSTATED``.
UNSTATED = ""

_TOLERANCE = 1e-6
_SOLVE_SECONDS = 20.0
_MANY_GAP = 0.5
# The programs that look for one point meeting many requirements stop at the first
# nodes' best point: whatever it leaves is proven one requirement at a time.
_NODES = 1
# Weight of "answers placed where the truth has none" in the covering programs: small
# enough never to cost a covered requirement, large enough to keep points local. Local
# points keep the other answers of a cell, so the HR insider's points serve respondents
# (who know one of them), and the programs' relaxations come out whole far more often:
# on bench/insider_audit.py, 54 s of CPU with no pull, 20 s with this one.
_PULL = 0.01
# Exposures whose exact lower bound is computed (the rest report "at least bound + 1").
_EXACT_BOUNDS = 20
# Points an audit hands to the next audit of the same round, per component (newest kept).
_KEEP_WITNESSES = 400


class InsiderAuditError(ValueError):
    """The people given do not add up to the round's figures, or an attacker is unknown."""


@dataclass(frozen=True)
class Person:
    """One respondent as the raw responses hold them at publication.

    ``groups``: dimension id -> group id declared (``UNSTATED`` when skipped, or
    absent). ``answers``: row id -> answer value as a key of ``RowTruth.overall``
    (an item's stored value; a scale row's rounded score point); absent when not
    answered (prefer-not-to-say counts as not answered, as publication counts it).
    """

    groups: Mapping[str, str]
    answers: Mapping[str, str]


@dataclass(frozen=True)
class InsiderExposure:
    """An answer of a member of a small cross-cell that an insider can prove."""

    attacker: str  # "hr" or "respondent"
    row_id: str
    cell: tuple[tuple[str, str], ...]  # ((dimension, group), ...) of the cross-cell
    value: str
    proven_at_least: int  # the lower bound found (> 0: an answer is proven)
    reason: str


@dataclass(frozen=True)
class InsiderReport:
    """What the insider audit found: ``ok`` means no answer can be proven."""

    ok: bool
    exposures: tuple[InsiderExposure, ...]
    programs_solved: int
    seconds: float


class InsiderWitnesses:
    """Points found by one audit, offered to the next audit of the same round and people.

    :func:`surveys.round_disclosure.decide_suppression` audits one round again and
    again, hiding a little more each time: the unknowns stay the same (people, cells,
    rows) and the constraints only change with what is shown, so most points found in
    one audit still meet every constraint of the next. Each is re-checked against the
    new constraints before it counts (a point that no longer fits is dropped), so
    reusing them changes which programs are solved, never what the audit proves.
    """

    def __init__(self, keep: int = _KEEP_WITNESSES) -> None:
        self.keep = keep
        self.points: dict[tuple, list[np.ndarray]] = {}

    def offer(self, key: tuple) -> list[np.ndarray]:
        return self.points.get(key, [])

    def store(self, key: tuple, points: list[np.ndarray]) -> None:
        # The newest points first: they fit the latest (least shown) publication.
        self.points[key] = points[-self.keep:]


def audit_insiders(
    truth: RoundTruth, people: Sequence[Person], k: int, suppression: RoundSuppression, *,
    shown_tolerance: Mapping[Any, int] | None = None,
    attackers: Sequence[str] = ATTACKERS, solve_seconds: float = _SOLVE_SECONDS,
    link_scales: bool = False, witnesses: InsiderWitnesses | None = None,
    exact_bounds: int | None = None,
) -> InsiderReport:
    """Return every answer of a member of a cross-cell smaller than ``k`` an insider can prove.

    ``suppression`` says what the publication hides: ``total_hidden``,
    ``groups_hidden`` (per dimension, every row), ``rows_hidden`` (Everyone and
    every group of those rows) and, if it has one, ``cells_hidden`` ((row id,
    dimension) -> groups hidden in that row only).

    ``shown_tolerance`` (a perturbed publication): (row id, dimension, group) -> d
    means that shown cell's counts are known only within ±d (dimension and group
    ``None`` for Everyone); the key ``"*"`` sets d for every shown cell not named.
    The attacker is taken to know each such count within ±d of its true value.

    ``link_scales`` adds, per cross-cell, the links between a scale's score sum and
    pooled favourable share and the same people's item answers, which joins an
    instrument's rows into one program. Off by default: on a round of 3 breakdowns ×
    10 groups those joined programs are too hard for HiGHS to answer in time (see
    bench/insider_audit.py), and a program without an answer would count against the
    publication; each row is then audited on its own (a stated limit of the model).

    ``witnesses`` carries feasible points from one audit of this round and these
    people to the next (each re-checked first); ``exact_bounds`` caps how many
    exposures get their exact lower bound computed (one program each; the rest report
    "at least allowance + 1"), default :data:`_EXACT_BOUNDS`. Neither changes which
    answers are found provable.
    """
    started = time.perf_counter()
    k = validate_min_group_size(k)
    unknown = sorted(set(attackers) - set(ATTACKERS))
    if unknown:
        raise InsiderAuditError(f"unknown attacker class {', '.join(unknown)}")
    round_ = _Round(truth, people, k, suppression, dict(shown_tolerance or {}), link_scales)
    exposures: list[InsiderExposure] = []
    solves = 0
    if not suppression.total_hidden:
        for rows in round_.components():
            key = (link_scales, tuple(row.id for row in rows))
            problem = _Component(round_, rows, solve_seconds,
                                 witnesses.offer(key) if witnesses is not None else (),
                                 _EXACT_BOUNDS if exact_bounds is None else exact_bounds)
            if "hr" in attackers:
                exposures.extend(problem.audit_hr())
            if "respondent" in attackers:
                exposures.extend(problem.audit_respondents())
            solves += problem.solves
            if witnesses is not None:
                witnesses.store(key, [point for point, _ in problem.pool[1:]])
    return InsiderReport(not exposures, tuple(exposures), solves, time.perf_counter() - started)


# --- the round as the insider sees it --------------------------------------------------


class _Round:
    """People, cross-cells and what the publication shows, checked against the truth."""

    def __init__(
        self, truth: RoundTruth, people: Sequence[Person], k: int,
        suppression: RoundSuppression, tolerance: dict[Any, int], link_scales: bool,
    ) -> None:
        self.truth, self.k, self.suppression, self.tolerance = truth, k, suppression, tolerance
        self.link_scales = link_scales
        self.dims = list(truth.dimensions)
        self.rows = {row.id: row for row in truth.rows}
        listed = {dim: set(groups) for dim, groups in truth.dimensions.items()}
        self.cell_of: list[tuple[tuple[str, str], ...]] = []
        for person in people:
            self.cell_of.append(tuple(
                (dim, g if (g := person.groups.get(dim, UNSTATED)) in listed[dim] else UNSTATED)
                for dim in self.dims
            ))  # fmt: skip
        self.headcount = Counter(self.cell_of)
        self.people = people
        self.scores = self._exact_scores()
        self._check()
        self.cells_hidden: Mapping[tuple[str, str], frozenset[str]] = getattr(
            suppression, "cells_hidden", {}) or {}  # fmt: skip

    def _exact_scores(self) -> dict[str, list[Fraction | None]]:
        """Each person's exact scale score per scale row, computed as publication does."""
        out: dict[str, list[Fraction | None]] = {}
        for instrument in self.truth.instruments:
            if instrument.scale_row_id is None or instrument.scale_row_id not in self.rows:
                continue
            found: list[Fraction | None] = []
            for person in self.people:
                points = [self.rows[i].scored[person.answers[i]]
                          for i in instrument.item_ids
                          if i in self.rows and person.answers.get(i) in self.rows[i].scored]
                enough = points and len(points) >= max(instrument.min_answered, 1)
                found.append(Fraction(sum(points), len(points)) if enough else None)
            out[instrument.scale_row_id] = found
        return out

    def _check(self) -> None:
        truth = self.truth
        if len(self.people) != truth.total:
            raise InsiderAuditError(f"{len(self.people)} people for a round of {truth.total}")
        sizes = Counter((dim, g) for cell in self.cell_of for dim, g in cell if g != UNSTATED)
        for key, n in truth.group_sizes.items():
            listed = key[0] in truth.dimensions and key[1] in truth.dimensions[key[0]]
            if listed and sizes.get(key, 0) != n:
                raise InsiderAuditError(f"group {key} has {sizes.get(key, 0)} people, not {n}")
        for row in truth.rows:
            got = Counter(p.answers.get(row.id) for p in self.people)
            if any(got.get(v, 0) != n for v, n in row.overall.items()):
                raise InsiderAuditError(f"the people's answers to {row.id} differ from the truth")
            if row.is_scale and row.id in self.scores:
                for person, score in zip(self.people, self.scores[row.id], strict=True):
                    point = None if score is None else str(math.floor(score + Fraction(1, 2)))
                    if person.answers.get(row.id) != point:
                        raise InsiderAuditError(f"a score point of {row.id} differs from the "
                                                "person's item answers")  # fmt: skip

    def tol(self, row_id: str, dim: str | None, group: str | None) -> int:
        return int(self.tolerance.get((row_id, dim, group), self.tolerance.get("*", 0)))

    def row_shown(self, row_id: str) -> bool:
        return row_id not in self.suppression.rows_hidden

    def group_shown(self, row_id: str, dim: str, group: str) -> bool:
        return (self.row_shown(row_id) and group != UNSTATED
                and group not in self.suppression.groups_hidden.get(dim, frozenset())
                and group not in self.cells_hidden.get((row_id, dim), frozenset()))  # fmt: skip

    def components(self) -> list[list[RowTruth]]:
        """Rows that share a constraint: an instrument with a scale score, else each row."""
        linked: dict[str, str] = {}
        for instrument in self.truth.instruments if self.link_scales else ():
            if instrument.scale_row_id is not None:
                for row_id in (*instrument.item_ids, instrument.scale_row_id):
                    linked[row_id] = self.rows[instrument.scale_row_id].instrument_id \
                        if instrument.scale_row_id in self.rows else instrument.id
        groups: dict[str, list[RowTruth]] = {}
        for row in self.truth.rows:
            groups.setdefault(linked.get(row.id, "row:" + row.id), []).append(row)
        return [rows for rows in groups.values()
                if any(self.row_shown(r.id) for r in rows)]  # fmt: skip


# --- one component: the integer programs -------------------------------------------------


@dataclass
class _Target:
    """A requirement: some feasible point has ``x[index] <= bound``."""

    index: int
    cell: int
    row_id: str
    value: str
    bound: float  # the allowance, in the variable's own units (own answer added back)
    own: int  # the attacker's own answer counted in this variable (respondents)


@dataclass
class _Knowledge:
    """Bounds a respondent's own answers add: (variable, lower), (row, lower), (row, upper)."""

    lower: list[tuple[int, float]] = field(default_factory=list)
    row_lower: list[tuple[int, float]] = field(default_factory=list)
    row_upper: list[tuple[int, float]] = field(default_factory=list)

    def allows(self, point: np.ndarray, values: np.ndarray) -> bool:
        """Whether a point feasible for the HR insider also meets this knowledge."""
        return (all(point[i] >= b - _TOLERANCE for i, b in self.lower)
                and all(values[i] >= b - _TOLERANCE * max(1.0, abs(b)) for i, b in self.row_lower)
                and all(values[i] <= b + _TOLERANCE * max(1.0, abs(b))
                        for i, b in self.row_upper))  # fmt: skip

    def allows_each(self, points: np.ndarray, values: np.ndarray) -> np.ndarray:
        """:meth:`allows` for a stack of points (one per line) at once."""
        ok = np.ones(len(points), dtype=bool)
        if self.lower:
            index, bound = (np.array(column) for column in zip(*self.lower, strict=True))
            ok &= np.all(points[:, index] >= bound - _TOLERANCE, axis=1)
        if self.row_lower:
            index, bound = (np.array(column) for column in zip(*self.row_lower, strict=True))
            slack = _TOLERANCE * np.maximum(1.0, np.abs(bound))
            ok &= np.all(values[:, index] >= bound - slack, axis=1)
        if self.row_upper:
            index, bound = (np.array(column) for column in zip(*self.row_upper, strict=True))
            slack = _TOLERANCE * np.maximum(1.0, np.abs(bound))
            ok &= np.all(values[:, index] <= bound + slack, axis=1)
        return ok


@dataclass
class _Respondent:
    cell: int
    answers: dict[str, str]  # row id -> value, this component's rows only
    scores: dict[str, Fraction]  # scale row id -> exact score


class _Component:
    def __init__(self, round_: _Round, rows: list[RowTruth], solve_seconds: float,
                 offered: Sequence[np.ndarray] = (), exact_bounds: int = _EXACT_BOUNDS) -> None:
        self.round, self.rows, self.solve_seconds = round_, rows, solve_seconds
        self.k = round_.k
        self.exact_bounds = exact_bounds
        self.solves = 0
        self.cells = sorted(round_.headcount)
        self.cell_index = {c: i for i, c in enumerate(self.cells)}
        self.heads = [round_.headcount[c] for c in self.cells]
        self.member_cell = [self.cell_index[c] for c in round_.cell_of]
        self._build()
        self.pool: list[tuple[np.ndarray, np.ndarray]] = [(self.truth, self.matrix @ self.truth)]
        self._adopt(offered)

    def _adopt(self, offered: Sequence[np.ndarray]) -> None:
        """Keep the offered points (an earlier audit's) that meet every constraint here."""
        whole = self.integrality.astype(bool)
        for point in offered:
            if (point.shape == self.truth.shape
                    and np.all(np.abs(point[whole] - np.round(point[whole])) <= _TOLERANCE)
                    and self._feasible(point, self.lower, self.upper, self.row_lower,
                                       self.row_upper)):  # fmt: skip
                self.pool.append((point, self.matrix @ point))

    # --- the linear system ----------------------------------------------------------

    def _build(self) -> None:
        r = self.round
        lower: list[float] = []
        upper: list[float] = []
        integer: list[int] = []
        truth: list[float] = []
        self.y: dict[tuple[str, int, str], int] = {}
        self.s: dict[tuple[str, int], int] = {}
        counts: dict[tuple[str, int, str], int] = Counter()
        for person, cell in enumerate(self.member_cell):
            for row in self.rows:
                value = r.people[person].answers.get(row.id)
                if value in row.overall:
                    counts[row.id, cell, value] += 1

        def var(value: float, low: float, high: float, whole: bool) -> int:
            lower.append(low)
            upper.append(high)
            integer.append(1 if whole else 0)
            truth.append(value)
            return len(truth) - 1

        for row in self.rows:
            for c, head in enumerate(self.heads):
                for value in row.overall:
                    self.y[row.id, c, value] = var(counts[row.id, c, value], 0, head, True)
            if row.is_scale and row.id in r.scores:
                sums: dict[int, Fraction] = defaultdict(Fraction)
                for person, score in enumerate(r.scores[row.id]):
                    if score is not None:
                        sums[self.member_cell[person]] += score
                for c in range(len(self.heads)):
                    self.s[row.id, c] = var(float(sums[c]), 0.0, math.inf, False)
        self._truth_values = truth  # complete: every variable exists before any constraint
        self.constraints: list[tuple[dict[int, float], float, float]] = []
        self.capacity_row: dict[tuple[str, int], int] = {}
        self.score_rows: dict[tuple[str, int], tuple[int, int]] = {}
        for row in self.rows:
            for c, head in enumerate(self.heads):
                self.capacity_row[row.id, c] = self._add(
                    {self.y[row.id, c, v]: 1.0 for v in row.overall}, -math.inf, head)
            if r.row_shown(row.id):
                self._shown(row, None, None, range(len(self.heads)))
                for dim in r.dims:
                    for g in r.truth.dimensions[dim]:
                        if r.group_shown(row.id, dim, g):
                            members = [c for c, cell in enumerate(self.cells)
                                       if dict(cell)[dim] == g]  # fmt: skip
                            self._shown(row, dim, g, members)
            if (row.id, 0) in self.s:
                self._score_bounds(row)
        for instrument in r.truth.instruments if r.link_scales else ():
            if instrument.scale_row_id is not None and any(
                    row.id == instrument.scale_row_id for row in self.rows):
                for c in range(len(self.heads)):
                    self._link(instrument, c)
        self.truth = np.array(truth, dtype=float)
        self.lower = np.array(lower, dtype=float)
        self.upper = np.array(upper, dtype=float)
        self.integrality = np.array(integer, dtype=int)
        data, ri, ci = [], [], []
        for i, (terms, _, _) in enumerate(self.constraints):
            for j, coefficient in terms.items():
                data.append(coefficient)
                ri.append(i)
                ci.append(j)
        self.matrix = sparse.csr_array((data, (ri, ci)), shape=(len(self.constraints), len(truth)))
        self.row_lower = np.array([lo for _, lo, _ in self.constraints], dtype=float)
        self.row_upper = np.array([hi for _, _, hi in self.constraints], dtype=float)
        # Placing an answer where the truth has none moves the point away from the truth.
        self.pull = np.where((self.integrality == 1) & (self.truth == 0), _PULL, 0.0)
        if not self._feasible(self.truth, self.lower, self.upper, self.row_lower,
                              self.row_upper):  # fmt: skip
            raise InsiderAuditError("the truth breaks the insider's constraints")

    def _add(self, terms: dict[int, float], lower: float, upper: float) -> int:
        self.constraints.append((terms, lower, upper))
        return len(self.constraints) - 1

    def _shown(self, row: RowTruth, dim: str | None, group: str | None,
               members: Sequence[int]) -> None:
        """A shown cell: its distribution (and for scales its score sum and pooled share)."""
        r = self.round
        d = r.tol(row.id, dim, group)
        figures = row.overall if dim is None else row.by_group.get((dim, group), {})
        for value in row.overall:
            x = figures.get(value, 0)
            self._add({self.y[row.id, c, value]: 1.0 for c in members}, x - d, x + d)
        if (row.id, 0) in self.s:
            total = row.score_sum if dim is None else row.group_score_sums.get(
                (dim, group), Fraction(0))  # fmt: skip
            slack = d * max(int(v) for v in row.overall) + _TOLERANCE * max(1.0, float(total))
            self._add({self.s[row.id, c]: 1.0 for c in members}, float(total) - slack,
                      float(total) + slack)  # fmt: skip
            if r.link_scales:
                self._pooled(row, members, d)

    def _pooled(self, scale: RowTruth, members: Sequence[int], d: int) -> None:
        """A shown scale cell's favourable share: favourable answers and answers, pooled."""
        instrument = next((i for i in self.round.truth.instruments
                           if i.scale_row_id == scale.id), None)  # fmt: skip
        if instrument is None:
            return
        items = [self.round.rows[i] for i in instrument.item_ids if i in self.round.rows]
        if not any(item.favourable_values for item in items):
            return
        favourable: dict[int, float] = {}
        answers: dict[int, float] = {}
        for item in items:
            if not any(item.id == row.id for row in self.rows):
                continue
            for value in item.overall:
                for c in members:
                    index = self.y[item.id, c, value]
                    answers[index] = 1.0
                    if value in item.favourable_values:
                        favourable[index] = 1.0
        m = len(items)
        for terms in (favourable, answers):
            if terms:
                known = float(sum(self._truth_values[i] for i in terms))
                self._add(terms, known - d * m, known + d * m)

    def _score_bounds(self, row: RowTruth) -> None:
        """A cell's score sum lies within half a point of each respondent's rounded point."""
        ends = [int(v) for v in row.overall]
        for c in range(len(self.heads)):
            low = {self.y[row.id, c, v]: -max(int(v) - 0.5, float(min(ends)))
                   for v in row.overall}  # fmt: skip
            high = {self.y[row.id, c, v]: -min(int(v) + 0.5, float(max(ends)))
                    for v in row.overall}  # fmt: skip
            s = self.s[row.id, c]
            self.score_rows[row.id, c] = (
                self._add({s: 1.0, **low}, 0.0, math.inf),
                self._add({s: 1.0, **high}, -math.inf, 0.0),
            )

    def _link(self, instrument: Any, c: int) -> None:
        """Per cross-cell, what its scale score and its item answers imply about each other.

        As :func:`surveys.round_disclosure._link_scale` for a group, with the cell's
        headcount known (the HR insider knows it).
        """
        scale_id = instrument.scale_row_id
        row_ids = {row.id for row in self.rows}
        items = [i for i in instrument.item_ids if i in row_ids]
        m = len(instrument.item_ids)
        head = float(self.heads[c])
        scale = self.round.rows[scale_id]
        n_s = {self.y[scale_id, c, v]: 1.0 for v in scale.overall}
        answers = {self.y[i, c, v]: 1.0 for i in items for v in self.round.rows[i].overall}
        minimum = instrument.min_answered
        self._add(_merge(answers, n_s, -float(minimum)), 0.0, math.inf)
        self._add(_merge(answers, n_s, -float(m - minimum + 1)), -math.inf,
                  float(minimum - 1) * head)  # fmt: skip
        slack = float(instrument.highest * m)
        score = {self.s[scale_id, c]: float(m)}
        for i in items:
            for value, points in self.round.rows[i].scored.items():
                index = self.y[i, c, value]
                score[index] = score.get(index, 0.0) - float(points)
        # m·S − A within slack · (m·headcount − answers given) of 0.
        self._add(_merge(score, answers, slack), -math.inf, float(m) * slack * head)
        self._add(_merge(score, answers, -slack), -float(m) * slack * head, math.inf)

    # --- requirements ---------------------------------------------------------------

    def _shown_groups(self, row: RowTruth) -> list[tuple[str | None, str | None, int]]:
        """(dimension, group, headcount) of every figure of ``row`` shown, Everyone first."""
        cache = self.__dict__.setdefault("_shown_cache", {})
        if row.id not in cache:
            cache[row.id] = self._find_shown_groups(row)
        return cache[row.id]

    def _find_shown_groups(self, row: RowTruth) -> list[tuple[str | None, str | None, int]]:
        r = self.round
        out: list[tuple[str | None, str | None, int]] = []
        if r.row_shown(row.id):
            out.append((None, None, len(r.people)))
            for dim in r.dims:
                for g in r.truth.dimensions[dim]:
                    if r.group_shown(row.id, dim, g):
                        out.append((dim, g, r.truth.group_sizes.get((dim, g), 0)))
        return out

    def _candidates(self, cells: Sequence[int]) -> list[tuple[int, RowTruth, str, list[
            tuple[float, str | None]]]]:
        """Every (cell, row, value) of ``cells`` with, per shown figure containing the cell,
        what that figure alone proves about it: x_v − d − (figure's headcount − cell's)."""
        out = []
        for row in self.rows:
            groups = self._shown_groups(row)
            if not groups:
                continue
            for c in cells:
                groups_of = dict(self.cells[c])
                for value in row.overall:
                    alone = []
                    for dim, g, head in groups:
                        if dim is not None and groups_of[dim] != g:
                            continue
                        figures = row.overall if dim is None else row.by_group.get((dim, g), {})
                        shown = figures.get(value, 0) - self.round.tol(row.id, dim, g)
                        alone.append((float(shown - (head - self.heads[c])), dim))
                    out.append((c, row, value, alone))
        return out

    def audit_hr(self) -> list[InsiderExposure]:
        small = [c for c, head in enumerate(self.heads) if head < self.k]
        targets = []
        for c, row, value, alone in self._candidates(small):
            allowance = max([0.0, *(bound for bound, _ in alone)])
            index = self.y[row.id, c, value]
            if self.truth[index] > allowance:
                targets.append(_Target(index, c, row.id, value, allowance, 0))
        failed = self._cover(targets, _Knowledge())
        return [self._exposure("hr", t, _Knowledge(), i) for i, t in enumerate(failed)]

    def audit_respondents(self) -> list[InsiderExposure]:
        """Each member of a small cell with cell-mates, subtracting their own answers.

        Their own answers only tighten bounds inside their own cell; against other
        cells they know what the HR insider knows (audited by :meth:`audit_hr`), so
        the requirement here is about their cell-mates: for every row and value, the
        count of cell-mates who gave it can still be as low as the shown figures alone
        allow once the respondent's answers are taken out of them.
        """
        failed: list[tuple[_Knowledge, _Target]] = []
        wanted: list[tuple[_Respondent, _Knowledge, list[_Target]]] = []
        for person in self._respondents():
            targets = []
            for c, row, value, alone in self._candidates([person.cell]):
                mine = 1 if person.answers.get(row.id) == value else 0
                # Inside every figure that contains the cell, the respondent's answer
                # is known: the others in the figure gave x_v − mine of it.
                allowance = max([0.0, *(bound - mine for bound, _ in alone)])
                index = self.y[row.id, c, value]
                if self.truth[index] - mine > allowance:
                    targets.append(_Target(index, c, row.id, value, allowance + mine, mine))
            if targets:
                knowledge = self._knowing(person)
                # The points found so far (the HR insider's among them) and swaps made
                # under this respondent's own knowledge first: no program for those.
                targets = self._cheap_cover(targets, knowledge)
                wanted.append((person, knowledge, targets))
        wanted = [item for item in wanted if item[2]]
        # Respondents of different cells constrain different unknowns, and the truth
        # meets all of them at once: cover one respondent per cell together, then
        # whatever is left one respondent at a time.
        while wanted:
            batch, rest, cells = [], [], set()
            for item in wanted:
                (batch if item[0].cell not in cells else rest).append(item)
                cells.add(item[0].cell)
            if len(batch) > 1:
                merged = _Knowledge()
                for _, knowledge, _ in batch:
                    merged.lower += knowledge.lower
                    merged.row_lower += knowledge.row_lower
                    merged.row_upper += knowledge.row_upper
                self._cover([t for _, _, targets in batch for t in targets], merged,
                            single=False)  # fmt: skip
            for _, knowledge, targets in batch:
                failed.extend((knowledge, t) for t in self._cover(targets, knowledge,
                                                                  swaps=False))
            wanted = rest
        return [self._exposure("respondent", t, knowledge, i)
                for i, (knowledge, t) in enumerate(failed)]  # fmt: skip

    def _respondents(self) -> list[_Respondent]:
        """Members of cross-cells of 2 to k − 1, one per distinct (cell, answers)."""
        r = self.round
        seen: dict[tuple, _Respondent] = {}
        for person, c in enumerate(self.member_cell):
            if not 2 <= self.heads[c] < self.k:
                continue
            answers = {row.id: v for row in self.rows
                       if (v := r.people[person].answers.get(row.id)) in row.overall}
            scores = {row.id: s for row in self.rows
                      if row.id in r.scores and (s := r.scores[row.id][person]) is not None}
            key = (c, tuple(sorted(answers.items())), tuple(sorted(scores.items())))
            seen.setdefault(key, _Respondent(c, answers, scores))
        return list(seen.values())

    def _knowing(self, person: _Respondent) -> _Knowledge:
        """What knowing the respondent's own answers adds: tighter bounds in their cell."""
        knowledge = _Knowledge()
        c = person.cell
        for row in self.rows:
            value = person.answers.get(row.id)
            if value is not None:
                knowledge.lower.append((self.y[row.id, c, value], 1.0))
            else:
                knowledge.row_upper.append((self.capacity_row[row.id, c], self.heads[c] - 1))
            if row.id in person.scores:
                # Their exact score replaces their half-point interval in the cell's sum.
                point = int(value)  # type: ignore[arg-type]
                ends = [int(v) for v in row.overall]
                exact = float(person.scores[row.id])
                low_row, high_row = self.score_rows[row.id, c]
                knowledge.row_lower.append((low_row, exact - max(point - 0.5, float(min(ends)))))
                knowledge.row_upper.append((high_row, exact - min(point + 0.5, float(max(ends)))))
        return knowledge

    # --- covering ---------------------------------------------------------------------

    def _cheap_cover(self, targets: list[_Target], knowledge: _Knowledge) -> list[_Target]:
        """The targets neither a point already found nor a swap meets (no program)."""
        if not hasattr(self, "pool"):
            self.pool = [(self.truth, self.matrix @ self.truth)]
        pending = self._uncovered(targets, self.pool, knowledge)
        if pending:
            pending = self._swap_cover(pending, self._bounds(knowledge), knowledge)
        return pending

    def _cover(self, targets: list[_Target], knowledge: _Knowledge, *,
               single: bool = True, swaps: bool = True) -> list[_Target]:
        """Return the targets no feasible integer point brings down to their bound.

        ``single=False``: only look for points meeting many at once (they join the
        pool), and leave the proofs one by one to a later call. ``swaps=False``: the
        swaps under this knowledge were already tried (:meth:`_cheap_cover`).
        """
        if not targets:
            return []
        if not hasattr(self, "pool"):
            self.pool = [(self.truth, self.matrix @ self.truth)]
        bounds = self._bounds(knowledge)
        if swaps and single:
            pending = self._cheap_cover(targets, knowledge)
        else:
            # A merged knowledge (single=False) swaps nothing: each respondent's own
            # swaps were tried first, and what is left needs a program.
            pending = self._uncovered(targets, self.pool, knowledge)
        while pending:
            objective = self.pull.copy()
            for target in pending:
                objective[target.index] += 1.0
            found = self._solve(objective, *bounds, gap=_MANY_GAP)
            if found is None:
                break
            left = self._uncovered(pending, self.pool[-1:], knowledge)
            if len(left) == len(pending):
                break
            pending = left
        if not single:
            return pending
        failed = []
        checked = len(self.pool)
        for target in pending:
            # A point found for an earlier target may already meet this one.
            if not self._uncovered([target], self.pool[checked:], knowledge):
                continue
            lower, upper, row_lower, row_upper = bounds
            upper = upper.copy()
            upper[target.index] = min(upper[target.index], math.floor(target.bound + 1e-9))
            if self._solve(self.pull, lower, upper, row_lower, row_upper) is None:
                failed.append(target)
        return failed

    def _swap_cover(self, targets: list[_Target], bounds: tuple[np.ndarray, ...],
                    knowledge: _Knowledge) -> list[_Target]:
        """Cover what 2 × 2 swaps of answers between cross-cells can, before any program.

        Moving one answer ``v`` out of the target's cell to a *partner* cell with room
        (someone there skipped the row), or swapping it for a ``w`` the partner gives
        up, changes no figure
        the publication shows when the two cells sit in the same group of every
        dimension where either of them is in a shown group (every shown sum holds
        both or neither): a whole-number point, found without a solver. Each point is
        still re-checked against every constraint (score sums, the respondent's own
        answers) before it counts. What swaps cannot reach is left to the programs.
        """
        for target in targets:
            if not self._uncovered([target], self.pool[-1:], knowledge):
                continue
            point = self._swap_witness(target, bounds)
            if point is not None:
                self.pool.append((point, self.matrix @ point))
        return self._uncovered(targets, self.pool, knowledge)

    def _swap_witness(self, target: _Target, bounds: tuple[np.ndarray, ...]
                      ) -> np.ndarray | None:
        row = self.round.rows[target.row_id]
        point = self.truth.copy()
        need = int(point[target.index] - math.floor(target.bound + 1e-9))
        c, v = target.cell, target.value
        scale = (row.id, c) in self.s
        partners = self._partners(row, c)
        while need > 0:
            trial = next(self._swaps(point, row, c, v, partners, scale, bounds), None)
            if trial is None:
                return None
            point, need = trial, need - 1
        return point

    def _swaps(self, point: np.ndarray, row: RowTruth, c: int, v: str, partners: list[int],
               scale: bool, bounds: tuple[np.ndarray, ...]) -> Any:
        take = self.y[row.id, c, v]
        for other in partners:
            give = self.y[row.id, other, v]
            # The answer moves to a partner with room (someone there skipped the row).
            trial = point.copy()
            trial[take] -= 1
            trial[give] += 1
            if scale:
                trial[self.s[row.id, c]] -= float(int(v))
                trial[self.s[row.id, other]] += float(int(v))
            if self._feasible(trial, *bounds):
                yield trial
            for w in row.overall:
                back, out = self.y[row.id, c, w], self.y[row.id, other, w]
                if w == v or point[out] < 1:
                    continue
                trial = point.copy()
                trial[take] -= 1
                trial[back] += 1
                trial[give] += 1
                trial[out] -= 1
                if scale:
                    shift = float(int(w) - int(v))
                    trial[self.s[row.id, c]] += shift
                    trial[self.s[row.id, other]] -= shift
                if self._feasible(trial, *bounds):
                    yield trial

    def _partners(self, row: RowTruth, c: int) -> list[int]:
        """Cells whose swaps with ``c`` keep every shown figure of ``row`` as it is."""
        cache = self.__dict__.setdefault("_partner_cache", {})
        if row.id not in cache:
            cache[row.id] = self._find_partners(row)
        return [other for other in cache[row.id][c] if other != c]

    def _find_partners(self, row: RowTruth) -> list[list[int]]:
        """Per cell, the cells (itself included) in the same shown group of every dimension
        where either is in a shown group, for all cells at once.

        Two cells qualify when, in every dimension, they are in the same group or neither
        group is shown in ``row``: exactly when their groups agree once every group not
        shown is replaced by one mark, so cells with equal marked groups are partners.
        """
        r = self.round
        hidden = object()
        shown = {(dim, g): r.group_shown(row.id, dim, g) for cell in self.cells for dim, g in cell}
        alike: dict[tuple, list[int]] = {}
        signature = []
        for c, cell in enumerate(self.cells):
            mark = tuple(g if shown[dim, g] else hidden for dim, g in cell)
            alike.setdefault(mark, []).append(c)
            signature.append(mark)
        return [alike[mark] for mark in signature]

    def _bounds(self, knowledge: _Knowledge) -> tuple[np.ndarray, ...]:
        lower, row_lower = self.lower.copy(), self.row_lower.copy()
        row_upper = self.row_upper.copy()
        for index, value in knowledge.lower:
            lower[index] = max(lower[index], value)
        for index, value in knowledge.row_lower:
            row_lower[index] = max(row_lower[index], value)
        for index, value in knowledge.row_upper:
            row_upper[index] = min(row_upper[index], value)
        return lower, self.upper, row_lower, row_upper

    def _uncovered(self, targets: list[_Target], points: list[tuple[np.ndarray, np.ndarray]],
                   knowledge: _Knowledge) -> list[_Target]:
        """The targets none of ``points`` (all feasible without ``knowledge``) meets."""
        if not points or not targets:
            return list(targets)
        if points is self.pool:
            # The whole pool, asked for again and again: stacked once per pool size.
            cached = self.__dict__.get("_pool_stack")
            if cached is None or cached[0] != len(self.pool):
                cached = (len(self.pool), np.array([p for p, _ in self.pool]),
                          np.array([v for _, v in self.pool]))  # fmt: skip
                self._pool_stack = cached
            _, points_stack, values_stack = cached
        else:
            points_stack = np.array([p for p, _ in points])
            values_stack = np.array([v for _, v in points])
        allowed = knowledge.allows_each(points_stack, values_stack)
        if not allowed.any():
            return list(targets)
        index = np.array([t.index for t in targets])
        bound = np.array([t.bound for t in targets])
        # The targets' columns first: a few of the pool's, not a copy of all of it.
        met = np.any(points_stack[:, index][allowed] <= bound + 0.5, axis=0)
        return [t for t, ok in zip(targets, met, strict=True) if not ok]

    def _exposure(self, attacker: str, target: _Target, knowledge: _Knowledge,
                  rank: int) -> InsiderExposure:
        least = math.floor(target.bound + 1e-9) + 1 - target.own
        if rank < self.exact_bounds:
            objective = np.zeros(len(self.truth))
            objective[target.index] = 1.0
            point = self._solve(objective, *self._bounds(knowledge), exact=True)
            if point is not None:
                least = int(round(point[target.index])) - target.own
        cell = self.cells[target.cell]
        who = "a respondent, subtracting their own answers," if attacker == "respondent" \
            else "a manager with the HR list"
        others = "other " if attacker == "respondent" else ""
        reason = (f"{who} can prove that at least {least} {others}member(s) of "
                  f"{_cell_text(cell)} ({self.heads[target.cell]} people) answered "
                  f"{target.value!r} to {target.row_id}")  # fmt: skip
        return InsiderExposure(attacker, target.row_id, cell, target.value, max(least, 0), reason)

    # --- solving ----------------------------------------------------------------------

    def _solve(self, objective: np.ndarray, lower: np.ndarray, upper: np.ndarray,
               row_lower: np.ndarray, row_upper: np.ndarray, *, gap: float | None = None,
               exact: bool = False) -> np.ndarray | None:
        """Solve one program; return its point only if it really meets every constraint.

        ``None`` whenever there is no proven feasible point: infeasible, or no answer
        within the time limit (which then counts against the publication).

        The linear relaxation comes first: these tables are close to transportation
        problems, whose relaxations mostly have whole-number optima. An infeasible
        relaxation proves the integer program infeasible; a whole-number optimum of
        the relaxation is an integer optimum. Only otherwise is HiGHS's branch and
        bound run.
        """
        self.solves += 1
        constraints = [optimize.LinearConstraint(self.matrix, row_lower, row_upper)] \
            if self.matrix.shape[0] else []
        bounds = optimize.Bounds(lower, upper)
        relaxed = optimize.milp(objective, integrality=np.zeros_like(self.integrality),
                                bounds=bounds, constraints=constraints,
                                options={"time_limit": self.solve_seconds})  # fmt: skip
        if relaxed.status == 2:
            return None
        whole = self.integrality.astype(bool)
        if relaxed.status == 0 and relaxed.x is not None and np.all(
                np.abs(relaxed.x[whole] - np.round(relaxed.x[whole])) <= _TOLERANCE):
            found = self._accept(relaxed.x, lower, upper, row_lower, row_upper)
            if found is not None:
                return found
        options: dict[str, float] = {"time_limit": self.solve_seconds}
        if gap is not None:
            options["mip_rel_gap"] = gap
            options["node_limit"] = _NODES
        result = optimize.milp(objective, integrality=self.integrality, bounds=bounds,
                               constraints=constraints, options=options)  # fmt: skip
        if result.x is None or (exact and result.status != 0):
            return None
        return self._accept(result.x, lower, upper, row_lower, row_upper)

    def _accept(self, x: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                row_lower: np.ndarray, row_upper: np.ndarray) -> np.ndarray | None:
        """Round the whole-number unknowns, re-check every constraint, keep the point."""
        point = np.array(x, dtype=float)
        whole = self.integrality.astype(bool)
        point[whole] = np.round(point[whole])
        if not self._feasible(point, lower, upper, row_lower, row_upper):
            return None
        if not hasattr(self, "pool"):
            self.pool = [(self.truth, self.matrix @ self.truth)]
        # Every point found is feasible for the HR insider (a respondent's knowledge
        # only narrows it), so it can serve any later requirement.
        self.pool.append((point, self.matrix @ point))
        return point

    def _feasible(self, point: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  row_lower: np.ndarray, row_upper: np.ndarray) -> bool:
        return point_is_feasible(point, lower, upper, self.matrix, row_lower, row_upper)


def _merge(a: Mapping[int, float], b: Mapping[int, float], factor: float) -> dict[int, float]:
    out = dict(a)
    for key, coefficient in b.items():
        out[key] = out.get(key, 0.0) + factor * coefficient
    return out


def _cell_text(cell: tuple[tuple[str, str], ...]) -> str:
    return " × ".join(f"{dim} {group or '(not stated)'}" for dim, group in cell)
