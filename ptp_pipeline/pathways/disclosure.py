"""Disclosure control for every aggregate that leaves the restricted zone (report, aggregate exports).

The rule (settings in protocols/project.yaml, `suppression:`; defaults as NHS statistical outputs):
1. Primary suppression: a count from 1 to min_count-1 (1-7) is not published. 0 is published.
2. Secondary suppression: a table is published with its row, column and grand totals. Each total
   is a linear equation over its line, so a line holding exactly one suppressed entry would give
   it away by subtraction. We suppress further entries (the smallest non-zero count in the line,
   else its total) until no line holds exactly one suppressed entry, then check the whole system
   of equations: any suppressed entry still pinned down by the published numbers (a "bridge"
   between two otherwise closed suppression patterns) gets a partner suppressed too, and so on.
   Suppressed entries are all ≥ 1 (zeros are never chosen), so every suppressed entry can move
   by ±1 without breaking any published total: none can be recovered.
3. Rounding: every other count is rounded to the nearest round_to (5), halves up, and never down
   into the suppressed range (with min_count 11 and round_to 5, 11 is published as 15). Totals are
   rounded from the true totals, so published cells need not add up to published totals.
Amounts (cost) follow the suppression pattern of the counts they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ptp_pipeline.protocol.model import Suppression

TOTAL = "Total"


def round_count(value: int, rule: Suppression) -> int:
    """Round a publishable count to the nearest `round_to`, never below `min_count` unless it is 0."""
    if value <= 0:
        return 0
    step = rule.round_to
    rounded = int(np.floor(value / step + 0.5)) * step
    if rounded < rule.min_count:
        rounded = int(np.ceil(rule.min_count / step)) * step
    return rounded


def _round_array(values: np.ndarray, rule: Suppression) -> np.ndarray:
    step = rule.round_to
    rounded = np.floor(values / step + 0.5).astype(np.int64) * step
    floor_value = int(np.ceil(rule.min_count / step)) * step
    return np.where(values <= 0, 0, np.where(rounded < rule.min_count, floor_value, rounded))


def protect_counts(values: pd.Series, rule: Suppression) -> pd.Series:
    """Primary suppression and rounding for counts published without totals (nullable Int64, NA = suppressed)."""
    v = values.fillna(0).astype(np.int64).to_numpy()
    out = pd.Series(_round_array(v, rule), index=values.index, dtype="Int64")
    out[(v >= 1) & (v < rule.min_count)] = pd.NA
    return out


def _lines(shape: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each equation of the augmented table: (flat indices, coefficients); the last entry is the total."""
    rows, cols = shape
    idx = np.arange(rows * cols).reshape(shape)
    lines = []
    for i in range(rows):
        lines.append((idx[i, :], np.r_[np.ones(cols - 1), -1.0]))
    for j in range(cols):
        lines.append((idx[:, j], np.r_[np.ones(rows - 1), -1.0]))
    return lines


def _pinned(values: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """Suppressed entries whose value the published entries and the line equations determine exactly."""
    flat_sup = np.flatnonzero(suppressed.ravel())
    if len(flat_sup) == 0:
        return np.zeros(suppressed.shape, dtype=bool)
    lines = _lines(values.shape)
    position = {k: n for n, k in enumerate(flat_sup)}
    matrix = np.zeros((len(lines), len(flat_sup)))
    for r, (idx, coef) in enumerate(lines):
        for k, c in zip(idx, coef, strict=True):
            if k in position:
                matrix[r, position[k]] = c
    # A variable is determined iff it does not move in any direction of the null space.
    _, s, vt = np.linalg.svd(matrix)
    rank = int(np.sum(s > 1e-9))
    null = vt[rank:]
    moving = np.abs(null).max(axis=0) > 1e-9 if len(null) else np.zeros(len(flat_sup), dtype=bool)
    pinned = np.zeros(values.size, dtype=bool)
    pinned[flat_sup[~moving]] = True
    return pinned.reshape(values.shape)


def _add_partner(values: np.ndarray, suppressed: np.ndarray, idx: np.ndarray) -> bool:
    """Suppress one more entry in a line: a non-zero cell, else its total.

    Preferred: a cell whose other line (its column, for a row) also holds exactly one suppressed entry,
    so one extra suppression protects two lines; then the smallest count (least information lost).
    """
    flat_v, flat_s = values.ravel(), suppressed.ravel()
    cols = values.shape[1]
    cells, total = idx[:-1], idx[-1]
    row_line = len(set(k // cols for k in idx)) == 1

    def cross_has_one(k: int) -> bool:
        row, col = divmod(int(k), cols)
        cross = suppressed[:, col] if row_line else suppressed[row, :]
        return bool(cross.sum() == 1)

    candidates = [k for k in cells if not flat_s[k] and flat_v[k] > 0]
    if candidates:
        choice = min(candidates, key=lambda k: (not cross_has_one(k), flat_v[k], k))
    elif not flat_s[total]:
        choice = total
    else:
        return False
    suppressed.ravel()[choice] = True
    return True


def suppression_pattern(values: np.ndarray, rule: Suppression) -> np.ndarray:
    """Which entries of an augmented table (last row and column = totals) must not be published."""
    suppressed = (values >= 1) & (values < rule.min_count)
    lines = _lines(values.shape)
    while True:
        changed = False
        for idx, _ in lines:
            if suppressed.ravel()[idx].sum() == 1:
                changed |= _add_partner(values, suppressed, idx)
        if changed:
            continue
        pinned = _pinned(values, suppressed)
        if not pinned.any():
            return suppressed
        k = int(np.flatnonzero(pinned.ravel())[0])
        row, col = divmod(k, values.shape[1])
        if not any(_add_partner(values, suppressed, idx) for idx, _ in (lines[row], lines[values.shape[0] + col])):
            suppressed[:] = values != 0  # nothing left to pair with: withhold every non-zero entry


@dataclass(frozen=True)
class ProtectedTable:
    """A count table ready to publish: cells and totals rounded, suppressed entries NA (nullable Int64)."""

    table: pd.DataFrame  # the cells plus a "Total" row and a "Total" column
    suppressed: pd.DataFrame  # True where an entry is withheld (primary or secondary)

    @property
    def cells(self) -> pd.DataFrame:
        return self.table.iloc[:-1, :-1]


def protect_table(cells: pd.DataFrame, rule: Suppression) -> ProtectedTable:
    """Protect a table of non-negative counts that will be published with its row, column and grand totals."""
    values = cells.fillna(0).to_numpy(dtype=np.int64)
    if (values < 0).any():
        raise ValueError("counts must not be negative")
    augmented = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.int64)
    augmented[:-1, :-1] = values
    augmented[:-1, -1] = values.sum(axis=1)
    augmented[-1, :-1] = values.sum(axis=0)
    augmented[-1, -1] = values.sum()
    suppressed = suppression_pattern(augmented, rule)
    index = [*cells.index, TOTAL]
    columns = [*cells.columns, TOTAL]
    published = pd.DataFrame(_round_array(augmented, rule), index=index, columns=columns).astype("Int64")
    published = published.mask(suppressed)
    return ProtectedTable(published, pd.DataFrame(suppressed, index=index, columns=columns))


def protect_amounts(amounts: pd.DataFrame, protected: ProtectedTable, decimals: int = -3) -> pd.DataFrame:
    """Amounts (e.g. cost) for the same cells and totals, withheld wherever the counts are; rounded (£1,000s)."""
    values = amounts.fillna(0).to_numpy(dtype=float)
    augmented = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    augmented[:-1, :-1] = values
    augmented[:-1, -1] = values.sum(axis=1)
    augmented[-1, :-1] = values.sum(axis=0)
    augmented[-1, -1] = values.sum()
    frame = pd.DataFrame(np.round(augmented, decimals), index=protected.table.index,
                         columns=protected.table.columns)
    return frame.mask(protected.suppressed.to_numpy())
