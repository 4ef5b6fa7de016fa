"""Headline figures of the shared tables: the Total Place questions in three numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ptp_pipeline.warehouse.base import Warehouse


@dataclass(frozen=True)
class Headline:
    persons: int
    persons_multi_agency: int
    events: int
    total_cost: float
    top_share: float  # the share of persons considered "top" (e.g. 0.2)
    top_cost_share: float  # share of total cost carried by them


def top_cost_share(costs: np.ndarray, top: float) -> float:
    """Share of the total carried by the top `top` fraction of persons (rounded up to whole persons)."""
    if len(costs) == 0 or costs.sum() <= 0:
        return 0.0
    ordered = np.sort(costs)[::-1]
    n_top = max(1, math.ceil(top * len(ordered) - 1e-9))
    return float(ordered[:n_top].sum() / ordered.sum())


def headline(wh: Warehouse, top: float = 0.2) -> Headline:
    persons = wh.query("SELECT p.n_agencies, coalesce(c.total_cost, 0) AS cost FROM shared.person p "
                       "LEFT JOIN shared.person_cost c ON c.person_id = p.person_id")
    events = int(wh.scalar("SELECT count(*) FROM shared.pathway_event") or 0)
    costs = persons["cost"].astype(float).to_numpy()
    return Headline(
        persons=len(persons),
        persons_multi_agency=int((persons["n_agencies"] >= 2).sum()),
        events=events,
        total_cost=float(costs.sum()),
        top_share=top,
        top_cost_share=top_cost_share(costs, top),
    )
