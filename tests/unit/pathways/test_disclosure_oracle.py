"""Disclosure control against oracles that share no code with `pathways/disclosure.py`.

Rounding: hand-worked tables for round_to 5, 10, 3 and 2, with exact halves (25 with round_to 10
is 2.5 tens: halves go up, to 30; rounding half to even would publish 20). Each value goes through
every public entry point that rounds: `round_count`, `protect_counts` and `protect_table`.

Suppression: on small tables an attacker who knows every published entry exactly (before rounding,
the worst case) tries every assignment of the withheld cells and keeps those that agree with the
published numbers; every withheld entry must be able to take two or more values. Brute force, no
linear algebra (tests/property/test_disclosure.py checks the same with a linear programme).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.pathways.disclosure import protect_counts, protect_grouped, protect_table, round_count
from ptp_pipeline.protocol.model import Suppression

# (min_count, round_to): [(true count, published count), ...], worked by hand
ROUNDING = {
    (8, 5): [(0, 0), (8, 10), (9, 10), (12, 10), (13, 15), (17, 15), (18, 20), (22, 20), (23, 25),
             (1234, 1235), (1232, 1230)],
    (8, 10): [(0, 0), (8, 10), (14, 10), (15, 20), (24, 20), (25, 30), (35, 40), (45, 50), (55, 60),
              (65, 70), (104, 100), (105, 110), (995, 1000)],
    (8, 3): [(0, 0), (8, 9), (9, 9), (10, 9), (11, 12), (13, 12), (14, 15), (16, 15), (17, 18), (100, 99),
             (101, 102)],
    (1, 2): [(0, 0), (1, 2), (2, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (4, 4)],
    (11, 5): [(11, 15), (12, 15), (13, 15), (14, 15), (15, 15), (17, 15), (18, 20)],  # never down below 11
    (3, 10): [(3, 10), (4, 10), (14, 10), (15, 20)],
}
CASES = [(mc, rt, value, published) for (mc, rt), pairs in ROUNDING.items() for value, published in pairs]


@pytest.mark.parametrize(("min_count", "round_to", "value", "published"), CASES)
def test_round_count_matches_the_hand_worked_table(min_count: int, round_to: int, value: int,
                                                   published: int) -> None:
    assert round_count(value, Suppression(min_count=min_count, round_to=round_to)) == published


@pytest.mark.parametrize(("min_count", "round_to"), list(ROUNDING))
def test_counts_and_tables_round_the_same_way(min_count: int, round_to: int) -> None:
    rule = Suppression(min_count=min_count, round_to=round_to)
    values = [v for v, _ in ROUNDING[(min_count, round_to)]]
    expected = [p for _, p in ROUNDING[(min_count, round_to)]]
    assert protect_counts(pd.Series(values), rule).tolist() == expected
    # one column of a table: its cells never need secondary suppression when all are publishable
    table = protect_table(pd.DataFrame({"n": values}), rule)
    assert table.cells["n"].tolist() == expected
    assert table.table.loc["Total", "n"] == round_count(sum(values), rule)
    grouped = protect_grouped(pd.Series(values), pd.Series(["g"] * len(values)), rule)
    assert grouped["count"].tolist()[: len(values)] == expected


def test_primary_suppression_hand_worked() -> None:
    rule = Suppression(min_count=8, round_to=5)
    assert protect_counts(pd.Series([0, 1, 4, 7, 8]), rule).tolist() == [0, pd.NA, pd.NA, pd.NA, 10]
    rule = Suppression(min_count=1, round_to=1)
    assert protect_counts(pd.Series([0, 1, 2, 3]), rule).tolist() == [0, 1, 2, 3], "min_count 1 withholds nothing"


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^counts must not be negative$"):
        protect_table(pd.DataFrame({"n": [1, -1]}), Suppression())
    with pytest.raises(ValueError, match=r"^counts must not be negative$"):
        protect_grouped(pd.Series([1, -1]), pd.Series(["a", "a"]), Suppression())


def test_missing_counts_are_zero_and_labels_stay() -> None:
    rule = Suppression(min_count=8, round_to=5)
    got = protect_counts(pd.Series([pd.NA, 12, 3], index=["x", "y", "z"], dtype="Int64"), rule)
    pd.testing.assert_series_equal(got, pd.Series([0, 10, pd.NA], index=["x", "y", "z"], dtype="Int64"))
    table = protect_table(pd.DataFrame({"a": [pd.NA, 20], "b": [30, 40]}, index=["r1", "r2"], dtype="Int64"), rule)
    expected = pd.DataFrame({"a": [0, 20, 20], "b": [30, 40, 70], "Total": [30, 60, 90]},
                            index=["r1", "r2", "Total"], dtype="Int64")
    pd.testing.assert_frame_equal(table.table, expected)
    assert not table.suppressed.to_numpy().any()
    grouped = protect_grouped(pd.Series([pd.NA, 12], dtype="Int64"), pd.Series([1, 1]), rule)
    assert grouped["count"].tolist() == [0, 10, 10, 10] and not grouped["suppressed"].any()


def test_grouped_counts_hand_worked() -> None:
    """a=9, b=20 in group 1; c=3 alone in group 2 (min_count 8). c and its subtotal are small; the grand
    total line then holds one withheld entry (subtotal 2), so subtotal 1 goes too; group 1's line then
    holds one, so its smallest cell (a) goes. Published: b (20) and the total (32, rounded to 30)."""
    frame = protect_grouped(pd.Series([9, 20, 3], index=["a", "b", "c"]), pd.Series([1, 1, 2]),
                            Suppression(min_count=8, round_to=5))
    expected = pd.DataFrame({
        "label": ["a", "b", "c", "1", "2", "Total"],
        "kind": ["cell", "cell", "cell", "subtotal", "subtotal", "total"],
        "group": pd.Series([1, 1, 2, 1, 2, None], dtype=object),
        "count": pd.array([pd.NA, 20, pd.NA, pd.NA, pd.NA, 30], dtype="Int64"),
        "suppressed": [True, False, True, True, True, False],
    })
    pd.testing.assert_frame_equal(frame, expected)


def attackers_candidates(values: np.ndarray, suppressed: np.ndarray, bound: int) -> np.ndarray:
    """Every table (cells and totals) whose cells lie in 0..bound and whose entries agree with each
    published entry exactly. Shrinking the attacker's search space only helps them recover less, so
    two candidate values here mean at least two in truth."""
    hidden = np.argwhere(suppressed[:-1, :-1])
    guesses = np.stack(np.meshgrid(*[np.arange(bound + 1)] * len(hidden), indexing="ij"), -1).reshape(-1, len(hidden))
    cells = np.repeat(values[None, :-1, :-1], len(guesses), axis=0)
    cells[:, hidden[:, 0], hidden[:, 1]] = guesses
    full = np.zeros((len(guesses), *values.shape), dtype=np.int64)
    full[:, :-1, :-1] = cells
    full[:, :-1, -1], full[:, -1, :-1], full[:, -1, -1] = cells.sum(axis=2), cells.sum(axis=1), cells.sum(axis=(1, 2))
    agree = (full[:, ~suppressed] == values[~suppressed]).all(axis=1)
    return full[agree]


def augmented(cells: np.ndarray) -> np.ndarray:
    out = np.zeros((cells.shape[0] + 1, cells.shape[1] + 1), dtype=np.int64)
    out[:-1, :-1] = cells
    out[:-1, -1], out[-1, :-1], out[-1, -1] = cells.sum(axis=1), cells.sum(axis=0), cells.sum()
    return out


def assert_nothing_recoverable(cells: np.ndarray, rule: Suppression) -> None:
    values = augmented(cells)
    suppressed = protect_table(pd.DataFrame(cells), rule).suppressed.to_numpy()
    small = (values >= 1) & (values < rule.min_count)
    assert suppressed[small].all(), "every count from 1 to min_count-1 is withheld"
    if not suppressed.any():
        return
    candidates = attackers_candidates(values, suppressed, bound=int(values[:-1, :-1].max()) + 1)
    assert any((c == values).all() for c in candidates), "the truth is among the attacker's candidates"
    for r, c in zip(*np.nonzero(suppressed), strict=True):
        seen = set(candidates[:, r, c].tolist())
        assert len(seen) >= 2, f"withheld entry ({r}, {c}) = {values[r, c]} is recoverable from the totals"


HAND_TABLES = [
    np.array([[3, 9], [10, 12]]),  # one small cell: its whole rectangle must go
    np.array([[3, 4], [10, 12]]),  # two small cells in a row, whose total is small too
    np.array([[3, 0], [0, 12]]),  # zeros cannot be partners: totals go instead
    np.array([[2, 9, 10], [9, 1, 10]]),
    np.array([[0, 0], [0, 5]]),  # one small cell alone: the grand total would give it away
    np.array([[9, 9, 9], [9, 9, 9]]),  # nothing small: nothing withheld
]


@pytest.mark.parametrize("cells", HAND_TABLES, ids=lambda c: "x".join(map(str, c.ravel())))
def test_hand_picked_tables_leave_nothing_recoverable(cells: np.ndarray) -> None:
    assert_nothing_recoverable(cells, Suppression(min_count=8, round_to=5))


def test_a_lone_small_cell_with_zeros_withholds_every_total_that_holds_it() -> None:
    protected = protect_table(pd.DataFrame([[0, 0], [0, 5]]), Suppression(min_count=8, round_to=5))
    assert protected.table.isna().to_numpy().tolist() == [[False, False, False], [False, True, True],
                                                          [False, True, True]]


small_tables = st.tuples(st.integers(1, 2), st.integers(2, 3)).flatmap(
    lambda shape: st.lists(st.sampled_from([0, 0, 1, 2, 3, 4, 6, 9]), min_size=shape[0] * shape[1],
                           max_size=shape[0] * shape[1]).map(lambda v: np.array(v).reshape(shape)))


@settings(max_examples=40, derandomize=True, deadline=None)
@given(small_tables)
def test_brute_force_attacker_recovers_no_withheld_entry(cells: np.ndarray) -> None:
    assert_nothing_recoverable(cells, Suppression(min_count=4, round_to=1))


@pytest.mark.parametrize(("cells", "min_count"), [
    ([[0, 0, 3], [9, 5, 9], [1, 0, 2]], 8),  # a line whose every non-zero entry is already withheld
    ([[2, 0, 0], [2, 1, 0], [20, 2, 1], [0, 3, 20]], 4),  # a pinned entry with no partner left anywhere
])
def test_when_no_partner_is_left_every_non_zero_entry_is_withheld(cells: list[list[int]], min_count: int) -> None:
    values = augmented(np.array(cells))
    protected = protect_table(pd.DataFrame(cells), Suppression(min_count=min_count, round_to=5))
    assert (protected.suppressed.to_numpy() == (values != 0)).all()
    assert (protected.table.fillna(0).to_numpy() == 0).all(), "only zeros are published"


def test_a_withheld_cell_among_zeros_takes_its_line_total_as_partner() -> None:
    """[[0, 5], [0, 30]], min_count 8: 5 and its row total (5) are small. Column 1 then holds one withheld
    entry, so 30 goes; row 1 is then [0, 30 | 30] with nothing else non-zero, so its total goes. Four
    unknowns, four equations of rank 3: every one can move. Published: the zeros, 35 and 35."""
    protected = protect_table(pd.DataFrame([[0, 5], [0, 30]]), Suppression(min_count=8, round_to=5))
    assert protected.suppressed.to_numpy().astype(int).tolist() == [[0, 1, 1], [0, 1, 1], [0, 0, 0]]
    assert protected.table.loc["Total"].tolist() == [0, 35, 35]


def test_partners_that_protect_two_lines_are_preferred() -> None:
    """[[40, 1, 2, 1], [0, 20, 12, 0]], min_count 4. Withheld first: 1, 2, 1 in row 0 and column 3's total
    (1). The totals row then holds one withheld entry; of its cells 21 and 14 also fix a column holding one
    (columns 1 and 2), and 14 is smaller: it goes. Column 1 (1 withheld) takes 20; row 1 then takes 12.
    No entry is pinned: the unknowns keep two free parameters (cells (0,1) and (0,3))."""
    protected = protect_table(pd.DataFrame([[40, 1, 2, 1], [0, 20, 12, 0]]), Suppression(min_count=4, round_to=5))
    assert protected.suppressed.to_numpy().astype(int).tolist() == [[0, 1, 1, 1, 0], [0, 1, 1, 0, 0],
                                                                    [0, 0, 1, 1, 0]]
