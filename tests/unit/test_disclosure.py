"""Tests for speakup.disclosure: hand-worked cases first, then properties."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speakup.disclosure import (
    HIDDEN,
    Breakdown,
    DisclosureError,
    comments_may_be_shown,
    hidden_cells_2d,
    hidden_keys,
    suppress_breakdown,
    suppress_shares,
    suppress_table_2d,
    suppress_total,
    validate_min_group_size,
)

# Modest budgets keep the whole file to a few seconds; the inputs are tiny,
# so 300 examples still cover the interesting shapes many times over.
PROPERTY = settings(max_examples=300, deadline=None)


def hidden_sum_is_safe(total_hidden: int, k: int) -> bool:
    """Return whether hidden cells holding this many contributors are safe."""
    return total_hidden == 0 or total_hidden >= k


# --- k ---------------------------------------------------------------------


def test_hidden_is_none_so_hidden_and_empty_look_alike() -> None:
    assert HIDDEN is None


@pytest.mark.parametrize("k", [3, 4, 5, 10, 100])
def test_valid_min_group_sizes_pass_through(k: int) -> None:
    assert validate_min_group_size(k) == k


@pytest.mark.parametrize("k", [2, 1, 0, -1])
def test_min_group_size_below_three_is_refused(k: int) -> None:
    with pytest.raises(DisclosureError, match="at least 3"):
        validate_min_group_size(k)


@pytest.mark.parametrize("k", ["5", 5.0, True, None, 3.5])
def test_min_group_size_that_is_not_an_int_is_refused(k: object) -> None:
    with pytest.raises(DisclosureError, match="whole number"):
        validate_min_group_size(k)  # type: ignore[arg-type]


def test_disclosure_error_is_a_value_error() -> None:
    assert issubclass(DisclosureError, ValueError)


@pytest.mark.parametrize("k", [2, 0, -1, "5", 5.0])
def test_every_entry_point_checks_k(k: object) -> None:
    with pytest.raises(DisclosureError):
        hidden_keys({"a": 10}, k)  # type: ignore[arg-type]
    with pytest.raises(DisclosureError):
        suppress_breakdown({"a": 1.0}, {"a": 10}, k)  # type: ignore[arg-type]
    with pytest.raises(DisclosureError):
        suppress_total(10, k)  # type: ignore[arg-type]
    with pytest.raises(DisclosureError):
        hidden_cells_2d({("r", "c"): 10}, k)  # type: ignore[arg-type]
    with pytest.raises(DisclosureError):
        comments_may_be_shown(50, k)  # type: ignore[arg-type]
    with pytest.raises(DisclosureError):
        Breakdown("team", ("a",), {"a": 10}, {"a": 1.0}, k=k)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [-1, 2.0, True, "3", None])
def test_counts_must_be_non_negative_whole_numbers(count: object) -> None:
    with pytest.raises(DisclosureError, match="non-negative whole number"):
        hidden_keys({"a": 10, "b": count}, 5)  # type: ignore[dict-item]
    with pytest.raises(DisclosureError, match="non-negative whole number"):
        hidden_cells_2d({("r", "a"): 10, ("r", "b"): count}, 5)  # type: ignore[dict-item]


# --- one breakdown, worked by hand (k = 5 unless stated) ----------------------


@pytest.mark.parametrize(
    ("counts", "k", "expected"),
    [
        # One group of k-1: hiding it alone would let total - shown reveal
        # it, so the smallest shown group goes too.
        ({"a": 4, "b": 20, "c": 30}, 5, {"a", "b"}),
        # Two small groups that together reach k protect each other.
        ({"a": 2, "b": 3, "c": 20, "d": 25}, 5, {"a", "b"}),
        # Two small groups that together stay below k need a third.
        ({"a": 1, "b": 2, "c": 20, "d": 25}, 5, {"a", "b", "c"}),
        # One group equals total - (k-1): its complement is small, so
        # hiding the complement forces hiding the big group as well.
        ({"big": 50, "small": 4}, 5, {"big", "small"}),
        ({"big": 40, "x": 2, "y": 2}, 5, {"big", "x", "y"}),
        # The next smallest shown cell is hidden, not the largest.
        ({"a": 4, "mid": 8, "big": 46}, 5, {"a", "mid"}),
        # Zero cells are hidden, but hide nobody, so nothing else goes.
        ({"a": 0, "b": 10, "c": 12}, 5, {"a"}),
        ({"a": 0, "b": 0, "c": 10}, 5, {"a", "b"}),
        # ... and a zero adds nothing to a small hidden group.
        ({"a": 0, "b": 1, "c": 10, "d": 11}, 5, {"a", "b", "c"}),
        # Every cell below k but the total shown: all hidden, sum 12 >= k.
        ({"a": 4, "b": 4, "c": 4}, 5, {"a", "b", "c"}),
        # Total below k: everything hidden.
        ({"a": 2, "b": 2}, 5, {"a", "b"}),
        ({"a": 4, "b": 0}, 5, {"a", "b"}),
        ({"a": 4}, 5, {"a"}),
        # Exactly k is enough.
        ({"a": 5, "b": 5}, 5, set()),
        ({"a": 5}, 5, set()),
        ({"a": 5, "b": 4, "c": 6}, 5, {"a", "b"}),
        # k = 3 boundary.
        ({"a": 3, "b": 3}, 3, set()),
        ({"a": 3, "b": 2, "c": 7}, 3, {"a", "b"}),
        ({"a": 2, "b": 1}, 3, {"a", "b"}),
        ({"a": 2, "b": 1, "c": 0, "d": 9}, 3, {"a", "b", "c"}),
        # k = 6: a group of 5 is now too small.
        ({"a": 5, "b": 10, "c": 20}, 6, {"a", "b"}),
        # No groups at all.
        ({}, 5, set()),
    ],
)
def test_hidden_keys_worked_examples(counts: dict[str, int], k: int, expected: set[str]) -> None:
    assert hidden_keys(counts, k) == frozenset(expected)


def test_total_is_hidden_below_k_and_shown_from_k() -> None:
    assert suppress_total(4, 5) is HIDDEN
    assert suppress_total(0, 5) is HIDDEN
    assert suppress_total(5, 5) == 5
    assert suppress_total(2, 3) is HIDDEN
    assert suppress_total(3, 3) == 3


def test_total_must_be_a_count() -> None:
    with pytest.raises(DisclosureError):
        suppress_total(-1, 5)


def test_ties_go_to_the_smallest_repr_whatever_the_insertion_order() -> None:
    assert hidden_keys({"b": 10, "a": 10, "c": 2}, 5) == {"a", "c"}
    assert hidden_keys({"a": 10, "b": 10, "c": 2}, 5) == {"a", "c"}
    # repr order, not numeric order: "'10'" sorts before "'9'"... for ints,
    # "10" < "9" as text. Arbitrary but stable, which is what matters.
    assert hidden_keys({9: 10, 10: 10, 1: 2}, 5) == {10, 1}


def test_keys_of_mixed_types_are_handled() -> None:
    # "prefer not to say" may well be stored as None beside strings.
    counts = {None: 2, "White": 30, "Global Majority": 12}
    assert hidden_keys(counts, 5) == {None, "Global Majority"}


def test_suppress_breakdown_hides_and_keeps_counts_order() -> None:
    counts = {"Global Majority": 12, "White": 30, "prefer not to say": 2, "other": 20}
    values = {"Global Majority": 3.5, "White": 3.9, "prefer not to say": 4.0, "other": 3.1}
    published = suppress_breakdown(values, counts, 5)
    assert published == {
        "Global Majority": None,
        "White": 3.9,
        "prefer not to say": None,
        "other": 3.1,
    }
    assert list(published) == list(counts)


def test_hidden_cell_and_group_without_answers_look_alike() -> None:
    # "empty" had nobody; "small" had 3 people with a real mean.
    counts = {"empty": 0, "small": 3, "large": 40, "larger": 50}
    values = {"small": 4.2, "large": 3.0, "larger": 3.3}
    published = suppress_breakdown(values, counts, 5)
    assert published["empty"] is published["small"] is HIDDEN
    assert repr(published["empty"]) == repr(published["small"])


def test_suppress_breakdown_missing_value_comes_out_none() -> None:
    assert suppress_breakdown({"a": 1.5}, {"a": 10, "b": 10}, 5) == {"a": 1.5, "b": None}


def test_suppress_breakdown_refuses_values_without_counts() -> None:
    with pytest.raises(DisclosureError, match="without a count"):
        suppress_breakdown({"a": 1.0, "ghost": 2.0}, {"a": 10}, 5)


def test_suppress_breakdown_total_below_k_hides_everything() -> None:
    assert suppress_breakdown({"a": 1.0, "b": 2.0}, {"a": 2, "b": 2}, 5) == {"a": None, "b": None}


def test_suppress_breakdown_keeps_falsy_shown_values() -> None:
    # A mean of 0.0 or a count of 0 shown must not be mistaken for hidden.
    published = suppress_breakdown({"a": 0.0, "b": 0}, {"a": 10, "b": 10}, 5)
    assert published == {"a": 0.0, "b": 0}
    assert published["a"] is not None


# --- shares and comments ------------------------------------------------------


def test_shares_inherit_their_cells_visibility() -> None:
    counts = {"a": 20, "b": 3, "c": 40, "d": 0}
    favourable = {"a": 5, "b": 3, "c": 10}
    assert suppress_shares(favourable, counts, 5) == {"a": None, "b": None, "c": 0.25, "d": None}


def test_share_with_no_favourable_answers_is_zero_not_hidden() -> None:
    assert suppress_shares({}, {"a": 10, "b": 20}, 5) == {"a": 0.0, "b": 0.0}


@pytest.mark.parametrize(
    ("numerators", "message"),
    [({"a": 11}, "exceeds"), ({"a": -1}, "non-negative"), ({"z": 1}, "without a count")],
)
def test_shares_refuse_impossible_numerators(numerators: dict[str, int], message: str) -> None:
    with pytest.raises(DisclosureError, match=message):
        suppress_shares(numerators, {"a": 10, "b": 10}, 5)


@pytest.mark.parametrize(
    ("responses", "k", "allowed"),
    [(9, 5, False), (10, 5, True), (0, 5, False), (11, 12, False), (12, 12, True)],
)
def test_comments_need_max_k_and_ten_responses(responses: int, k: int, allowed: bool) -> None:
    assert comments_may_be_shown(responses, k) is allowed


# --- Breakdown ------------------------------------------------------------------


def test_breakdown_publishes_every_declared_group_in_order() -> None:
    breakdown = Breakdown(
        dimension="ethnicity",
        groups=("Global Majority", "White", "prefer not to say"),
        counts={"White": 30, "Global Majority": 12},
        values={"White": 3.9, "Global Majority": 3.5},
    )
    # "prefer not to say" had nobody: hidden (0), and nothing else needs to go.
    assert breakdown.published() == {
        "Global Majority": 3.5,
        "White": 3.9,
        "prefer not to say": None,
    }
    assert list(breakdown.published()) == ["Global Majority", "White", "prefer not to say"]
    assert breakdown.published_counts() == {
        "Global Majority": 12,
        "White": 30,
        "prefer not to say": None,
    }
    assert breakdown.total == 42
    assert breakdown.hidden() == {"prefer not to say"}


def test_breakdown_applies_complementary_suppression_and_its_own_k() -> None:
    breakdown = Breakdown(
        dimension="team",
        groups=("a", "b", "c"),
        counts={"a": 6, "b": 30, "c": 9},
        values={"a": 1, "b": 2, "c": 3},
        k=7,
    )
    assert breakdown.published() == {"a": None, "b": 2, "c": None}


def test_breakdown_total_below_k_is_hidden() -> None:
    breakdown = Breakdown("team", ("a", "b"), {"a": 2, "b": 1}, {"a": 1.0, "b": 2.0})
    assert breakdown.total is HIDDEN
    assert breakdown.published() == {"a": None, "b": None}


def test_breakdown_refuses_undeclared_and_repeated_groups() -> None:
    with pytest.raises(DisclosureError, match="undeclared"):
        Breakdown("team", ("a",), {"a": 10, "b": 1}, {})
    with pytest.raises(DisclosureError, match="undeclared"):
        Breakdown("team", ("a",), {"a": 10}, {"b": 1.0})
    with pytest.raises(DisclosureError, match="repeat"):
        Breakdown("team", ("a", "a"), {"a": 10}, {})
    with pytest.raises(DisclosureError, match="non-negative"):
        Breakdown("team", ("a",), {"a": -10}, {})


# --- two-way tables, worked by hand ----------------------------------------------


def test_2d_small_cell_is_protected_in_its_row_and_its_column() -> None:
    # Given       q1  q2  q3 | total
    #   A          2  10  10 |  22
    #   B         10  10  10 |  30
    # (A, q1) is below k. Row A: hide the smallest shown cell, a tie between
    # q2 and q3 broken by repr, so (A, q2). Column q1: (A, q1) alone holds 2,
    # so (B, q1) goes too. Then every row and column holds 0 or >= 5 hidden.
    counts = {
        ("A", "q1"): 2,
        ("A", "q2"): 10,
        ("A", "q3"): 10,
        ("B", "q1"): 10,
        ("B", "q2"): 10,
        ("B", "q3"): 10,
    }
    assert hidden_cells_2d(counts, 5) == {("A", "q1"), ("A", "q2"), ("B", "q1")}
    result = suppress_table_2d(counts, 5)
    assert result.rows == frozenset()
    assert result.columns == frozenset()
    assert result.total_hidden is False


def test_2d_row_with_small_total_is_hidden_with_a_complementary_row() -> None:
    # Row A totals 3 < k: hidden entirely. The row totals are a breakdown of
    # the grand total, so the smallest other row (B, 20) is hidden too, or
    # grand - B - C would give A. Column q1 then hides 13 >= k: fine.
    counts = {
        ("A", "q1"): 3,
        ("B", "q1"): 10,
        ("B", "q2"): 10,
        ("C", "q1"): 20,
        ("C", "q2"): 20,
    }
    result = suppress_table_2d(counts, 5)
    assert result.rows == {"A", "B"}
    assert result.columns == frozenset()
    # The missing (A, q2) counts 0 and is reported hidden like any empty cell.
    assert result.cells == {("A", "q1"), ("A", "q2"), ("B", "q1"), ("B", "q2")}


def test_2d_hiding_for_a_column_can_force_more_hiding_in_a_row() -> None:
    # Given      x   y   z
    #   A        1  20   8
    #   B       30  30  30
    # (A, x) primary. Row A: hide (A, z) (8, smallest shown) -> 9 >= 5.
    # Column x: hidden 1 -> hide (B, x). Column z: hidden 8, fine.
    # Row B: hidden 30, fine.
    counts = {
        ("A", "x"): 1,
        ("A", "y"): 20,
        ("A", "z"): 8,
        ("B", "x"): 30,
        ("B", "y"): 30,
        ("B", "z"): 30,
    }
    assert hidden_cells_2d(counts, 5) == {("A", "x"), ("A", "z"), ("B", "x")}


def test_2d_chain_across_rows_and_columns() -> None:
    # Given      x   y   z
    #   A        2   9  40
    #   B        9  40   3
    #   C       40  40  40
    # Primary: (A,x)=2, (B,z)=3. Rows in repr order, then columns:
    # row A: 2 -> hide (A,y)=9; row B: 3 -> hide (B,x)=9;
    # column x: 2+9=11 ok; column y: 9 ok; column z: 3 -> hide the smaller
    # shown of (A,z)=40, (C,z)=40 by repr: (A,z). Second pass: stable.
    counts = {
        ("A", "x"): 2,
        ("A", "y"): 9,
        ("A", "z"): 40,
        ("B", "x"): 9,
        ("B", "y"): 40,
        ("B", "z"): 3,
        ("C", "x"): 40,
        ("C", "y"): 40,
        ("C", "z"): 40,
    }
    assert hidden_cells_2d(counts, 5) == {
        ("A", "x"),
        ("A", "y"),
        ("A", "z"),
        ("B", "x"),
        ("B", "z"),
    }


def test_2d_grand_total_below_k_hides_everything() -> None:
    counts = {("A", "x"): 1, ("A", "y"): 1, ("B", "x"): 2}
    result = suppress_table_2d(counts, 5)
    assert result.total_hidden is True
    assert result.rows == {"A", "B"}
    assert result.columns == {"x", "y"}
    assert result.cells == {("A", "x"), ("A", "y"), ("B", "x"), ("B", "y")}


def test_2d_safe_table_hides_nothing() -> None:
    counts = {(row, col): 5 for row in "AB" for col in (1, 2, 3)}
    assert hidden_cells_2d(counts, 5) == frozenset()
    assert hidden_cells_2d({}, 5) == frozenset()


@pytest.mark.parametrize("key", ["A", ("A",), ("A", "x", 1)])
def test_2d_keys_must_be_pairs(key: object) -> None:
    with pytest.raises(DisclosureError, match="pairs"):
        hidden_cells_2d({key: 10}, 5)  # type: ignore[dict-item]


# --- properties of one breakdown ----------------------------------------------------

# Mixed key types: callers may use None for "prefer not to say" beside text.
group_keys = st.one_of(st.integers(-5, 30), st.text(max_size=3), st.none())
# Bias towards small counts, where suppression actually happens.
cell_counts = st.one_of(st.integers(0, 8), st.integers(0, 60))
breakdowns = st.dictionaries(group_keys, cell_counts, max_size=12)
min_group_sizes = st.integers(3, 10)


@PROPERTY
@given(counts=breakdowns, k=min_group_sizes)
def test_hidden_cells_hold_zero_or_at_least_k(counts: dict[Hashable, int], k: int) -> None:
    hidden = hidden_keys(counts, k)
    total = sum(counts.values())
    if suppress_total(total, k) is HIDDEN:
        assert hidden == frozenset(counts)
    else:
        # What an attacker gets from the shown total minus the shown cells.
        recovered = total - sum(count for key, count in counts.items() if key not in hidden)
        assert hidden_sum_is_safe(recovered, k)


@PROPERTY
@given(counts=breakdowns, k=min_group_sizes)
def test_hidden_keys_hides_every_small_cell_and_no_more_than_needed(
    counts: dict[Hashable, int], k: int
) -> None:
    hidden = hidden_keys(counts, k)
    assert hidden <= frozenset(counts)
    assert all(count >= k for key, count in counts.items() if key not in hidden)
    assert {key for key, count in counts.items() if count < k} <= hidden
    if sum(counts.values()) >= k:
        # Complementary suppression takes the smallest shown cells, and one
        # cell of at least k is always enough.
        complementary = [key for key in hidden if counts[key] >= k]
        assert len(complementary) <= 1
        shown = [count for key, count in counts.items() if key not in hidden]
        assert max((counts[key] for key in hidden), default=0) <= min(shown, default=10**9)
    else:
        assert hidden == frozenset(counts)


@PROPERTY
@given(counts=breakdowns, k=min_group_sizes)
def test_safe_breakdown_is_left_alone(counts: dict[Hashable, int], k: int) -> None:
    safe = {key: max(count, k) for key, count in counts.items()}
    assert hidden_keys(safe, k) == frozenset()


@PROPERTY
@given(counts=breakdowns, k=min_group_sizes, data=st.data())
def test_shown_values_are_the_inputs_and_keys_are_the_counts_keys(
    counts: dict[Hashable, int], k: int, data: st.DataObject
) -> None:
    # Values are distinct objects, so any mix-up between cells would show.
    present = data.draw(st.sets(st.sampled_from(list(counts)))) if counts else set()
    values = {key: ("value", repr(key)) for key in counts if key in present}
    published = suppress_breakdown(values, counts, k)
    hidden = hidden_keys(counts, k)
    assert list(published) == list(counts)
    for key, value in published.items():
        if key in hidden or key not in values:
            assert value is HIDDEN
        else:
            assert value is values[key]


@PROPERTY
@given(counts=breakdowns, k=min_group_sizes, data=st.data())
def test_breakdown_is_deterministic_whatever_the_insertion_order(
    counts: dict[Hashable, int], k: int, data: st.DataObject
) -> None:
    shuffled = dict(data.draw(st.permutations(list(counts.items()))))
    assert hidden_keys(shuffled, k) == hidden_keys(counts, k)
    assert hidden_keys(counts, k) == hidden_keys(dict(counts), k)
    values = {key: repr(key) for key in counts}
    assert suppress_breakdown(values, shuffled, k) == suppress_breakdown(values, counts, k)


@PROPERTY
@given(counts=breakdowns, k=min_group_sizes)
def test_suppressing_the_shown_cells_again_hides_nothing(
    counts: dict[Hashable, int], k: int
) -> None:
    hidden = hidden_keys(counts, k)
    shown = {key: count for key, count in counts.items() if key not in hidden}
    assert hidden_keys(shown, k) == frozenset()


# --- properties of two-way tables -----------------------------------------------------


@st.composite
def tables(draw: st.DrawFn) -> dict[tuple[Hashable, Hashable], int]:
    """Draw a small two-way table, some of whose cells may be missing."""
    rows = draw(st.lists(group_keys, min_size=1, max_size=4, unique=True))
    columns = draw(st.lists(group_keys, min_size=1, max_size=4, unique=True))
    counts: dict[tuple[Hashable, Hashable], int] = {}
    for row in rows:
        for column in columns:
            count = draw(st.one_of(st.none(), cell_counts, cell_counts))
            if count is not None:
                counts[row, column] = count
    return counts


def grid_of(
    counts: Mapping[tuple[Hashable, Hashable], int],
) -> tuple[list[Hashable], list[Hashable], dict[tuple[Hashable, Hashable], int]]:
    """Return rows, columns and every cell (missing ones as 0) of a table."""
    rows = list(dict.fromkeys(row for row, _ in counts))
    columns = list(dict.fromkeys(column for _, column in counts))
    grid = {(r, c): counts.get((r, c), 0) for r in rows for c in columns}
    return rows, columns, grid


@PROPERTY
@given(counts=tables(), k=min_group_sizes)
def test_2d_shows_no_small_cell_and_rows_and_columns_hide_zero_or_at_least_k(
    counts: dict[tuple[Hashable, Hashable], int], k: int
) -> None:
    # This is also the idempotence check: one more round of complementary
    # suppression on any row or column would find nothing left to hide.
    rows, columns, grid = grid_of(counts)
    result = suppress_table_2d(counts, k)
    assert result.cells <= frozenset(grid)
    assert all(count >= k for cell, count in grid.items() if cell not in result.cells)
    assert {cell for cell, count in grid.items() if count < k} <= result.cells
    for row in rows:
        line = {c: grid[row, c] for c in columns}
        hidden_here = sum(n for c, n in line.items() if (row, c) in result.cells)
        if sum(line.values()) < k:
            assert row in result.rows
        if row in result.rows:
            assert all((row, c) in result.cells for c in columns)
        else:
            assert hidden_sum_is_safe(hidden_here, k)
    for column in columns:
        line = {r: grid[r, column] for r in rows}
        hidden_here = sum(n for r, n in line.items() if (r, column) in result.cells)
        if sum(line.values()) < k:
            assert column in result.columns
        if column in result.columns:
            assert all((r, column) in result.cells for r in rows)
        else:
            assert hidden_sum_is_safe(hidden_here, k)


@PROPERTY
@given(counts=tables(), k=min_group_sizes)
def test_2d_hidden_totals_are_protected_in_the_margins(
    counts: dict[tuple[Hashable, Hashable], int], k: int
) -> None:
    rows, columns, grid = grid_of(counts)
    result = suppress_table_2d(counts, k)
    grand = sum(grid.values())
    assert result.total_hidden is (grand < k)
    if result.total_hidden:
        assert result.cells == frozenset(grid)
        return
    row_totals = {r: sum(grid[r, c] for c in columns) for r in rows}
    column_totals = {c: sum(grid[r, c] for r in rows) for c in columns}
    assert hidden_sum_is_safe(sum(row_totals[r] for r in result.rows), k)
    assert hidden_sum_is_safe(sum(column_totals[c] for c in result.columns), k)
    assert all(total >= k for r, total in row_totals.items() if r not in result.rows)
    assert all(total >= k for c, total in column_totals.items() if c not in result.columns)


@PROPERTY
@given(counts=tables(), k=min_group_sizes, data=st.data())
def test_2d_is_deterministic_whatever_the_insertion_order(
    counts: dict[tuple[Hashable, Hashable], int], k: int, data: st.DataObject
) -> None:
    shuffled = dict(data.draw(st.permutations(list(counts.items()))))
    assert suppress_table_2d(shuffled, k) == suppress_table_2d(counts, k)


@PROPERTY
@given(counts=tables(), k=min_group_sizes)
def test_2d_safe_table_is_left_alone(counts: dict[tuple[Hashable, Hashable], int], k: int) -> None:
    _, _, grid = grid_of(counts)
    safe = {cell: max(count, k) for cell, count in grid.items()}
    result = suppress_table_2d(safe, k)
    assert result.cells == frozenset()
    assert result.rows == frozenset()
    assert result.columns == frozenset()


@PROPERTY
@given(counts=breakdowns, k=min_group_sizes)
def test_2d_with_one_column_agrees_with_one_breakdown(counts: dict[Hashable, int], k: int) -> None:
    table = {(key, "only"): count for key, count in counts.items()}
    assert hidden_cells_2d(table, k) == {(key, "only") for key in hidden_keys(counts, k)}
