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
Amounts (cost) follow the suppression pattern of the counts they belong to, plus a dominance rule:
4. Dominance: a cost figure is withheld when its `dominance_top` largest contributors (persons, or
   households) carry more than `dominance_share` of it (defaults 1 and 0.5: no one person may carry more
   than half of a published £ figure, which would let that person's own cost be estimated). Withheld
   amounts get secondary suppression against their published totals as counts do, and published
   amounts are rounded to 3 significant figures (`round_amount`).
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


Line = np.ndarray  # flat indices of one additive line; the last index is the line's total


def table_lines(shape: tuple[int, int]) -> list[Line]:
    """The lines of an augmented table (last row and column hold the totals): every row and column."""
    rows, cols = shape
    idx = np.arange(rows * cols).reshape(shape)
    return [idx[i, :] for i in range(rows)] + [idx[:, j] for j in range(cols)]


def _pinned(values: np.ndarray, suppressed: np.ndarray, lines: list[Line]) -> np.ndarray:
    """Suppressed entries whose value the published entries and the line equations determine exactly."""
    flat_sup = np.flatnonzero(suppressed)
    if len(flat_sup) == 0:
        return np.zeros(len(values), dtype=bool)
    position = {int(k): n for n, k in enumerate(flat_sup)}
    matrix = np.zeros((len(lines), len(flat_sup)))
    for r, line in enumerate(lines):
        for k in line[:-1]:
            if int(k) in position:
                matrix[r, position[int(k)]] += 1.0
        if int(line[-1]) in position:
            matrix[r, position[int(line[-1])]] -= 1.0
    # An entry is determined iff it does not move along any direction of the null space.
    _, s, vt = np.linalg.svd(matrix)
    rank = int(np.sum(s > 1e-9))
    null = vt[rank:]
    moving = np.abs(null).max(axis=0) > 1e-9 if len(null) else np.zeros(len(flat_sup), dtype=bool)
    pinned = np.zeros(len(values), dtype=bool)
    pinned[flat_sup[~moving]] = True
    return pinned


def _add_partner(values: np.ndarray, suppressed: np.ndarray, line: Line, lines_of: list[list[Line]]) -> bool:
    """Suppress one more entry in a line: a non-zero cell, else the line's total.

    Preferred: a cell with another line that also holds exactly one suppressed entry (one extra
    suppression then protects two lines); then the smallest count (least information lost).
    """
    cells, total = line[:-1], int(line[-1])

    def fixes_another(k: int) -> bool:
        return any(suppressed[other].sum() == 1 for other in lines_of[k] if other is not line)

    candidates = [int(k) for k in cells if not suppressed[k] and values[k] > 0]
    if candidates:
        choice = min(candidates, key=lambda k: (not fixes_another(k), values[k], k))
    elif not suppressed[total]:
        choice = total
    else:
        return False
    suppressed[choice] = True
    return True


def suppression_pattern(values: np.ndarray, lines: list[Line], rule: Suppression,
                        primary: np.ndarray | None = None) -> np.ndarray:
    """Which entries of a flat array of counts (or whole-pound amounts), tied by additive `lines`, must not be
    published. `primary` overrides the small-count rule (amounts: withheld counts and dominated cells)."""
    values = np.asarray(values, dtype=np.int64)
    suppressed = ((values >= 1) & (values < rule.min_count)) if primary is None else np.array(primary, dtype=bool)
    lines_of: list[list[Line]] = [[] for _ in range(len(values))]
    for line in lines:
        for k in line:
            lines_of[int(k)].append(line)
    while True:
        changed = False
        for line in lines:
            if suppressed[line].sum() == 1:
                changed |= _add_partner(values, suppressed, line, lines_of)
        if changed:
            continue
        pinned = _pinned(values, suppressed, lines)
        if not pinned.any():
            return suppressed
        k = int(np.flatnonzero(pinned)[0])
        if not any(_add_partner(values, suppressed, line, lines_of) for line in lines_of[k]):
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
    suppressed = suppression_pattern(augmented.ravel(), table_lines(augmented.shape), rule).reshape(augmented.shape)
    index = [*cells.index, TOTAL]
    columns = [*cells.columns, TOTAL]
    published = pd.DataFrame(_round_array(augmented, rule), index=index, columns=columns).astype("Int64")
    published = published.mask(suppressed)
    return ProtectedTable(published, pd.DataFrame(suppressed, index=index, columns=columns))


def protect_grouped(counts: pd.Series, groups: pd.Series, rule: Suppression) -> pd.DataFrame:
    """Protect counts published with a subtotal per group and a grand total (e.g. combinations of
    agencies, subtotalled by how many agencies). Returns one row per entry: label, kind
    ('cell', 'subtotal', 'total'), group, count (rounded; NA when suppressed) and suppressed.
    """
    values = counts.fillna(0).astype(np.int64).to_numpy()
    if (values < 0).any():
        raise ValueError("counts must not be negative")
    flat, lines, keys = _grouped(values, groups)
    suppressed = suppression_pattern(flat, lines, rule)
    published = pd.Series(_round_array(flat, rule), dtype="Int64").mask(suppressed)
    return _grouped_frame(counts.index, groups, keys, "count", published.array, suppressed)


def _grouped(values: np.ndarray, groups: pd.Series) -> tuple[np.ndarray, list[Line], list[object]]:
    """Cells, then a subtotal per group (in order of first appearance), then the total; and their lines."""
    keys = list(dict.fromkeys(groups.tolist()))
    group_arr = groups.to_numpy()
    n, g = len(values), len(keys)
    subtotals = np.array([values[group_arr == key].sum() for key in keys], dtype=np.int64)
    flat = np.r_[values, subtotals, values.sum()].astype(np.int64)
    lines = [np.r_[np.flatnonzero(group_arr == key), n + j] for j, key in enumerate(keys)]
    lines.append(np.r_[np.arange(n, n + g), n + g])
    return flat, lines, keys


def _grouped_frame(labels: pd.Index, groups: pd.Series, keys: list[object], column: str, published: object,
                   suppressed: np.ndarray) -> pd.DataFrame:
    n, g = len(labels), len(keys)
    return pd.DataFrame({
        "label": [*map(str, labels), *(str(k) for k in keys), TOTAL],
        "kind": ["cell"] * n + ["subtotal"] * g + ["total"],
        "group": pd.Series([*groups.tolist(), *keys, None], dtype=object),
        column: published,
        "suppressed": suppressed,
    })


def round_amount(value: float) -> float:
    """A published £ figure: 3 significant figures (never finer than £10, and a cost never reads £0), so no
    exact sum is given away."""
    if value <= 0:
        return 0.0
    step = max(10.0, 10 ** (np.floor(np.log10(value)) - 2))
    return float(max(step, np.floor(value / step + 0.5) * step))


def dominated(contributions: pd.DataFrame, keys: list[str], value: str, rule: Suppression) -> pd.Series:
    """The dominance rule per cell: True where the `dominance_top` largest contributions (one row per
    contributor, e.g. per person) carry more than `dominance_share` of the cell's total. Indexed by `keys`."""
    if contributions.empty:
        return pd.Series(dtype=bool)
    frame = contributions[[*keys, value]].copy()
    frame[value] = frame[value].astype(float).clip(lower=0)
    frame = frame.sort_values([*keys, value], ascending=[True] * len(keys) + [False], kind="stable")
    top = frame.groupby(keys, sort=False)[value].apply(lambda v: v.iloc[:rule.dominance_top].sum())
    total = frame.groupby(keys, sort=False)[value].sum()
    return (top > rule.dominance_share * total) & (total > 0)


def protect_amounts_grouped(amounts: pd.Series, groups: pd.Series, primary: np.ndarray, rule: Suppression
                            ) -> pd.DataFrame:
    """£ figures published with a subtotal per group and a grand total (as `protect_grouped` for counts).

    `primary` marks the entries (cells, then subtotals in order of first appearance, then the total) that
    must be withheld before any arithmetic: those whose count is withheld and those the dominance rule
    catches. Secondary suppression then makes sure none can be recovered from the published totals.
    Returns label, kind, group, amount (rounded; NaN when withheld) and suppressed.
    """
    values = np.round(amounts.fillna(0).astype(float).to_numpy()).astype(np.int64)
    flat, lines, keys = _grouped(values, groups)
    suppressed = suppression_pattern(flat, lines, rule, primary=np.asarray(primary, dtype=bool) & (flat != 0))
    published = pd.Series([round_amount(float(v)) for v in flat], dtype=float).mask(suppressed)
    return _grouped_frame(amounts.index, groups, keys, "amount", published.to_numpy(), suppressed)
