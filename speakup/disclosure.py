"""Statistical disclosure control: decide which aggregates may leave the system.

This is the one place that applies anonymity rule 5 of DESIGN.md. Every
publisher (survey results, concern statistics, exports, charts) passes its
breakdowns through these functions and never decides visibility itself, so
the rule is enforced identically for HTML, CSV, JSON and charts.

Vocabulary:

- a *breakdown* splits one published total by one dimension into *cells*
  (groups); each cell has a *count* of contributors (respondents, concerns);
- a cell is *hidden* when it is published as ``HIDDEN`` (``None``), exactly
  like a group that had no answers, so the two cannot be told apart;
- *primary suppression* hides every cell with fewer than ``k`` contributors
  (including 0);
- *complementary suppression* then hides the smallest shown cells until the
  hidden cells of the breakdown together hold 0 or at least ``k``
  contributors, so that subtracting the shown cells from the shown total
  never reveals a group smaller than ``k``.

Callers always pass counts of *contributors*. A mean, share or rate computed
over a cell inherits that cell's visibility: publish it with
:func:`suppress_breakdown` (or :func:`suppress_shares`) using the cell's
contributor counts, never on its own.

The module is pure (standard library only, no I/O) so it can be tested
exhaustively and reused from jobs, views and the CLI alike.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = [
    "COMMENT_MIN_RESPONSES",
    "DEFAULT_MIN_GROUP_SIZE",
    "HIDDEN",
    "LOWEST_MIN_GROUP_SIZE",
    "Breakdown",
    "DisclosureError",
    "TableSuppression",
    "comments_may_be_shown",
    "hidden_cells_2d",
    "hidden_keys",
    "suppress_breakdown",
    "suppress_shares",
    "suppress_table_2d",
    "suppress_total",
    "validate_min_group_size",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R", bound=Hashable)
C = TypeVar("C", bound=Hashable)

#: What a hidden cell is published as; the same value as "no answers".
HIDDEN = None

#: The minimum group size used when a survey or report does not set one.
DEFAULT_MIN_GROUP_SIZE = 5

#: No configuration may go below this: with k = 2 a member of a pair can
#: subtract their own answer and read the other person's.
LOWEST_MIN_GROUP_SIZE = 3

#: Free-text comments need at least max(k, this) responses in the round,
#: because a comment's wording identifies its author far more easily than a
#: number does.
COMMENT_MIN_RESPONSES = 10


class DisclosureError(ValueError):
    """Raise when an input would make disclosure control unsafe or meaningless."""


def validate_min_group_size(k: int) -> int:
    """Return ``k`` unchanged if it is a usable minimum group size, else raise.

    ``k`` must be a plain ``int`` (not ``bool``, ``float`` or ``str``: a value
    read from a form or a file must be converted deliberately by the caller,
    so a typo cannot silently become a different threshold) and at least
    :data:`LOWEST_MIN_GROUP_SIZE`.
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise DisclosureError(
            f"the minimum group size must be a whole number, not {type(k).__name__} {k!r}"
        )
    if k < LOWEST_MIN_GROUP_SIZE:
        raise DisclosureError(
            f"the minimum group size must be at least {LOWEST_MIN_GROUP_SIZE}, not {k}"
        )
    return k


def suppress_total(total: int, k: int) -> int | None:
    """Return ``total`` if at least ``k`` people contributed to it, else ``HIDDEN``."""
    k = validate_min_group_size(k)
    _check_count("total", total)
    return total if total >= k else HIDDEN


def hidden_keys(
    counts: Mapping[K, int], k: int, also: Iterable[K] = ()
) -> frozenset[K]:
    """Return the keys to hide in one breakdown (primary + complementary).

    ``counts`` maps each cell of the breakdown to its number of contributors;
    the breakdown's total is taken to be their sum (pass every group, with 0
    for groups nobody belongs to). Cells with fewer than ``k`` contributors
    are hidden; then, while the hidden cells together hold between 1 and
    ``k - 1`` contributors, the smallest shown cell is hidden too. Ties
    between equally small cells go to the smallest ``repr(key)`` (then the
    type's name), so the result never depends on dict insertion order. If the
    total is below ``k``, every cell is hidden (and the total must be too: see
    :func:`suppress_total`).

    ``also`` names cells already hidden for another reason (the same group in
    another row that shares respondents); they count towards the hidden cells'
    sum, so complementary suppression hides no more than it must.
    """
    k = validate_min_group_size(k)
    _check_counts(counts)
    if sum(counts.values()) < k:
        # Primary suppression would hide every cell anyway; say so outright.
        return frozenset(counts)
    hidden = {key for key, count in counts.items() if count < k}
    hidden.update(key for key in also if key in counts)
    _complete_line(counts, hidden, k)
    return frozenset(hidden)


def suppress_breakdown(values: Mapping[K, V], counts: Mapping[K, int], k: int) -> dict[K, V | None]:
    """Return ``values`` with hidden cells, and cells missing from ``values``, as None.

    The result has exactly the keys of ``counts``, in ``counts``' order. A key
    of ``values`` that has no count is refused rather than dropped, because a
    value whose contributors are unknown cannot be checked.
    """
    stray = [key for key in values if key not in counts]
    if stray:
        raise DisclosureError(f"values given for groups without a count: {_sorted_keys(stray)!r}")
    hidden = hidden_keys(counts, k)
    return {key: HIDDEN if key in hidden else values.get(key, HIDDEN) for key in counts}


def suppress_shares(
    numerators: Mapping[K, int], counts: Mapping[K, int], k: int
) -> dict[K, float | None]:
    """Return ``numerator / count`` per cell, or ``HIDDEN`` where the cell is hidden.

    ``counts`` are the contributors of each cell and also the denominators
    (respondents for a favourable share, concerns for a closed share). A
    missing numerator means none of the cell's contributors qualified. For a
    response rate, whose denominator (people invited) is not the number of
    contributors, compute the rate yourself and publish it with
    :func:`suppress_breakdown` over the respondent counts.
    """
    stray = [key for key in numerators if key not in counts]
    if stray:
        raise DisclosureError(
            f"numerators given for groups without a count: {_sorted_keys(stray)!r}"
        )
    for key, numerator in numerators.items():
        _check_count(f"numerator of {key!r}", numerator)
        if numerator > counts[key]:
            raise DisclosureError(
                f"numerator of {key!r} ({numerator}) exceeds its count ({counts[key]})"
            )
    shares = {key: numerators.get(key, 0) / count for key, count in counts.items() if count}
    return suppress_breakdown(shares, counts, k)


def comments_may_be_shown(response_count: int, k: int) -> bool:
    """Return whether a round's free-text comments may be shown (whole organisation only)."""
    k = validate_min_group_size(k)
    _check_count("response count", response_count)
    return response_count >= max(k, COMMENT_MIN_RESPONSES)


@dataclass(frozen=True)
class TableSuppression(Generic[R, C]):
    """What to hide in a two-way table whose row, column and grand totals are published."""

    #: Cells to publish as ``HIDDEN``, over the full grid of rows × columns.
    cells: frozenset[tuple[R, C]]
    #: Rows whose total must be published as ``HIDDEN``.
    rows: frozenset[R]
    #: Columns whose total must be published as ``HIDDEN``.
    columns: frozenset[C]
    #: Whether the grand total must be published as ``HIDDEN``.
    total_hidden: bool


def suppress_table_2d(counts: Mapping[tuple[R, C], int], k: int) -> TableSuppression[R, C]:
    """Decide which cells and totals to hide in a two-way table.

    ``counts`` maps ``(row, column)`` to contributors. The grid is every pair
    of the rows and columns that occur in ``counts``; a missing pair counts 0
    contributors and so is always hidden.

    The row totals form a breakdown of the grand total (and so do the column
    totals), so they are suppressed with :func:`hidden_keys` first. A row
    whose total is hidden is hidden entirely: with all its cells shown, its
    total would be their sum. Then primary suppression is applied to every
    cell and complementary suppression to every row and column whose total is
    shown, repeatedly (rows in order, then columns, in ``repr`` order) until
    nothing changes, so that in each such row and column the hidden cells
    hold 0 or at least ``k`` contributors.

    This is the usual row-and-column heuristic. It stops subtraction within
    any one row or column, but, like every such heuristic, it does not
    guarantee that no combination of equations across several rows and
    columns narrows a hidden cell down; keep tables small and coarse.
    """
    k = validate_min_group_size(k)
    for key in counts:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise DisclosureError(f"two-way table keys must be (row, column) pairs, not {key!r}")
    _check_counts(counts)
    # Sorting by repr keeps every step independent of the order the query
    # returned rows in, so the same counts always publish the same table.
    rows: list[R] = _sorted_keys({row for row, _ in counts})
    columns: list[C] = _sorted_keys({column for _, column in counts})
    grid = {(row, column): counts.get((row, column), 0) for row in rows for column in columns}
    hidden_rows = hidden_keys({row: sum(grid[row, c] for c in columns) for row in rows}, k)
    hidden_columns = hidden_keys(
        {column: sum(grid[r, column] for r in rows) for column in columns}, k
    )
    hidden = {
        cell
        for cell, count in grid.items()
        if count < k or cell[0] in hidden_rows or cell[1] in hidden_columns
    }
    # Rows and columns with a hidden total need no complementary step: there
    # is no published total to subtract the shown cells from.
    lines = [{(row, c): grid[row, c] for c in columns} for row in rows if row not in hidden_rows]
    lines += [
        {(r, column): grid[r, column] for r in rows}
        for column in columns
        if column not in hidden_columns
    ]
    # Repeat until stable, as the rule is stated. With primary suppression
    # done first, every cell hidden here holds at least k, so it cannot make
    # another line unsafe and the second pass only confirms; the loop keeps
    # that true if the rule ever changes. The hidden set only grows, so it ends.
    changed = True
    while changed:
        changed = False
        for line in lines:
            changed |= _complete_line(line, hidden, k)
    return TableSuppression(
        cells=frozenset(hidden),
        rows=hidden_rows,
        columns=hidden_columns,
        total_hidden=sum(grid.values()) < k,
    )


def hidden_cells_2d(counts: Mapping[tuple[R, C], int], k: int) -> frozenset[tuple[R, C]]:
    """Return the cells to hide in a two-way table (see :func:`suppress_table_2d`).

    For a two-way table whose row and column totals are both published (e.g.
    concern category × quarter), in each row and each column whose total is
    shown the hidden cells sum to 0 or at least ``k``; a row or column whose
    total is hidden (below ``k``, or hidden to protect another) is fully
    hidden. Use :func:`suppress_table_2d` to learn which totals to hide.
    """
    return suppress_table_2d(counts, k).cells


@dataclass(frozen=True)
class Breakdown(Generic[K, V]):
    """One published breakdown: a value per group of one dimension, with its counts.

    ``groups`` are all the groups of the dimension, fixed when the survey or
    report was set up, in display order; a group absent from ``counts`` had no
    contributors. Giving them all keeps empty and hidden groups in the output,
    where they look alike.
    """

    dimension: str
    groups: tuple[K, ...]
    counts: Mapping[K, int]
    values: Mapping[K, V]
    k: int = DEFAULT_MIN_GROUP_SIZE
    _full_counts: dict[K, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the breakdown once, so publishing it cannot fail halfway."""
        validate_min_group_size(self.k)
        if len(set(self.groups)) != len(self.groups):
            raise DisclosureError(f"{self.dimension}: groups repeat")
        # An undeclared group would be dropped from the output while its
        # contributors still counted in the total, so refuse it.
        undeclared = [key for key in (*self.counts, *self.values) if key not in self.groups]
        if undeclared:
            raise DisclosureError(
                f"{self.dimension}: undeclared groups {_sorted_keys(set(undeclared))!r}"
            )
        full_counts = {group: self.counts.get(group, 0) for group in self.groups}
        _check_counts(full_counts)
        # Frozen dataclasses allow this only through object.__setattr__.
        object.__setattr__(self, "_full_counts", full_counts)

    @property
    def total(self) -> int | None:
        """Return the breakdown's total contributors, or ``HIDDEN`` below ``k``."""
        return suppress_total(sum(self._full_counts.values()), self.k)

    def hidden(self) -> frozenset[K]:
        """Return the groups whose value must not be published."""
        return hidden_keys(self._full_counts, self.k)

    def published(self) -> dict[K, V | None]:
        """Return every group's value in ``groups`` order, ``HIDDEN`` where suppressed."""
        return suppress_breakdown(self.values, self._full_counts, self.k)

    def published_counts(self) -> dict[K, int | None]:
        """Return every group's count in ``groups`` order, ``HIDDEN`` where suppressed."""
        return suppress_breakdown(self._full_counts, self._full_counts, self.k)


def _complete_line(line: Mapping[K, int], hidden: set[K], k: int) -> bool:
    """Hide the smallest shown cells of one line until its hidden cells hold 0 or >= k.

    Mutates ``hidden`` and returns whether it grew. The caller guarantees the
    line's total is at least ``k``, so hiding every cell would always do.
    """
    hidden_sum = sum(count for key, count in line.items() if key in hidden)
    if hidden_sum == 0 or hidden_sum >= k:
        return False
    shown = sorted(
        (key for key in line if key not in hidden),
        key=lambda key: (line[key], _tie_key(key)),
    )
    for key in shown:
        hidden.add(key)
        hidden_sum += line[key]
        if hidden_sum >= k:
            break
    return True


def _tie_key(key: Hashable) -> tuple[str, str]:
    """Order keys of any (even mixed) types the same way on every run."""
    # repr works for keys that do not compare with each other (None beside
    # str, say); the type name separates the rare distinct keys sharing one.
    return repr(key), type(key).__qualname__


def _sorted_keys(keys: Iterable[K]) -> list[K]:
    """Sort keys by :func:`_tie_key`."""
    return sorted(keys, key=_tie_key)


def _check_count(label: str, count: object) -> None:
    """Raise unless ``count`` is a non-negative whole number."""
    # bool is an int subclass; True as a count is a caller bug, not 1 person.
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise DisclosureError(f"{label} must be a non-negative whole number, not {count!r}")


def _check_counts(counts: Mapping[K, int]) -> None:
    """Raise unless every count is a non-negative whole number."""
    for key, count in counts.items():
        _check_count(f"count of {key!r}", count)
