"""Disclosure control: no small number is published, and no withheld count can be worked out from totals.

The recovery check is an attacker's linear programme: knowing every published entry *exactly*
(before rounding, the worst case) and every additive line, how far can each withheld entry move?
If its minimum equals its maximum, it is recovered; the property is that this never happens.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from ptp_pipeline.pathways.disclosure import (
    protect_counts,
    protect_grouped,
    protect_table,
    round_count,
    table_lines,
)
from ptp_pipeline.protocol.model import Suppression

RULE = Suppression(min_count=8, round_to=5)
count = st.one_of(st.just(0), st.integers(1, 7), st.integers(8, 60), st.integers(61, 5000))
# Small and derandomised in CI; HYPOTHESIS_EXAMPLES=5000 for a long run on demand.
PROPERTY = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "100")), derandomize=True, deadline=None)


def feasible_range(values: np.ndarray, suppressed: np.ndarray, lines: list[np.ndarray], k: int) -> tuple[float, float]:
    """Min and max of withheld entry k over non-negative values consistent with every published entry and line."""
    unknown = np.flatnonzero(suppressed)
    col = {int(u): i for i, u in enumerate(unknown)}
    a_eq, b_eq = [], []
    for line in lines:
        coef = np.r_[np.ones(len(line) - 1), -1.0]
        row = np.zeros(len(unknown))
        rhs = 0.0
        for idx, c in zip(line, coef, strict=True):
            if suppressed[idx]:
                row[col[int(idx)]] += c
            else:
                rhs -= c * values[idx]
        a_eq.append(row)
        b_eq.append(rhs)
    target = np.zeros(len(unknown))
    target[col[k]] = 1.0
    lo = linprog(target, A_eq=np.array(a_eq), b_eq=np.array(b_eq), bounds=(0, None), method="highs")
    hi = linprog(-target, A_eq=np.array(a_eq), b_eq=np.array(b_eq), bounds=(0, None), method="highs")
    assert lo.status == 0 and hi.status in (0, 3)  # 3: unbounded, i.e. the entry can be anything
    return float(lo.fun), (float("inf") if hi.status == 3 else float(-hi.fun))


def assert_protected(values: np.ndarray, suppressed: np.ndarray, published: np.ndarray, lines: list[np.ndarray],
                     rule: Suppression) -> None:
    small = (values >= 1) & (values < rule.min_count)
    assert suppressed[small].all(), "every count from 1 to min_count-1 is withheld"
    assert (values[suppressed] >= 1).all(), "zeros are never withheld (they would protect nothing)"
    shown = published[~suppressed].astype(int)
    assert not ((shown >= 1) & (shown < rule.min_count)).any(), "no published count in 1..min_count-1"
    assert (shown % rule.round_to == 0).all()
    assert (np.abs(shown - values[~suppressed]) <= max(rule.round_to / 2, rule.min_count)).all()
    for k in np.flatnonzero(suppressed):
        lo, hi = feasible_range(values, suppressed, lines, int(k))
        assert hi - lo >= 1 - 1e-6, f"withheld entry {k} (true {values[k]}) is recoverable: [{lo}, {hi}]"


@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    cells = draw(st.lists(count, min_size=rows * cols, max_size=rows * cols))
    return pd.DataFrame(np.array(cells, dtype=np.int64).reshape(rows, cols))


def check_table(cells: pd.DataFrame, rule: Suppression = RULE) -> np.ndarray:
    """Protect `cells` and audit the result; returns the suppression pattern of the augmented table."""
    protected = protect_table(cells, rule)
    values = np.zeros((cells.shape[0] + 1, cells.shape[1] + 1), dtype=np.int64)
    values[:-1, :-1] = cells.to_numpy()
    values[:-1, -1], values[-1, :-1], values[-1, -1] = cells.sum(axis=1), cells.sum(axis=0), cells.to_numpy().sum()
    suppressed = protected.suppressed.to_numpy().ravel()
    published = protected.table.to_numpy(dtype=float, na_value=np.nan).ravel()
    assert np.isnan(published[suppressed]).all() and not np.isnan(published[~suppressed]).any()
    assert_protected(values.ravel(), suppressed, published, table_lines(values.shape), rule)
    return suppressed.reshape(values.shape)


@PROPERTY
@given(tables())
def test_tables_with_totals_publish_no_small_number_and_no_recoverable_cell(cells: pd.DataFrame) -> None:
    check_table(cells)


@PROPERTY
@given(st.lists(st.tuples(count, st.integers(1, 3)), min_size=1, max_size=9))
def test_grouped_counts_with_subtotals_are_protected(entries: list[tuple[int, int]]) -> None:
    counts = pd.Series([c for c, _ in entries], index=[f"c{i}" for i in range(len(entries))])
    groups = pd.Series([g for _, g in entries])
    frame = protect_grouped(counts, groups, RULE)
    keys = list(dict.fromkeys(groups.tolist()))
    values = np.r_[counts.to_numpy(), [counts[(groups == k).to_numpy()].sum() for k in keys], counts.sum()]
    n, g = len(counts), len(keys)
    lines = [np.r_[np.flatnonzero((groups == k).to_numpy()), n + j] for j, k in enumerate(keys)]
    lines.append(np.r_[np.arange(n, n + g), n + g])
    published = frame["count"].to_numpy(dtype=float, na_value=np.nan)
    assert_protected(values, frame["suppressed"].to_numpy(), published, lines, RULE)


@PROPERTY
@given(tables(), st.integers(1, 15), st.integers(1, 10))
def test_any_configured_rule_holds(cells: pd.DataFrame, min_count: int, round_to: int) -> None:
    rule = Suppression(min_count=min_count, round_to=round_to)
    protected = protect_table(cells, rule)
    published = protected.table.to_numpy(dtype=float, na_value=np.nan)
    shown = published[~np.isnan(published)]
    assert not ((shown >= 1) & (shown < min_count)).any()
    assert (shown % round_to == 0).all()


def test_one_small_cell_takes_three_partners_in_a_rectangle() -> None:
    cells = pd.DataFrame({"council": [3, 50, 30], "health": [20, 60, 40], "police": [40, 2, 50]},
                         index=["a", "b", "c"])
    protected = protect_table(cells, RULE)
    withheld = {(r, c) for r in cells.index for c in cells.columns if protected.suppressed.loc[r, c]}
    assert withheld == {("a", "council"), ("a", "police"), ("b", "council"), ("b", "police")}
    assert protected.table.loc["Total", "Total"] == 295  # 3+20+40+50+60+2+30+40+50 = 295
    assert protected.table.loc["c", "health"] == 40 and protected.table.loc["b", "health"] == 60


def test_a_bridge_between_two_closed_patterns_is_not_left_recoverable() -> None:
    # Two 2x2 blocks of small counts plus one small cell joining them (row 0, column 2): every line
    # holds two or more withheld cells, yet the joining cell equals (row 0 + row 1 totals) minus
    # (column 0 + column 1 totals) over the withheld cells. The line rule alone would publish that.
    cells = np.full((4, 4), 100)
    for r, c in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (0, 2)]:
        cells[r, c] = 3
    values = np.zeros((5, 5), dtype=np.int64)
    values[:-1, :-1] = cells
    values[:-1, -1], values[-1, :-1], values[-1, -1] = cells.sum(axis=1), cells.sum(axis=0), cells.sum()
    primary = (values >= 1) & (values < RULE.min_count)
    assert all(primary[i, :].sum() != 1 and primary[:, i].sum() != 1 for i in range(5))
    suppressed = check_table(pd.DataFrame(cells))
    assert suppressed.sum() > primary.sum(), "the joining cell needed a partner"


def test_counts_without_totals_are_suppressed_and_rounded() -> None:
    got = protect_counts(pd.Series([0, 1, 7, 8, 12, 13, 1234]), RULE)
    assert got.tolist() == [0, pd.NA, pd.NA, 10, 10, 15, 1235]


@pytest.mark.parametrize(("value", "min_count", "round_to", "expected"),
                         [(8, 8, 5, 10), (12, 8, 5, 10), (13, 8, 5, 15), (11, 11, 5, 15), (0, 8, 5, 0),
                          (3, 3, 10, 10), (27, 8, 10, 30)])
def test_rounding_never_lands_in_the_suppressed_range(value: int, min_count: int, round_to: int,
                                                      expected: int) -> None:
    assert round_count(value, Suppression(min_count=min_count, round_to=round_to)) == expected
