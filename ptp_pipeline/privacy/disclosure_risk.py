"""Quasi-identifier risk of person-level tables: how many persons stand out, and the k-anonymity k.

A person is at risk when no one else shares their birth year, sex, area, agencies and first-seen month:
anyone who knows those five things about someone (a neighbour, a partner's own records) finds their
row. Measured on the exact values (`shared.person`, what analysts could read before the tiers) and on
the research tier as published (`research.person`, after generalisation and local suppression).
Counted in SQL, so it runs on any size and either backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptp_pipeline.warehouse.base import Warehouse

QUASI_IDENTIFIERS = ("birth_year", "sex", "area", "agencies", "first_seen")

# The same five columns as each tier holds them: exact (first seen as its month) and as published.
TIERS = {
    "exact": ("shared.person", "birth_year, sex, area, agencies, CAST(date_trunc('month', first_seen) AS DATE)"),
    "research": ("research.person", ", ".join(QUASI_IDENTIFIERS)),
}


@dataclass(frozen=True)
class Risk:
    tier: str
    persons: int
    unique_persons: int  # persons alone in their group
    k: int  # the smallest group: the table is k-anonymous on the quasi-identifiers (0 when empty)

    @property
    def share_unique(self) -> float:
        return self.unique_persons / self.persons if self.persons else 0.0


def measure(wh: Warehouse, tier: str) -> Risk:
    """The risk of one tier ("exact" or "research"); groups treat a withheld (NULL) value as one value."""
    table, columns = TIERS[tier]
    row = wh.query(
        f"SELECT coalesce(sum(n), 0) AS persons, count(*) FILTER (WHERE n = 1) AS unique_persons, "
        f"coalesce(min(n), 0) AS k FROM (SELECT count(*) AS n FROM {table} GROUP BY {columns}) g"
    ).iloc[0]
    return Risk(tier, int(row.persons), int(row.unique_persons), int(row.k))
