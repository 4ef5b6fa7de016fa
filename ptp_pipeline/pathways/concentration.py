"""Cost concentration: the Pareto curve (share of cost carried by the top x% of persons) and Gini.

Computed in numpy from one column of person costs: vectorised, and the same on every backend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def gini(costs: np.ndarray) -> float:
    """Gini coefficient of non-negative costs: 0 everyone costs the same, →1 one person costs everything."""
    x = np.sort(np.clip(np.asarray(costs, dtype=float), 0, None))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(2 * np.sum(ranks * x) / (n * total) - (n + 1) / n)


def concentration_curve(costs: np.ndarray) -> pd.DataFrame:
    """One row per whole percentile 1..100: persons in the top p% (rounded up), their cost and share, plus Gini.

    Rounded up so "top 20%" of 7 persons is 2 persons, matching `summary.top_cost_share`.
    """
    x = np.sort(np.clip(np.asarray(costs, dtype=float), 0, None))[::-1]
    n = len(x)
    columns = ["top_percent", "persons", "cost", "cost_share", "gini"]
    if n == 0:
        return pd.DataFrame(columns=columns)
    percent = np.arange(1, 101)
    persons = np.maximum(1, np.ceil(percent * n / 100 - 1e-9).astype(np.int64))
    cumulative = np.cumsum(x)
    cost = cumulative[persons - 1]
    total = cumulative[-1]
    share = cost / total if total > 0 else np.zeros(len(percent))
    return pd.DataFrame({"top_percent": percent.astype(np.int32), "persons": persons, "cost": np.round(cost, 2),
                         "cost_share": share, "gini": gini(x)})[columns]
