"""The attacker's audit: can anything a publication hides be worked out from what it shows?

`speakup.disclosure` decides what to hide with heuristics (primary and
complementary suppression, consistent patterns across rows). Heuristics are
checked one breakdown at a time; an attacker is not. This module is the last
gate of every publication (DESIGN.md rule 5): the publisher describes exactly
what it will show as an :class:`AttackModel` — every published count as a
known integer, every hidden count as an unknown, and every relation an attacker
can rely on (totals, "each person answers once", sums implied by rounded means
and shares, as intervals) as a linear constraint — and :func:`audit_model`
computes, with integer programming (HiGHS through ``scipy.optimize.milp``),
whether each hidden count can be pinned down.

The protection rule (a threshold rule's protection interval, as τ-Argus audits
frequency tables; Hundepool et al., *Statistical Disclosure Control*, §4.3):

* a hidden count whose true value is between 1 and ``k - 1`` (a *sensitive*
  cell) must have a feasible range that reaches **0 and at least k**: the
  attacker can tell it neither from an empty group (DESIGN.md: hidden and empty
  look alike) nor from a publishable one. As a count of 0 forces every finer
  count inside it (each answer option) to 0, nobody can prove that any member
  of a small group gave any particular answer;
* a hidden count of ``k`` or more (hidden only to protect another) must not be
  pinned to a single value;
* a hidden count of 0 needs nothing: learning that nobody is there tells
  nothing about anybody.

Soundness: ranges are computed over the integers (mixed-integer programs, not
their LP relaxation, which could only make ranges look wider than they are).
Any integer point the solver returns is re-checked against every constraint
before it counts as evidence, and a solve that ends without proof (time limit)
counts against the publication. Unknowns that share no constraint are audited
as separate, smaller programs, which gives the same ranges.

Before any program, the points where two groups declared alike (:meth:`AttackModel.alike`:
the hidden teams of a breakdown) exchange their true values are tried: a small hidden
team exchanged with an empty one reaches 0, with a larger one k or more. They are
whole-number points found without a solver and checked like any other, so they change
how many programs are solved, never what is proven (bench/synthetic_org.py, 1,000
staff, first audit: 1,500 counts, no program and 0.5 CPU seconds, where the programs
alone took 25 CPU seconds, or many minutes when a loaded machine made them time out).

The module is pure apart from calling the solver: no I/O, no database.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from speakup.disclosure import validate_min_group_size
from speakup.lazy_import import LazyModule

if TYPE_CHECKING:
    import numpy as np
    from scipy.sparse import csr_array
else:  # imported when an audit first runs, not with every web process (speakup/lazy_import.py)
    np = LazyModule("numpy")
optimize = LazyModule("scipy.optimize")
sparse = LazyModule("scipy.sparse")

__all__ = [
    "AttackModel",
    "AuditCache",
    "AuditModelError",
    "AuditReport",
    "Exposure",
    "audit_model",
    "point_is_feasible",
]

# How far a returned point may miss a constraint and still count (HiGHS's own
# feasibility tolerance is 1e-6; integer values are rounded before the check).
_TOLERANCE = 1e-6
_SOLVE_SECONDS = 20.0
# The programs that look for one point meeting many requirements need a good point,
# not a proven best one: whatever they leave is checked one by one, exactly.
_MANY_GAP = 0.5
# Exchanges of alike groups tried per requirement that turn out infeasible before giving
# up on exchanges for it (each costs one check of every constraint).
_EXCHANGE_TRIES = 4


class AuditModelError(ValueError):
    """Raise when a model is malformed: unknown key, or the true values break a constraint."""


@dataclass
class _Unknown:
    value: float
    integer: bool
    shown: bool
    protected: bool
    lower: float = 0.0
    upper: float = math.inf
    reach: float | None = None  # a custom rule: some feasible point has it >= reach


@dataclass(frozen=True)
class Exposure:
    """A hidden count an attacker can narrow down too far."""

    key: Hashable
    value: int
    low: int | None  # the smallest value the attacker cannot rule out (None: not computed)
    high: int | None  # the largest (None: no upper limit, or not computed)
    reason: str


@dataclass(frozen=True)
class AuditReport:
    """What the audit found: no exposure means the publication may be stored."""

    exposures: tuple[Exposure, ...]
    hidden_counts: int  # protected hidden counts checked
    solves: int  # integer programs solved
    seconds: float
    reused: int = 0  # connected sets of unknowns whose result came from an AuditCache

    @property
    def ok(self) -> bool:
        return not self.exposures


@dataclass
class AuditCache:
    """What earlier audits found, per connected set of unknowns, to share between audits.

    A set's result depends only on what its programs read: k, the time limit, each
    unknown's true value, kind, bounds and rule, and every constraint over the set
    with the shown quantities already moved into its bounds. All of that is the key,
    so a publication that changes what one breakdown hides re-solves only the sets
    that change (``decide_suppression`` audits again after each change).
    """

    _found: dict[Hashable, tuple[Exposure, ...]] = field(default_factory=dict, repr=False)
    hits: int = 0
    misses: int = 0


@dataclass
class AttackModel:
    """Everything a publication shows, as the linear system an attacker would build."""

    k: int
    _unknowns: dict[Hashable, _Unknown] = field(default_factory=dict, repr=False)
    _rows: list[tuple[dict[Hashable, float], float, float]] = field(
        default_factory=list, repr=False
    )
    # key -> (family, group, slot) of :meth:`alike`: hints for witnesses, never proof.
    _slots: dict[Hashable, tuple[int, Hashable, Hashable]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        validate_min_group_size(self.k)

    # --- unknowns ---------------------------------------------------------------------

    def count(
        self,
        key: Hashable,
        value: int,
        *,
        shown: bool,
        protected: bool = True,
        upper: int | None = None,
        reach: int | None = None,
    ) -> None:
        """Declare a non-negative whole number: fixed if ``shown``, else an unknown.

        Declaring the same key again merges: it is shown if any declaration shows
        it (what one table hides, another may show), protected if any protects it.
        ``reach`` replaces the protection rule for this count: the attacker must not
        be able to rule out that it is ``reach`` or more (a hidden sensitive cell's
        "answers other than the commonest" must be able to reach 2, so that nobody can
        prove that everyone, or everyone but one, gave the same answer).
        """
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AuditModelError(f"count {key!r} must be a non-negative whole number: {value!r}")
        known = self._unknowns.get(key)
        if known is not None:
            if not known.integer or known.value != value:
                raise AuditModelError(f"{key!r} declared twice with different values")
            known.shown |= shown
            known.protected |= protected
            if upper is not None:
                known.upper = min(known.upper, upper)
            return
        self._unknowns[key] = _Unknown(
            float(value), True, shown, protected or reach is not None,
            upper=math.inf if upper is None else upper,
            reach=None if reach is None else float(reach),
        )

    def real(
        self, key: Hashable, value: float, lower: float = -math.inf, upper: float = math.inf,
        *, shown: bool = False,
    ) -> None:
        """Declare a real quantity (a sum of scores, of days): an unknown unless ``shown``.

        Treating a quantity that is published only rounded as ``shown`` (exactly known)
        gives the attacker more than they have: never less safe, and it keeps the
        programs small.
        """
        if key in self._unknowns:
            raise AuditModelError(f"{key!r} declared twice")
        self._unknowns[key] = _Unknown(float(value), False, shown, False, lower, upper)

    # --- constraints ------------------------------------------------------------------

    def add(
        self, terms: Mapping[Hashable, float], lower: float | None = None,
        upper: float | None = None,
    ) -> None:
        """Add ``lower <= sum(coefficient * unknown) <= upper`` (either side may be open)."""
        row: dict[Hashable, float] = {}
        for key, coefficient in terms.items():
            if coefficient:
                row[key] = row.get(key, 0.0) + float(coefficient)
        self._rows.append(
            (row, -math.inf if lower is None else float(lower),
             math.inf if upper is None else float(upper))
        )  # fmt: skip

    def sum_of(self, total: Hashable, parts: Iterable[Hashable]) -> None:
        """Add ``total = sum(parts)``."""
        terms: dict[Hashable, float] = {total: -1.0}
        for part in parts:
            terms[part] = terms.get(part, 0.0) + 1.0
        self.add(terms, 0.0, 0.0)

    def at_most(self, smaller: Hashable, larger: Hashable, factor: float = 1.0) -> None:
        """Add ``smaller <= factor * larger``."""
        self.add({smaller: 1.0, larger: -factor}, upper=0.0)

    def share(
        self, numerator: Hashable, denominator: Hashable, shown: float, half_width: float
    ) -> None:
        """Add what a share published as ``shown`` (rounded to ``± half_width``) implies."""
        self.add({numerator: 1.0, denominator: -(shown - half_width)}, lower=0.0)
        self.add({numerator: 1.0, denominator: -(shown + half_width)}, upper=0.0)

    def alike(self, groups: Mapping[Hashable, Mapping[Hashable, Hashable]]) -> None:
        """Declare groups whose unknowns play the same part in every constraint, slot by slot.

        ``groups``: group -> slot -> key (e.g. the hidden teams of one breakdown, each
        with its respondents, its n and answers per row). The audit first tries, as
        witnesses, the points where two such groups exchange their true values: whole
        numbers, found without a solver. A hint only: each point is checked against
        every constraint before it counts, so a wrong hint costs time, never soundness.
        """
        family = len({f for f, _, _ in self._slots.values()})
        for group, slots in groups.items():
            for slot, key in slots.items():
                self._slots.setdefault(key, (family, group, slot))

    # --- read back --------------------------------------------------------------------

    def keys(self) -> list[Hashable]:
        return list(self._unknowns)

    def is_shown(self, key: Hashable) -> bool:
        return self._unknowns[key].shown


def audit_model(
    model: AttackModel, *, solve_seconds: float = _SOLVE_SECONDS, cache: AuditCache | None = None,
    ranges: bool = True,
) -> AuditReport:
    """Return every protected hidden count the attacker can narrow down beyond the rule.

    With ``cache``, a connected set of unknowns audited before, identical in every
    respect the programs read, takes its earlier result instead of being solved again.
    ``ranges=False`` leaves each exposure's ``low`` and ``high`` as None (two exact
    programs each, needed only to explain a refusal): which counts are exposed is
    found the same way either way.
    """
    started = time.perf_counter()
    _check_truth(model)
    hidden = [key for key, unknown in model._unknowns.items() if not unknown.shown]
    # Move what is shown into each row's bounds: only hidden quantities stay unknown.
    rows: list[tuple[dict[Hashable, float], float, float]] = []
    for terms, lower, upper in model._rows:
        constant = sum(c * model._unknowns[key].value for key, c in terms.items()
                       if model._unknowns[key].shown)  # fmt: skip
        unknown_terms = {key: c for key, c in terms.items() if not model._unknowns[key].shown}
        if unknown_terms:
            rows.append((unknown_terms, lower - constant, upper - constant))
    exposures: list[Exposure] = []
    checked = solves = reused = 0
    for component, component_rows in _components(hidden, rows):
        targets = [
            key for key in component
            if model._unknowns[key].protected and model._unknowns[key].integer
            and (model._unknowns[key].value > 0 or model._unknowns[key].reach is not None)
        ]  # fmt: skip
        if not targets:
            continue
        checked += len(targets)
        key = None if cache is None else _fingerprint(
            model, component, component_rows, solve_seconds, ranges)
        if cache is not None and key in cache._found:
            cache.hits += 1
            reused += 1
            exposures.extend(cache._found[key])
            continue
        problem = _Problem(model, component, component_rows, solve_seconds, ranges)
        found = tuple(problem.audit(targets))
        exposures.extend(found)
        solves += problem.solves
        if cache is not None:
            cache.misses += 1
            cache._found[key] = found
    return AuditReport(tuple(exposures), checked, solves, time.perf_counter() - started, reused)


def _fingerprint(
    model: AttackModel, keys: list[Hashable],
    rows: list[tuple[dict[Hashable, float], float, float]], solve_seconds: float,
    ranges: bool = True,
) -> Hashable:
    """Everything :class:`_Problem` reads about one connected set, in the order it reads it."""
    unknowns = model._unknowns
    return (
        model.k, solve_seconds, ranges,
        tuple((key, u.value, u.integer, u.protected, u.lower, u.upper, u.reach,
               model._slots.get(key)) for key in keys for u in (unknowns[key],)),
        tuple((tuple(terms.items()), lower, upper) for terms, lower, upper in rows),
    )  # fmt: skip


def _check_truth(model: AttackModel) -> None:
    """The true values must satisfy every constraint, or the model describes something else."""
    for terms, lower, upper in model._rows:
        for key in terms:
            if key not in model._unknowns:
                raise AuditModelError(f"constraint names an undeclared quantity {key!r}")
        total = sum(c * model._unknowns[key].value for key, c in terms.items())
        slack = _TOLERANCE * max(1.0, abs(total))
        if total < lower - slack or total > upper + slack:
            raise AuditModelError(
                f"the true values break a constraint: {lower} <= {total} <= {upper} over "
                f"{sorted(map(repr, terms))[:6]}"
            )


def _components(
    keys: list[Hashable], rows: list[tuple[dict[Hashable, float], float, float]]
) -> list[tuple[list[Hashable], list[tuple[dict[Hashable, float], float, float]]]]:
    """Split the unknowns into groups that share no constraint (union-find)."""
    parent = {key: key for key in keys}

    def find(key: Hashable) -> Hashable:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for terms, _, _ in rows:
        first, *rest = terms
        for other in rest:
            a, b = find(first), find(other)
            if a != b:
                parent[a] = b
    members: dict[Hashable, list[Hashable]] = {}
    for key in keys:
        members.setdefault(find(key), []).append(key)
    grouped: dict[Hashable, list[tuple[dict[Hashable, float], float, float]]] = {}
    for row in rows:
        grouped.setdefault(find(next(iter(row[0]))), []).append(row)
    return [(group, grouped.get(root, [])) for root, group in members.items()]


class _Problem:
    """One connected set of unknowns, solved as mixed-integer programs."""

    def __init__(
        self, model: AttackModel, keys: list[Hashable],
        rows: list[tuple[dict[Hashable, float], float, float]], solve_seconds: float,
        ranges: bool = True,
    ) -> None:
        self.k = model.k
        self.ranges = ranges
        self.keys = keys
        self.index = {key: i for i, key in enumerate(keys)}
        self.unknowns = [model._unknowns[key] for key in keys]
        self.solve_seconds = solve_seconds
        self.solves = 0
        data, row_ids, col_ids = [], [], []
        self.row_lower = np.array([lower for _, lower, _ in rows], dtype=float)
        self.row_upper = np.array([upper for _, _, upper in rows], dtype=float)
        for r, (terms, _, _) in enumerate(rows):
            for key, coefficient in terms.items():
                data.append(coefficient)
                row_ids.append(r)
                col_ids.append(self.index[key])
        self.matrix = sparse.csr_array((data, (row_ids, col_ids)), shape=(len(rows), len(keys)))
        self.lower = np.array([u.lower for u in self.unknowns], dtype=float)
        self.upper = np.array([u.upper for u in self.unknowns], dtype=float)
        self.integrality = np.array([1 if u.integer else 0 for u in self.unknowns])
        self.truth = np.array([u.value for u in self.unknowns], dtype=float)
        # family -> group -> slot -> column, for the keys of this set that have a slot.
        self.families: dict[int, dict[Hashable, dict[Hashable, int]]] = {}
        self.slot_of: dict[int, tuple[int, Hashable, Hashable]] = {}
        for i, key in enumerate(keys):
            if key in model._slots:
                family, group, slot = model._slots[key]
                self.families.setdefault(family, {}).setdefault(group, {})[slot] = i
                self.slot_of[i] = (family, group, slot)

    # --- the rule ---------------------------------------------------------------------

    def _wanted(self, key: Hashable) -> list[tuple[str, float]]:
        """The values the attacker must not be able to rule out, as ("<=" | ">=", bound)."""
        unknown = self.unknowns[self.index[key]]
        value = unknown.value
        if unknown.reach is not None:
            return [(">=", unknown.reach)] if value < unknown.reach else []
        if value < self.k:
            return [("<=", 0.0), (">=", float(self.k))]
        return [("<=", value - 1), (">=", value + 1)]

    def audit(self, targets: list[Hashable]) -> list[Exposure]:
        # Each pending requirement is met by any integer point that satisfies it;
        # one point usually meets many, so first look for points meeting many at once.
        pending: dict[tuple[Hashable, str], float] = {}
        either: set[Hashable] = set()  # counts >= k: one of their two requirements is enough
        for key in targets:
            for sense, bound in self._wanted(key):
                pending[key, sense] = bound
            if self.unknowns[self.index[key]].value >= self.k and \
                    self.unknowns[self.index[key]].reach is None:
                either.add(key)
        self._exchange(pending, either)
        # Repeat while it pays: each point leaves fewer requirements for the next one.
        progress = True
        while progress:
            progress = False
            for sense in ("<=", ">="):
                wanted = [(key, bound) for (key, s), bound in pending.items() if s == sense]
                if wanted:
                    before = len(pending)
                    point = self._solve_many(sense, wanted)
                    if point is not None:
                        self._certify(point, pending, either)
                    progress |= len(pending) < before
        exposures = []
        for key in targets:
            for sense in ("<=", ">="):
                if (key, sense) not in pending:
                    continue
                point = self._solve_one(key, sense, pending[key, sense])
                if point is not None:
                    self._certify(point, pending, either)
            if key in either:
                failed = (key, "<=") in pending and (key, ">=") in pending
            else:
                failed = (key, "<=") in pending or (key, ">=") in pending
            if failed:
                exposures.append(self._exposure(key))
        return exposures

    def _exchange(
        self, pending: dict[tuple[Hashable, str], float], either: set[Hashable]
    ) -> None:
        """Meet what exchanging two alike groups' true values can, before any program."""
        tried: set[tuple[int, Hashable, Hashable]] = set()
        for (key, sense), bound in list(pending.items()):
            i = self.index[key]
            if (key, sense) not in pending or i not in self.slot_of:
                continue
            family, group, slot = self.slot_of[i]
            groups = self.families[family]
            misses = 0
            mine = groups[group]
            for other, theirs in groups.items():
                if other == group or slot not in theirs or (family, *sorted(
                        (group, other), key=repr)) in tried:  # fmt: skip
                    continue
                x = self.truth[theirs[slot]]
                if not ((sense == "<=" and x <= bound + 0.5)
                        or (sense == ">=" and x >= bound - 0.5)):  # fmt: skip
                    continue
                tried.add((family, *sorted((group, other), key=repr)))
                point = self._exchanged(mine, theirs)
                if point is not None:
                    self._certify(point, pending, either)
                    break
                misses += 1
                if misses >= _EXCHANGE_TRIES:
                    break

    def _exchanged(self, mine: dict[Hashable, int], theirs: dict[Hashable, int]
                   ) -> np.ndarray | None:
        """The truth with two groups' values exchanged slot by slot, if that is feasible."""
        if mine.keys() != theirs.keys():
            return None  # not alike here (e.g. one is shown in a row the other is hidden in)
        a = np.fromiter(mine.values(), dtype=int, count=len(mine))
        b = np.fromiter((theirs[slot] for slot in mine), dtype=int, count=len(mine))
        if np.any(self.integrality[a] != self.integrality[b]):
            return None
        point = self.truth.copy()
        point[a], point[b] = self.truth[b], self.truth[a]
        feasible = point_is_feasible(point, self.lower, self.upper, self.matrix,
                                     self.row_lower, self.row_upper)  # fmt: skip
        return point if feasible else None

    def _certify(
        self, point: np.ndarray, pending: dict[tuple[Hashable, str], float], either: set[Hashable]
    ) -> None:
        for (key, sense), bound in list(pending.items()):
            if (key, sense) not in pending:
                continue
            x = point[self.index[key]]
            if (sense == "<=" and x <= bound + 0.5) or (sense == ">=" and x >= bound - 0.5):
                del pending[key, sense]
                if key in either:
                    pending.pop((key, "<=" if sense == ">=" else ">="), None)

    def _exposure(self, key: Hashable) -> Exposure:
        low = self._extreme(key, minimise=True) if self.ranges else None
        high = self._extreme(key, minimise=False) if self.ranges else None
        value = int(self.unknowns[self.index[key]].value)
        if self.unknowns[self.index[key]].reach is not None:
            reason = (f"a hidden cell of a sensitive item can be shown to hold at most "
                      f"{high} answer(s) other than its commonest ({_range_text(low, high)})")
        elif value < self.k:
            reason = (f"a group of {value} (fewer than {self.k}) can be narrowed to "
                      f"{_range_text(low, high)}")  # fmt: skip
        else:
            reason = f"a hidden count can be worked out exactly ({_range_text(low, high)})"
        return Exposure(key, value, low, high, reason)

    # --- solving ----------------------------------------------------------------------

    def _solve_many(self, sense: str, wanted: list[tuple[Hashable, float]]) -> np.ndarray | None:
        """Find an integer point that meets as many ``sense`` requirements as it can."""
        if sense == "<=":
            # Minimise the sum of the counts that should be able to go low.
            objective = np.zeros(len(self.keys))
            for key, _ in wanted:
                objective[self.index[key]] = 1.0
            return self._solve(objective, self.lower, self.upper, extra=None, gap=_MANY_GAP)
        # Maximise sum(min(x, bound)) with one capped helper per count: t <= x, t <= bound.
        n, m = len(self.keys), len(wanted)
        objective = np.concatenate([np.zeros(n), -np.ones(m)])
        helper = np.zeros((m, n + m))
        for j, (key, _) in enumerate(wanted):
            helper[j, n + j] = 1.0
            helper[j, self.index[key]] = -1.0
        lower = np.concatenate([self.lower, np.zeros(m)])
        upper = np.concatenate([self.upper, [bound for _, bound in wanted]])
        point = self._solve(objective, lower, upper, extra=(helper, m), gap=_MANY_GAP)
        return None if point is None else point[:n]

    def _solve_one(self, key: Hashable, sense: str, bound: float) -> np.ndarray | None:
        """Return an integer point with the count on the wanted side of ``bound``, or None."""
        i = self.index[key]
        lower, upper = self.lower.copy(), self.upper.copy()
        if sense == "<=":
            upper[i] = min(upper[i], bound)
        else:
            lower[i] = max(lower[i], bound)
        if lower[i] > upper[i]:
            return None
        # Any point on the wanted side will do: a pure feasibility problem is the fastest.
        return self._solve(np.zeros(len(self.keys)), lower, upper, extra=None)

    def _extreme(self, key: Hashable, *, minimise: bool) -> int | None:
        objective = np.zeros(len(self.keys))
        objective[self.index[key]] = 1.0 if minimise else -1.0
        point = self._solve(objective, self.lower, self.upper, extra=None, exact=True)
        return None if point is None else int(round(point[self.index[key]]))

    def _solve(
        self, objective: np.ndarray, lower: np.ndarray, upper: np.ndarray,
        extra: tuple[np.ndarray, int] | None, exact: bool = False, gap: float | None = None,
    ) -> np.ndarray | None:
        """Solve one program; return its point only if it really meets every constraint."""
        self.solves += 1
        n = len(self.keys)
        matrix = self.matrix
        row_lower, row_upper, integrality = self.row_lower, self.row_upper, self.integrality
        constraints = []
        if matrix.shape[0]:
            if extra is not None:
                width = extra[0].shape[1]
                padded = sparse.csr_array((matrix.data, matrix.indices, matrix.indptr),
                                   shape=(matrix.shape[0], width))  # fmt: skip
                constraints.append(optimize.LinearConstraint(padded, row_lower, row_upper))
            else:
                constraints.append(optimize.LinearConstraint(matrix, row_lower, row_upper))
        if extra is not None:
            helper, m = extra
            constraints.append(optimize.LinearConstraint(helper, -np.inf, np.zeros(m)))
            integrality = np.concatenate([integrality, np.zeros(m, dtype=int)])
        options: dict[str, float] = {"time_limit": self.solve_seconds}
        if gap is not None:
            options["mip_rel_gap"] = gap
        result = optimize.milp(
            objective, integrality=integrality, bounds=optimize.Bounds(lower, upper),
            constraints=constraints, options=options,
        )  # fmt: skip
        if result.x is None:
            return None
        if result.status == 3:  # unbounded: only an extreme asks for a value
            return None
        if exact and result.status != 0:
            return None
        point = np.array(result.x[:n], dtype=float)
        whole = self.integrality.astype(bool)
        point[whole] = np.round(point[whole])
        feasible = point_is_feasible(point, lower[:n], upper[:n], self.matrix, self.row_lower,
                                     self.row_upper)  # fmt: skip
        return point if feasible else None


def point_is_feasible(
    point: np.ndarray, lower: np.ndarray, upper: np.ndarray, matrix: csr_array,
    row_lower: np.ndarray, row_upper: np.ndarray,
) -> bool:
    """Whether ``point`` meets its bounds and ``row_lower <= matrix @ point <= row_upper``.

    The check every solver's point passes before it counts as evidence (here and in
    :mod:`speakup.insider_audit`), with HiGHS's own tolerance, relative for large rows.
    """
    if np.any(point < lower - _TOLERANCE) or np.any(point > upper + _TOLERANCE):
        return False
    if not matrix.shape[0]:
        return True
    values = matrix @ point
    slack = _TOLERANCE * np.maximum(1.0, np.abs(values))
    return bool(np.all(values >= row_lower - slack) and np.all(values <= row_upper + slack))


def _range_text(low: int | None, high: int | None) -> str:
    if low is not None and low == high:
        return f"exactly {low}"
    return f"{'?' if low is None else low} to {'any number' if high is None else high}"
