"""The priority-families panel's working list: the cohort with pseudonymous household ids, no identifiers.

A panel works through the cohort household by household; this list is what it sees before anyone is
re-identified: household id (an internal number, renumbered at each derive, so a list belongs to one
derive), size band, area, agencies and a £ band (never the exact cost).
"""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.warehouse.base import Warehouse

#: Upper bounds (£) of the cost bands shown to the panel; the last band is open.
COST_BANDS = (5_000, 10_000, 25_000, 50_000, 100_000)

COHORT_SQL = """
SELECT c.household_id, c.cost_rank, h.size_band, h.area, h.agencies, h.n_agencies, c.total_cost
FROM shared.cohort_priority_families c JOIN shared.household h ON h.household_id = c.household_id
ORDER BY c.cost_rank
"""


def _k(pounds: int) -> str:
    return f"£{pounds // 1000}k"


def cost_band(cost: float) -> str:
    """A £ band such as "£10k-£25k": enough to order a panel's work, too coarse to identify a family."""
    lower = 0
    for upper in COST_BANDS:
        if cost < upper:
            return f"under {_k(upper)}" if lower == 0 else f"{_k(lower)}-{_k(upper)}"
        lower = upper
    return f"{_k(lower)} and over"


def priority_families(wh: Warehouse) -> pd.DataFrame:
    """The cohort: household_id, cost_rank, size_band, area, agencies, n_agencies, cost_band."""
    frame = wh.query(COHORT_SQL)
    frame["cost_band"] = [cost_band(float(c or 0)) for c in frame["total_cost"]]
    frame["agencies"] = frame["agencies"].fillna("").str.replace(",", " + ", regex=False)
    return frame.drop(columns=["total_cost"]).astype({"household_id": "int64", "cost_rank": "int64"})
