"""Python API to the warehouse's tiers as pandas DataFrames, on any backend.

- `published` (default; partner analysts): aggregates that passed disclosure control, the report's tables.
- `research` (a named researcher, after declaring a purpose): record-level, pseudonymised, generalised.
- `shared` (the pipeline's own login and its tests): the exact linked tables the other two are made from.

    from ptp_pipeline.outputs import Outputs
    out = Outputs.from_url("duckdb:///.ptp/ptp.duckdb")
    out.transitions().sort_values("persons", ascending=False).head()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.pathways.derive import DERIVED_TABLES
from ptp_pipeline.pathways.published import PUBLISHED_TABLES
from ptp_pipeline.pathways.research import RESEARCH_TABLES
from ptp_pipeline.warehouse.base import Warehouse

Tier = Literal["published", "research", "shared"]

HOUSEHOLD_TABLES = ("household", "household_member", "household_pathway", "cohort_priority_families",
                    "household_cost_concentration")
COSTED_TABLES = ("unit_cost", "event_cost", "person_cost")
SHARED_TABLES = ("person", "pathway_event", *DERIVED_TABLES, *HOUSEHOLD_TABLES, *COSTED_TABLES)
TIER_TABLES: dict[str, tuple[str, ...]] = {
    "published": tuple(PUBLISHED_TABLES), "research": RESEARCH_TABLES, "shared": SHARED_TABLES}

# Stable row order for each table, so two reads of the same state give the same frame.
ORDER = {
    "person": "person_id",
    "pathway_event": "person_id, event_date, event_id",
    "event": "person_id, seq",
    "person_pathway": "person_id, seq",
    "transitions": "from_agency, to_agency",
    "cost_concentration": "top_percent",
    "cohort_priority": "cost_rank",
    "agency_overlap": "kind, known_to",
    "monthly_activity": "month, agency",
    "headline": "measure",
    "data_quality": "extract",
    "household_cost_concentration": "band",
    "families": "measure",
    "household": "household_id",
    "household_member": "household_id, person_id, from_date",
    "household_pathway": "household_id, event_date, event_id",
    "cohort_priority_families": "cost_rank",
    "unit_cost": "agency, event_type",
    "event_cost": "person_id, event_date, event_id",
    "person_cost": "person_id",
}
SHARED_ORDER = {**ORDER, "transitions": "from_agency, from_event_type, to_agency, to_event_type",
                "agency_overlap": "n_agencies, agencies", "monthly_activity": "month, agency, event_type"}


@dataclass
class Outputs:
    """Read-only access to one tier; one method per table the tiers are known by."""

    warehouse: Warehouse
    tier: Tier = "published"

    @classmethod
    def from_url(cls, url: str, tier: Tier = "published") -> Outputs:
        from ptp_pipeline.warehouse import open_warehouse

        return cls(open_warehouse(url, migrate=False, read_only=url.startswith("duckdb:")), tier)

    def close(self) -> None:
        self.warehouse.close()

    def table(self, name: str) -> pd.DataFrame:
        """Any table of this tier by name; nothing outside the tier is reachable through this API."""
        tables = TIER_TABLES[self.tier]
        if name not in tables:
            raise ConfigError(f"'{name}' is not a {self.tier} table", hint=f"Use one of: {', '.join(tables)}.")
        order = (SHARED_ORDER if self.tier == "shared" else ORDER)[name]
        return self.warehouse.query(f"SELECT * FROM {self.tier}.{name} ORDER BY {order}")

    # The published tier (partner analysts).
    def headline(self) -> pd.DataFrame:
        """Persons, persons known to 2+ agencies, the top share's cost share and Gini (NA where withheld)."""
        return self.table("headline")

    def transitions(self) -> pd.DataFrame:
        """Moves from one agency to the next: persons (protected) and median days (shared: by event type too)."""
        return self.table("transitions")

    def cost_concentration(self) -> pd.DataFrame:
        """Share of total cost carried by the top x% of persons."""
        return self.table("cost_concentration")

    def agency_overlap(self) -> pd.DataFrame:
        """Persons known to each combination of agencies."""
        return self.table("agency_overlap")

    def monthly_activity(self) -> pd.DataFrame:
        """Events per month and agency."""
        return self.table("monthly_activity")

    def data_quality(self) -> pd.DataFrame:
        """Rows accepted and held back per extract."""
        return self.table("data_quality")

    def report_html(self) -> str | None:
        """The pathways report as last published (self-contained HTML)."""
        from ptp_pipeline.pathways.published import stored_report

        return stored_report(self.warehouse)

    # The research tier (a named researcher) and the pipeline's shared tables.
    def person(self) -> pd.DataFrame:
        return self.table("person")

    def event(self) -> pd.DataFrame:
        """Research tier: each person's events in order, with period and cost band instead of date and cost."""
        return self.table("event")

    def pathway_event(self) -> pd.DataFrame:
        return self.table("pathway_event")

    def person_pathway(self) -> pd.DataFrame:
        """Each person's events in order with days since their previous event."""
        return self.table("person_pathway")

    def cohort_priority(self) -> pd.DataFrame:
        """The persons in the top share by cost (project.yaml `top_share`), with agencies and event counts."""
        return self.table("cohort_priority")

    def household(self) -> pd.DataFrame:
        """Households: size band, area, first/last seen, agencies and combined cost (no address)."""
        return self.table("household")

    def household_member(self) -> pd.DataFrame:
        """Which person belonged to which household, from when to when."""
        return self.table("household_member")

    def household_pathway(self) -> pd.DataFrame:
        """Members' events inside their membership of the household."""
        return self.table("household_pathway")

    def cohort_priority_families(self) -> pd.DataFrame:
        """The top share of households by combined cost (the priority-families cohort)."""
        return self.table("cohort_priority_families")

    def household_cost_concentration(self) -> pd.DataFrame:
        """Share of household cost by band (counts already suppressed and rounded)."""
        return self.table("household_cost_concentration")

    def unit_cost(self) -> pd.DataFrame:
        """The unit costs the last derive applied (protocols/costs/*.yaml, uprated to one price year)."""
        return self.table("unit_cost")

    def event_cost(self) -> pd.DataFrame:
        """Every event's cost: the partner's own, else the unit cost; `cost_source` says which."""
        return self.table("event_cost")

    def person_cost(self) -> pd.DataFrame:
        """Each person's costed total (partners' costs plus unit costs) and how many events were unit-costed."""
        return self.table("person_cost")
