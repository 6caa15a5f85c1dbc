"""Decide what a round's publication hides: one pattern per breakdown, then the attacker's audit.

Pure (no SQL, no Flask): `surveys.publish` aggregates a round in the database into
a :class:`RoundTruth`, calls :func:`decide_suppression` once, and stores what it
returns. The steps, in order, never reaching back:

1. **One pattern per breakdown.** Within a dimension (ethnicity group, team, …)
   the respondents table and every item and scale row whose Everyone figure is
   shown share the same respondents, so they share one set of hidden groups: a
   group hidden in one of them is hidden in all of them, with its n, mean,
   favourable share and distribution. Each of those lines is suppressed with
   primary and complementary suppression (the never-published "unstated" cell of
   people who skipped the group question included), repeatedly, until the
   pattern is stable. Rows whose Everyone figure is below ``k`` are hidden whole.
2. **The attacker's audit** (:mod:`speakup.disclosure_audit`) over everything the
   publication shows at once: every row of every breakdown, the Everyone rows,
   n's, distributions, the score sums behind shown scale means (taken as known
   exactly, though means are shown to two decimals: a stronger attacker than the
   real one), "each person answers each question at most once" and, for scales,
   the link between a group's scale score sum and its item totals when everybody
   answered every item.
3. **Suppress more** where the audit pins a hidden count: the smallest group still
   shown in that breakdown, then the Everyone figures of the exposed instrument,
   and audit again until nothing can be pinned.
4. **The insiders' audit** (:mod:`speakup.insider_audit`, when the caller passes the
   round's respondents as ``people``): a manager with the HR list (who is in which
   team with which ethnicity) and a respondent subtracting their own answers must
   not be able to prove any answer of a member of a cross-cell smaller than ``k``.
   Where they can, suppress more (:func:`_suppress_more_for_insiders`: teams and
   other dimensions first, the headline ethnicity groups only where hiding all of those
   would not be enough) and run every step again.

**Sensitive items** (experiences of harassment, discrimination or abuse): a shown
figure (a group's cell, or Everyone) in which everyone, or everyone but one, gave
the same answer tells each member's answer (group attribute disclosure). Below
``2k`` answers such a cell is hidden in that row (Everyone: the whole row), with
the next-smallest cells of its row as the audit requires; the attacker's audit
checks that nobody can prove the hidden cell held fewer than 2 answers other than
its commonest one.

Dimensions share only the Everyone figures, which the attacker knows exactly, so
the audit's unknowns fall apart into one program per dimension (joined only through
Everyone rows that are themselves hidden).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from fractions import Fraction

from speakup.disclosure import hidden_keys, validate_min_group_size
from speakup.disclosure_audit import AttackModel, AuditCache, AuditReport, audit_model
from speakup.insider_audit import (
    ATTACKERS,
    InsiderReport,
    InsiderWitnesses,
    Person,
    audit_insiders,
)

__all__ = [
    "HEADLINE_DIMENSION",
    "UNSTATED",
    "InstrumentTruth",
    "RoundSuppression",
    "RoundTruth",
    "RowTruth",
    "SuppressionError",
    "attack_model",
    "decide_suppression",
]

#: The never-published cell of respondents outside every listed group of a dimension.
#: "" sorts before every group id, so among equally small cells it is hidden first.
UNSTATED = ""
_EVERYONE = None
#: The headline breakdown (DESIGN.md: self-declared ethnicity group, the id of
#: ``surveys.admin_services.ETHNICITY_QUESTION``). The insiders' rule hides its groups
#: only when hiding every other dimension's groups cannot pass the audit.
HEADLINE_DIMENSION = "ethnicity"


class SuppressionError(Exception):
    """Nothing more can be hidden, yet the audit still pins a hidden count."""


@dataclass(frozen=True)
class RowTruth:
    """True figures of one item or scale row: Everyone and every (dimension, group)."""

    id: str
    instrument_id: str
    is_scale: bool
    # Answer value (as stored in distributions) -> answers, for Everyone and per group.
    overall: Mapping[str, int]
    by_group: Mapping[tuple[str, str], Mapping[str, int]]
    # Scales: the exact sum of respondents' scores, Everyone and per group.
    score_sum: Fraction = Fraction(0)
    group_score_sums: Mapping[tuple[str, str], Fraction] = field(default_factory=dict)
    # Items of a scored instrument: answer value -> value on the scale (reversed items flipped).
    scored: Mapping[str, int] = field(default_factory=dict)
    # Items of a scored instrument: the answer values counted as favourable, which the
    # scale's pooled favourable share (favourable answers / answers) adds up.
    favourable_values: frozenset[str] = frozenset()
    # An item about experiences of harassment, discrimination or abuse (itembank tag).
    sensitive: bool = False

    @property
    def n(self) -> int:
        return sum(self.overall.values())


@dataclass(frozen=True)
class InstrumentTruth:
    """How an instrument's scale score relates to its items (None fields: no scale)."""

    id: str
    item_ids: tuple[str, ...]
    scale_row_id: str | None = None
    min_answered: int = 0
    lowest: int = 1
    highest: int = 5


@dataclass(frozen=True)
class RoundTruth:
    """Every aggregate of a round before disclosure control."""

    total: int
    dimensions: Mapping[str, Sequence[str]]  # dimension -> listed group ids
    group_sizes: Mapping[tuple[str, str], int]
    rows: Sequence[RowTruth]
    instruments: Sequence[InstrumentTruth]


@dataclass(frozen=True)
class RoundSuppression:
    """What to hide: the same groups in every shown row of a dimension."""

    total_hidden: bool
    groups_hidden: Mapping[str, frozenset[str]]  # dimension -> hidden groups
    rows_hidden: frozenset[str]  # rows whose Everyone figures (and so every group) are hidden
    report: AuditReport
    rounds_of_audit: int
    # (row id, dimension) -> groups hidden in that row only, beyond groups_hidden
    # (sensitive items' near-uniform cells and the cells hidden to protect them).
    cells_hidden: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # What the insiders' audit found (None: no people were given, it did not run).
    insider: InsiderReport | None = None

    def hides(self, row_id: str, dim: str, group: str) -> bool:
        """Whether the cell (row, dimension, group) is hidden, whatever the reason."""
        return (group == UNSTATED or self.total_hidden or row_id in self.rows_hidden
                or group in self.groups_hidden.get(dim, frozenset())
                or group in self.cells_hidden.get((row_id, dim), frozenset()))  # fmt: skip


OUTSIDER_STEP = "outsider"
INSIDER_STEP = "insider"
# Told the step before every audit a decision runs ("outsider" or "insider"), where one
# is set: a publication job reports its progress and stops past its time limit there
# (surveys/publication_progress.py). A context variable, so other threads are untouched.
audit_step_observer: ContextVar[Callable[[str], None] | None] = ContextVar(
    "audit_step_observer", default=None)


def _step(step: str) -> None:
    observer = audit_step_observer.get()
    if observer is not None:
        observer(step)


def decide_suppression(
    truth: RoundTruth, k: int, *, people: Sequence[Person] | None = None,
    attackers: Sequence[str] = ATTACKERS, shown_tolerance: Mapping | None = None,
    batch_growth: int = 2,
) -> RoundSuppression:
    """Return the suppression that passes the attackers' audits, hiding as little as it can.

    With ``people`` (the round's respondents, :class:`surveys.microdata.PeopleCollector`)
    the insiders' audit runs too, for the ``attackers`` classes given. Each time the
    insiders' audit asks a dimension for more in consecutive rounds, the number of its
    groups hidden next is multiplied by ``batch_growth`` (1: one group per round).
    """
    k = validate_min_group_size(k)
    forced_groups: dict[str, set[str]] = {dim: set() for dim in truth.dimensions}
    forced_rows: set[str] = set()
    forced_cells: dict[tuple[str, str], set[str]] = {}
    # Suppressing more changes one breakdown at a time: the attacker's programs of the
    # breakdowns it leaves as they were are not solved again.
    cache = AuditCache()
    # The insiders' audit of one round of suppression hands its points to the next
    # (re-checked there), and only needs to know which answers are exposed, not how
    # far: their exact bounds are worked out only for a report that is kept.
    witnesses = InsiderWitnesses()
    probe = _headline_probe(truth, people or (), k, attackers, shown_tolerance)
    # Groups hidden per dimension in the next insiders' round: 1, doubled each round
    # the same dimension is asked again (see _suppress_more_for_insiders).
    batch: dict[str, int] = {}
    added: dict[str, list[str]] = {}  # the groups the last insiders' round hid, per dimension

    def passes(groups: Mapping[str, set[str]]) -> RoundSuppression | None:
        """The decision with these groups forced, if both audits pass it as it is."""
        total_hidden, groups_hidden, rows_hidden, cells_hidden = _pattern(
            truth, k, groups, forced_rows, forced_cells)
        model = attack_model(truth, k, total_hidden, groups_hidden, rows_hidden,
                             cells_hidden=cells_hidden)  # fmt: skip
        _step(OUTSIDER_STEP)
        report = audit_model(model, cache=cache, ranges=False)
        if not report.ok:
            return None
        decided = RoundSuppression(total_hidden, groups_hidden, rows_hidden, report, attempt,
                                   cells_hidden)  # fmt: skip
        _step(INSIDER_STEP)
        insider = audit_insiders(truth, people or (), k, decided, attackers=attackers,
                                 shown_tolerance=shown_tolerance, witnesses=witnesses,
                                 exact_bounds=0)  # fmt: skip
        return replace(decided, insider=insider) if insider.ok else None

    attempt = 0
    while True:
        attempt += 1
        total_hidden, groups_hidden, rows_hidden, cells_hidden = _pattern(
            truth, k, forced_groups, forced_rows, forced_cells)
        model = attack_model(truth, k, total_hidden, groups_hidden, rows_hidden,
                             cells_hidden=cells_hidden)  # fmt: skip
        _step(OUTSIDER_STEP)
        # Which counts are exposed is all suppressing more needs; their ranges (two
        # exact programs each) are worked out only to explain a refusal.
        report = audit_model(model, cache=cache, ranges=False)
        if not report.ok:
            if not _suppress_more(truth, report, groups_hidden, rows_hidden, forced_groups,
                                  forced_rows, cells_hidden, forced_cells):  # fmt: skip
                exact = audit_model(model)
                raise SuppressionError(
                    "the round cannot be published safely: "
                    + (exact.exposures or report.exposures)[0].reason
                )
            continue
        decided = RoundSuppression(total_hidden, groups_hidden, rows_hidden, report, attempt,
                                   cells_hidden)  # fmt: skip
        if people is None:
            return decided
        _step(INSIDER_STEP)
        insider = audit_insiders(truth, people, k, decided, attackers=attackers,
                                 shown_tolerance=shown_tolerance, witnesses=witnesses,
                                 exact_bounds=0)  # fmt: skip
        decided = replace(decided, insider=insider)
        if insider.ok:
            return _fewest(decided, added, forced_groups, passes)
        asked = _suppress_more_for_insiders(truth, decided, forced_groups, forced_rows, probe,
                                            batch=batch)  # fmt: skip
        if asked is None:
            # The report that explains the refusal, with exact bounds.
            exact = audit_insiders(truth, people, k, decided, attackers=attackers,
                                   shown_tolerance=shown_tolerance, witnesses=witnesses)
            raise SuppressionError("the round cannot be published safely: "
                                   + (exact.exposures or insider.exposures)[0].reason)
        batch = {dim: max(1, batch_growth) * batch.get(dim, 1) for dim in asked}
        added = asked


def _fewest(
    decided: RoundSuppression, added: Mapping[str, list[str]],
    forced_groups: Mapping[str, set[str]],
    passes: Callable[[Mapping[str, set[str]]], RoundSuppression | None],
) -> RoundSuppression:
    """Hide only as many of the last batch's groups as the audits need (smallest first).

    The round before the batch failed and the whole batch passes: bisect on how many
    of the batch's groups, in the order they were chosen, are hidden. Every answer
    returned has passed both audits in full; bisecting assumes that hiding more never
    turns a pass into a failure, which only costs a group too many where it is wrong.
    """
    for dim, chosen in added.items():
        if len(chosen) < 2:
            continue
        base = forced_groups[dim] - set(chosen)
        fails, holds = 0, len(chosen)
        while holds - fails > 1:
            middle = (fails + holds) // 2
            found = passes({**forced_groups, dim: base | set(chosen[:middle])})
            if found is None:
                fails = middle
            else:
                holds, decided = middle, found
        forced_groups[dim].difference_update(chosen[holds:])  # type: ignore[attr-defined]
    return decided


# --- 1. one pattern per breakdown --------------------------------------------------


def _pattern(
    truth: RoundTruth, k: int, forced_groups: Mapping[str, set[str]], forced_rows: set[str],
    forced_cells: Mapping[tuple[str, str], set[str]] | None = None,
) -> tuple[bool, dict[str, frozenset[str]], frozenset[str], dict[tuple[str, str], frozenset[str]]]:
    total_hidden = truth.total < k
    rows_hidden = frozenset(
        r.id for r in truth.rows
        if r.n < k or r.id in forced_rows or (r.sensitive and near_uniform(r.overall, k))
    )  # fmt: skip
    shown_rows = [r for r in truth.rows if r.id not in rows_hidden]
    groups_hidden: dict[str, frozenset[str]] = {}
    for dim, groups in truth.dimensions.items():
        if total_hidden:
            groups_hidden[dim] = frozenset(groups)
            continue
        lines = [_line(groups, {g: truth.group_sizes.get((dim, g), 0) for g in groups},
                       truth.total)]  # fmt: skip
        for row in shown_rows:
            answered = {g: sum(row.by_group.get((dim, g), {}).values()) for g in groups}
            lines.append(_line(groups, answered, row.n))
        hidden: set[str] = {UNSTATED, *forced_groups[dim]}
        changed = True
        while changed:  # the hidden set only grows, so this ends
            changed = False
            for line in lines:
                grown = hidden_keys(line, k, also=hidden)
                if not grown <= hidden:
                    hidden |= grown
                    changed = True
        groups_hidden[dim] = frozenset(g for g in groups if g in hidden)
    cells_hidden = {} if total_hidden else _sensitive_cells(
        truth, k, shown_rows, groups_hidden, forced_cells or {})
    return total_hidden, groups_hidden, rows_hidden, cells_hidden


def near_uniform(values: Mapping[str, int], k: int) -> bool:
    """Whether a figure shows that everyone, or everyone but one, gave the same answer,
    from fewer than 2k answers (the sensitive items' rule)."""
    n = sum(values.values())
    return 0 < n < 2 * k and max(values.values()) >= n - 1


def _sensitive_cells(
    truth: RoundTruth, k: int, shown_rows: Sequence[RowTruth],
    groups_hidden: Mapping[str, frozenset[str]],
    forced_cells: Mapping[tuple[str, str], set[str]],
) -> dict[tuple[str, str], frozenset[str]]:
    """Per sensitive row and dimension, the shown groups to hide in that row only.

    A near-uniform cell is hidden, and so is whatever the audit asked for before
    (``forced_cells``); the row's hidden cells then obey complementary suppression,
    so that Everyone minus the shown cells never isolates fewer than k answers.
    """
    out: dict[tuple[str, str], frozenset[str]] = {}
    for row in shown_rows:
        for dim, groups in truth.dimensions.items():
            pattern = set(groups_hidden[dim]) | {UNSTATED}
            extra = set(forced_cells.get((row.id, dim), set())) - pattern
            if row.sensitive:
                extra |= {g for g in groups if g not in pattern
                          and near_uniform(row.by_group.get((dim, g), {}), k)}  # fmt: skip
            if not extra:
                continue
            answered = {g: sum(row.by_group.get((dim, g), {}).values()) for g in groups}
            grown = hidden_keys(_line(groups, answered, row.n), k, also=pattern | extra)
            out[row.id, dim] = frozenset((extra | grown) - pattern)
    return out


def _line(groups: Sequence[str], counts: Mapping[str, int], total: int) -> dict[str, int]:
    unstated = total - sum(counts.values())
    if unstated < 0:  # pragma: no cover - groups are a subset of the respondents
        raise SuppressionError("a breakdown holds more people than its total")
    return {**{g: counts[g] for g in groups}, UNSTATED: unstated}


# --- 2. what an attacker sees ------------------------------------------------------


def attack_model(
    truth: RoundTruth, k: int, total_hidden: bool,
    groups_hidden: Mapping[str, frozenset[str]], rows_hidden: frozenset[str],
    row_groups_hidden: Mapping[tuple[str, str], frozenset[str]] | None = None,
    *, cells_hidden: Mapping[tuple[str, str], frozenset[str]] | None = None,
) -> AttackModel:
    """Describe everything the publication shows as the attacker's linear system.

    ``row_groups_hidden`` overrides the hidden groups of single (row, dimension)
    pairs: publications never do that (one pattern per dimension), but an audit of
    a row-by-row publication, such as the one this module replaced, needs it.
    ``cells_hidden`` adds groups hidden in one row only (sensitive items): their n
    is not protected (the group's size is shown, so "everyone answered" is no
    secret), but a near-uniform one's answers other than the commonest must be
    able to reach 2 (:meth:`AttackModel.count`'s ``reach``).
    """
    overrides = dict(row_groups_hidden or {})
    extra = cells_hidden or {}
    for (row_id, dim), groups in extra.items():
        overrides[row_id, dim] = overrides.get((row_id, dim), groups_hidden[dim]) | groups
    model = AttackModel(k)
    model.count(("R",), truth.total, shown=not total_hidden)
    rows = {row.id: row for row in truth.rows}
    split: dict[tuple[str, str], dict[str, tuple[dict[str, int], Fraction]]] = {}
    for row in truth.rows:
        _declare_cells(model, row, None, None, shown=row.id not in rows_hidden,
                       values=row.overall, score=row.score_sum)  # fmt: skip
    for dim, groups in truth.dimensions.items():
        members = [*groups, UNSTATED]
        sizes = _line(groups, {g: truth.group_sizes.get((dim, g), 0) for g in groups}, truth.total)
        for g in members:
            shown = not total_hidden and g != UNSTATED and g not in groups_hidden[dim]
            model.count(("r", dim, g), sizes[g], shown=shown, protected=_protect(g, sizes[g], k))
        model.sum_of(("R",), [("r", dim, g) for g in members])
        split.update({(row.id, dim): _group_cells(row, dim, groups) for row in truth.rows})
        for row in truth.rows:
            cells = split[row.id, dim]
            for g in members:
                hidden_here = overrides.get((row.id, dim), groups_hidden[dim])
                shown = row.id not in rows_hidden and g != UNSTATED and g not in hidden_here
                values, score = cells[g]
                in_row_only = g in extra.get((row.id, dim), frozenset()) and not total_hidden
                _declare_cells(model, row, dim, g, shown=shown, values=values, score=score,
                               protected=_protect(g, sum(values.values()), k) and not in_row_only)
                model.at_most(("n", row.id, dim, g), ("r", dim, g))
                if in_row_only and row.sensitive and row.id not in rows_hidden \
                        and near_uniform(values, k):
                    _declare_spread(model, row, dim, g, values)
            for value in row.overall:
                model.sum_of(("x", row.id, None, None, value),
                             [("x", row.id, dim, g, value) for g in members])  # fmt: skip
            if row.is_scale:
                model.add({("S", row.id, None, None): -1.0,
                           **{("S", row.id, dim, g): 1.0 for g in members}}, 0.0, 0.0)  # fmt: skip
                for g in members:
                    hidden_here = overrides.get((row.id, dim), groups_hidden[dim])
                    shown = row.id not in rows_hidden and g != UNSTATED and g not in hidden_here
                    _declare_pooled(model, row, truth, rows, dim, g, shown=shown, split=split)
        for instrument in truth.instruments:
            if instrument.scale_row_id is not None:
                for g in members:
                    _link_scale(model, instrument, rows, dim, g)
    for instrument in truth.instruments:
        if instrument.scale_row_id is not None:
            _link_scale(model, instrument, rows, None, None)
    for row in truth.rows:
        if row.is_scale:
            _declare_pooled(model, row, truth, rows, None, None, shown=row.id not in rows_hidden)
        if row.sensitive and row.id in rows_hidden and near_uniform(row.overall, k):
            _declare_spread(model, row, None, None, row.overall)
    _declare_alike(model, truth)
    return model


def _declare_alike(model: AttackModel, truth: RoundTruth) -> None:
    """The groups of each dimension are alike: the same constraints, slot by slot.

    Exchanging two hidden groups' figures (a hidden small team's and a hidden larger
    one's) changes nothing the publication shows, so the audit tries those points
    before any program; it re-checks each against every constraint.
    """
    by_dim: dict[str, dict[str, dict[tuple, tuple]]] = {dim: {} for dim in truth.dimensions}
    for key in model.keys():  # noqa: SIM118 - a model, not a dict
        if key[0] == "r":
            dim, group, slot = key[1], key[2], ("r",)
        elif key[0] in ("n", "x", "S", "F", "A", "D") and key[2] is not None:
            dim, group, slot = key[2], key[3], (key[0], key[1], *key[4:])
        else:
            continue
        by_dim[dim].setdefault(group, {})[slot] = key
    for groups in by_dim.values():
        model.alike(groups)


def _declare_spread(
    model: AttackModel, row: RowTruth, dim: str | None, group: str | None,
    values: Mapping[str, int],
) -> None:
    """A hidden near-uniform cell: its answers other than the commonest must reach 2."""
    common = max(row.overall, key=lambda v: (values.get(v, 0), v))
    spread = sum(values.get(v, 0) for v in row.overall) - values.get(common, 0)
    key = ("D", row.id, dim, group)
    model.count(key, spread, shown=False, reach=2)
    model.sum_of(key, [("x", row.id, dim, group, v) for v in row.overall if v != common])


def _declare_pooled(
    model: AttackModel, scale_row: RowTruth, truth: RoundTruth, rows: Mapping[str, RowTruth],
    dim: str | None, group: str | None, *, shown: bool,
    split: Mapping[tuple[str, str], Mapping[str, tuple[dict[str, int], Fraction]]] | None = None,
) -> None:
    """A shown scale cell's favourable share: its favourable answers and answers, pooled.

    ``split``: the groups' cells of each (row, dimension) already worked out (once per
    row, not once per group of it).

    Both count as known exactly (only their ratio is shown: a stronger attacker than
    the real one); each is a sum of the same cell's item figures, which is what makes
    the share new information when an item row is hidden.
    """
    instrument = next((i for i in truth.instruments if i.scale_row_id == scale_row.id), None)
    if instrument is None:
        return
    items = [rows[i] for i in instrument.item_ids if i in rows]
    if not any(item.favourable_values for item in items):
        return  # a truth built without favourable values (older callers): nothing to add
    groups = list(truth.dimensions[dim]) if dim is not None else []
    favourable = answers = 0
    favourable_parts, answer_parts = [], []
    for item in items:
        if dim is None:
            values: Mapping[str, int] = item.overall
        else:
            cells = (split or {}).get((item.id, dim)) or _group_cells(item, dim, groups)
            values = cells[group or UNSTATED][0]
        for value in item.overall:
            x_key = ("x", item.id, dim, group, value)
            answers += values.get(value, 0)
            answer_parts.append(x_key)
            if value in item.favourable_values:
                favourable += values.get(value, 0)
                favourable_parts.append(x_key)
    f_key, a_key = ("F", scale_row.id, dim, group), ("A", scale_row.id, dim, group)
    model.count(f_key, favourable, shown=shown, protected=False)
    model.count(a_key, answers, shown=shown, protected=False)
    model.sum_of(f_key, favourable_parts)
    model.sum_of(a_key, answer_parts)


def _protect(group: str, count: int, k: int) -> bool:
    """Protect every hidden group; the unstated remainder only when it is small.

    The unstated cell is never a cell of the publication: when it holds k or more
    people it is the "0 or at least k" remainder complementary suppression allows,
    and working it out tells nothing about a group of fewer than k.
    """
    return group != UNSTATED or count < k


def _group_cells(
    row: RowTruth, dim: str, groups: Sequence[str]
) -> dict[str, tuple[dict[str, int], Fraction]]:
    """Each listed group's cell, and the unstated cell as Everyone minus the groups."""
    cells = {
        g: (dict(row.by_group.get((dim, g), {})), row.group_score_sums.get((dim, g), Fraction(0)))
        for g in groups
    }
    rest = {v: n - sum(cells[g][0].get(v, 0) for g in groups) for v, n in row.overall.items()}
    rest_score = row.score_sum - sum((cells[g][1] for g in groups), Fraction(0))
    cells[UNSTATED] = (rest, rest_score)
    return cells


def _declare_cells(
    model: AttackModel, row: RowTruth, dim: str | None, group: str | None, *, shown: bool,
    values: Mapping[str, int], score: Fraction, protected: bool = True,
) -> None:
    """One cell: its n (protected), its distribution and, for scales, its score sum."""
    n_key = ("n", row.id, dim, group)
    model.count(n_key, sum(values.get(v, 0) for v in row.overall), shown=shown,
                protected=protected)
    parts = []
    for value in row.overall:
        key = ("x", row.id, dim, group, value)
        model.count(key, values.get(value, 0), shown=shown, protected=False)
        parts.append(key)
    model.sum_of(n_key, parts)
    if not row.is_scale:
        return
    # A scale's distribution counts respondents per rounded score point, so the sum of
    # their scores lies within half a point of each; a shown mean narrows it further.
    # A shown cell's score sum counts as known exactly, though only its mean rounded to
    # two decimals is shown: the attacker gets more than they have (never less safe),
    # and breakdowns no longer share an unknown through the Everyone sum, so each
    # dimension is a program of its own.
    s_key = ("S", row.id, dim, group)
    model.real(s_key, float(score), shown=shown)
    ends = [int(value) for value in row.overall]
    low = {value: max(int(value) - 0.5, float(min(ends))) for value in row.overall}
    high = {value: min(int(value) + 0.5, float(max(ends))) for value in row.overall}
    model.add({s_key: 1.0, **{("x", row.id, dim, group, v): -low[v] for v in row.overall}},
              lower=0.0)  # fmt: skip
    model.add({s_key: 1.0, **{("x", row.id, dim, group, v): -high[v] for v in row.overall}},
              upper=0.0)  # fmt: skip


def _link_scale(
    model: AttackModel, instrument: InstrumentTruth, rows: Mapping[str, RowTruth],
    dim: str | None, group: str | None,
) -> None:
    """What a scale's respondents imply about the same people's item answers.

    With m items asked, r respondents, n_s scale scores and A the sum of scored
    item answers: n_s <= r; the answers given number at most m·r and at least
    min_answered·n_s (and at most (min_answered − 1) per respondent without a
    score); when nobody skipped an item (answers = m·r) the scores sum to A / m
    exactly, and each missing answer loosens that by at most m·highest.
    """
    scale_id = instrument.scale_row_id
    assert scale_id is not None
    m = len(instrument.item_ids)
    r_key = ("R",) if dim is None else ("r", dim, group)
    n_s = ("n", scale_id, dim, group)
    answers = {("n", item, dim, group): 1.0 for item in instrument.item_ids}
    model.at_most(n_s, r_key)
    model.add({**answers, r_key: -float(m)}, upper=0.0)
    model.add({**answers, n_s: -float(instrument.min_answered)}, lower=0.0)
    model.add({**answers, r_key: -float(instrument.min_answered - 1),
               n_s: -float(m - instrument.min_answered + 1)}, upper=0.0)  # fmt: skip
    scored_sum: dict[tuple, float] = {}
    for item in instrument.item_ids:
        for value, points in rows[item].scored.items():
            scored_sum[("x", item, dim, group, value)] = -float(points)
    slack = float(instrument.highest * m)
    missing = {r_key: float(m) * slack, **{key: -slack for key in answers}}
    score = {("S", scale_id, dim, group): float(m), **scored_sum}
    model.add(_merge(score, {key: -c for key, c in missing.items()}), upper=0.0)
    model.add(_merge(score, missing), lower=0.0)


def _merge(a: Mapping[tuple, float], b: Mapping[tuple, float]) -> dict[tuple, float]:
    out = dict(a)
    for key, c in b.items():
        out[key] = out.get(key, 0.0) + c
    return out


def round_mean(mean: Fraction | float) -> float:
    """Round a mean half up to two decimals, as stored and shown."""
    return float((Fraction(mean) * 100 + Fraction(1, 2)).__floor__()) / 100


# --- 3. suppress more ----------------------------------------------------------------


def _suppress_more(
    truth: RoundTruth, report: AuditReport, groups_hidden: Mapping[str, frozenset[str]],
    rows_hidden: frozenset[str], forced_groups: dict[str, set[str]], forced_rows: set[str],
    cells_hidden: Mapping[tuple[str, str], frozenset[str]] | None = None,
    forced_cells: dict[tuple[str, str], set[str]] | None = None,
) -> bool:
    """Hide one more group per exposed dimension (or an instrument's Everyone rows).

    A hidden sensitive cell whose spread can be pinned gets one more partner in its
    own row (the smallest cell still shown there), or its row is hidden.
    """
    instrument_of = {row.id: row.instrument_id for row in truth.rows}
    # Every row of an instrument: its items, its scale and any subscales.
    members: dict[str, list[str]] = {}
    for row in truth.rows:
        members.setdefault(row.instrument_id, []).append(row.id)
    grew = False
    dims_done: set[str] = set()
    cells_hidden = cells_hidden or {}
    for exposure in report.exposures:
        key = exposure.key
        if key[0] == "D":
            grew |= _partner(truth, key[1], key[2], groups_hidden, rows_hidden, cells_hidden,
                             forced_rows, forced_cells if forced_cells is not None else {})
            continue
        dim = key[2] if key[0] in ("n", "x", "S") else (key[1] if key[0] == "r" else None)
        if dim is not None and dim not in dims_done:
            shown = [g for g in truth.dimensions[dim] if g not in groups_hidden[dim]]
            if shown:
                smallest = min(shown, key=lambda g: (truth.group_sizes.get((dim, g), 0), g))
                forced_groups[dim].add(smallest)
                dims_done.add(dim)
                grew = True
                continue
        if key[0] in ("n", "x", "S"):
            row_ids = members.get(instrument_of[key[1]], [key[1]])
            new = set(row_ids) - rows_hidden
            if new:
                forced_rows.update(new)
                grew = True
    return grew


def _partner(
    truth: RoundTruth, row_id: str, dim: str | None, groups_hidden: Mapping[str, frozenset[str]],
    rows_hidden: frozenset[str], cells_hidden: Mapping[tuple[str, str], frozenset[str]],
    forced_rows: set[str], forced_cells: dict[tuple[str, str], set[str]],
) -> bool:
    if row_id in rows_hidden:
        return False
    if dim is not None:
        hidden = groups_hidden[dim] | cells_hidden.get((row_id, dim), frozenset())
        shown = [g for g in truth.dimensions[dim] if g not in hidden]
        if shown:
            row = next(r for r in truth.rows if r.id == row_id)
            smallest = min(shown, key=lambda g: (sum(row.by_group.get((dim, g), {}).values()), g))
            forced_cells.setdefault((row_id, dim), set()).add(smallest)
            return True
    forced_rows.add(row_id)
    return True


def _suppress_more_for_insiders(
    truth: RoundTruth, decided: RoundSuppression, forced_groups: dict[str, set[str]],
    forced_rows: set[str], probe: Callable[[RoundSuppression], frozenset[tuple[str, tuple]]],
    headline: str = HEADLINE_DIMENSION, batch: Mapping[str, int] | None = None,
) -> dict[str, list[str]] | None:
    """Hide what lets an insider pin an exposed cross-cell; None if nothing is left to hide,
    else the groups hidden per dimension, in the order chosen (empty: only rows).

    An exposed cross-cell is pinned where a figure that contains it meets a hidden
    remainder that contains it (e.g. the Global Majority row, shown, against the
    pool of hidden small teams, Everyone minus the shown teams).

    The ``headline`` dimension (ethnicity group: the gap the programme tracks) is
    protected: an exposure is fixed in the other dimensions (team, staff group),
    which may take every group they have, unless ``probe`` says that hiding all of
    their groups would still leave it exposed (e.g. the hidden pool of "prefer not to
    say" and unstated ethnicity is itself near-uniform, and the HR list says who is
    in it); only then in the headline dimension (in every row: one pattern per
    breakdown). Within the chosen dimensions, in this order of preference:

    1. enlarge the hidden remainder: in a dimension where the cell's group is hidden
       in that row, hide the smallest group still shown (of the dimension whose
       smallest shown group is smallest). Like complementary suppression, this mixes
       more people's answers into what the attacker must split;
    2. else (the cell's groups are shown there) hide the smallest of the cell's shown
       groups;
    3. else (only the Everyone figures are left) hide the instrument's Everyone rows.

    One group per dimension per round (the smallest asked for), then every step runs
    again: the audit, not this heuristic, says when it is enough. ``batch`` raises that
    to ``batch[dim]`` groups of a dimension (the smallest asked for, then the smallest
    still shown): :func:`decide_suppression` doubles it each round the audit asks the
    same dimension again, so a large organisation whose hidden pool needs many more
    teams gets there in a few rounds of the audit rather than one round per team. It
    may hide up to about as many groups again as one at a time would have; the audit
    of the result is the same full audit either way.
    """
    members: dict[str, list[str]] = {}
    for row in truth.rows:
        members.setdefault(row.instrument_id, []).append(row.id)
    instrument_of = {row.id: row.instrument_id for row in truth.rows}
    assert decided.insider is not None
    wanted: dict[str, set[str]] = {}
    rows: set[str] = set()
    beyond_others: frozenset[tuple[str, tuple]] | None = None  # the probe, run once if needed

    def size(dim: str, g: str) -> tuple[int, str]:
        return truth.group_sizes.get((dim, g), 0), g

    for exposure in decided.insider.exposures:
        row_id = exposure.row_id
        shown_in = {dim: [g for g in truth.dimensions[dim] if g != UNSTATED
                          and not decided.hides(row_id, dim, g)]
                    for dim in truth.dimensions}  # fmt: skip
        cell = [(dim, g) for dim, g in exposure.cell if dim in shown_in]
        in_others = _insider_choice([(d, g) for d, g in cell if d != headline], shown_in, size)
        in_headline = _insider_choice([(d, g) for d, g in cell if d == headline], shown_in, size)
        if in_others is not None and in_headline is not None:
            if beyond_others is None:
                beyond_others = probe(_others_hidden(truth, decided, headline))
            if (row_id, exposure.cell) not in beyond_others:
                in_headline = None  # the other dimensions can still fix it: leave it be
        choice = in_headline if in_headline is not None else in_others
        if choice is not None:
            wanted.setdefault(choice[0], set()).add(choice[1])
        else:
            rows.update(set(members[instrument_of[row_id]]) - decided.rows_hidden)
    grew = False
    added: dict[str, list[str]] = {}
    for dim, groups in wanted.items():
        take = max(1, (batch or {}).get(dim, 1))
        chosen = sorted(groups, key=lambda g: size(dim, g))[:take]
        still_shown = sorted((g for g in truth.dimensions[dim] if g != UNSTATED
                              and g not in decided.groups_hidden.get(dim, frozenset())
                              and g not in chosen), key=lambda g: size(dim, g))  # fmt: skip
        chosen += still_shown[:take - len(chosen)]
        forced_groups[dim].update(chosen)
        added[dim] = chosen
        grew = True
    if rows:
        forced_rows.update(rows)
        grew = True
    return added if grew else None


def _insider_choice(
    cell: Sequence[tuple[str, str]], shown_in: Mapping[str, Sequence[str]],
    size: Callable[[str, str], tuple[int, str]],
) -> tuple[str, str] | None:
    """The group to hide for an exposed cell within these of its (dimension, group) pairs:
    the smallest shown group of a dimension where the cell is in the hidden remainder,
    else the smallest of the cell's own shown groups; None if nothing is shown there."""
    remainders = [dim for dim, g in cell if g not in shown_in[dim] and shown_in[dim]]
    if remainders:
        dim = min(remainders, key=lambda d: size(d, min(shown_in[d], key=lambda g: size(d, g))))
        return dim, min(shown_in[dim], key=lambda g: size(dim, g))
    own = [(dim, g) for dim, g in cell if g in shown_in[dim]]
    if own:
        return min(own, key=lambda pair: size(*pair))
    return None


def _others_hidden(truth: RoundTruth, decided: RoundSuppression, headline: str) -> RoundSuppression:
    """``decided`` with every group of every dimension but ``headline`` hidden."""
    groups = {dim: frozenset(gs) if dim != headline else decided.groups_hidden[dim]
              for dim, gs in truth.dimensions.items()}  # fmt: skip
    cells = {key: gs for key, gs in decided.cells_hidden.items() if key[1] == headline}
    return replace(decided, groups_hidden=groups, cells_hidden=cells, insider=None)


def _headline_probe(
    truth: RoundTruth, people: Sequence[Person], k: int, attackers: Sequence[str],
    shown_tolerance: Mapping | None,
) -> Callable[[RoundSuppression], frozenset[tuple[str, tuple]]]:
    """The insiders' audit of a suppression with every other dimension hidden, as the
    (row, cross-cell) pairs it still finds exposed. Hiding more teams never changes
    that suppression, so each distinct one is audited once."""
    seen: dict[tuple, frozenset[tuple[str, tuple]]] = {}
    witnesses = InsiderWitnesses()  # apart from the decision's: other constraints

    def probe(suppression: RoundSuppression) -> frozenset[tuple[str, tuple]]:
        key = (suppression.total_hidden, suppression.rows_hidden,
               tuple(sorted((d, tuple(sorted(g))) for d, g in suppression.groups_hidden.items())),
               tuple(sorted((r, tuple(sorted(g))) for r, g in suppression.cells_hidden.items())))
        if key not in seen:
            _step(INSIDER_STEP)
            report = audit_insiders(truth, people, k, suppression, attackers=attackers,
                                    shown_tolerance=shown_tolerance, witnesses=witnesses,
                                    exact_bounds=0)  # fmt: skip
            seen[key] = frozenset((e.row_id, e.cell) for e in report.exposures)
        return seen[key]

    return probe
