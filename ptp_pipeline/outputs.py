"""Analysts' Python API: the `shared` tables as pandas DataFrames, on any warehouse backend.

These are person-level, pseudonymised tables for use inside the partnership's secure environment.
Anything taken out of it as an aggregate goes through `ptp_pipeline.pathways.disclosure` first
(`published_aggregates` below does that for the tables the report shows).

    from ptp_pipeline.outputs import Outputs
    out = Outputs.from_url("duckdb:///.ptp/ptp.duckdb")
    out.transitions().sort_values("persons", ascending=False).head()
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.pathways.derive import DERIVED_TABLES
from ptp_pipeline.warehouse.base import Warehouse

HOUSEHOLD_TABLES = ("household", "household_member", "household_pathway", "cohort_priority_families",
                    "household_cost_concentration")
COSTED_TABLES = ("unit_cost", "event_cost", "person_cost")
SHARED_TABLES = ("person", "pathway_event", *DERIVED_TABLES, *HOUSEHOLD_TABLES, *COSTED_TABLES)

# Stable row order for each table, so two reads of the same state give the same frame.
ORDER = {
    "person": "person_id",
    "pathway_event": "person_id, event_date, event_id",
    "person_pathway": "person_id, seq",
    "transitions": "from_agency, from_event_type, to_agency, to_event_type",
    "cost_concentration": "top_percent",
    "cohort_priority": "cost_rank",
    "agency_overlap": "n_agencies, agencies",
    "monthly_activity": "month, agency, event_type",
    "household": "household_id",
    "household_member": "household_id, person_id, from_date",
    "household_pathway": "household_id, event_date, event_id",
    "cohort_priority_families": "cost_rank",
    "household_cost_concentration": "band",
    "unit_cost": "agency, event_type",
    "event_cost": "person_id, event_date, event_id",
    "person_cost": "person_id",
}


@dataclass
class Outputs:
    """Read-only access to `shared`; one method per table."""

    warehouse: Warehouse

    @classmethod
    def from_url(cls, url: str) -> Outputs:
        from ptp_pipeline.warehouse import open_warehouse

        return cls(open_warehouse(url, migrate=False, read_only=url.startswith("duckdb:")))

    def close(self) -> None:
        self.warehouse.close()

    def table(self, name: str) -> pd.DataFrame:
        """Any shared table by name; only `shared` tables are reachable through this API."""
        if name not in SHARED_TABLES:
            raise ConfigError(f"'{name}' is not a shared table",
                              hint=f"Use one of: {', '.join(SHARED_TABLES)}.")
        return self.warehouse.query(f"SELECT * FROM shared.{name} ORDER BY {ORDER[name]}")

    def person(self) -> pd.DataFrame:
        return self.table("person")

    def pathway_event(self) -> pd.DataFrame:
        return self.table("pathway_event")

    def person_pathway(self) -> pd.DataFrame:
        """Each person's events in order with days since their previous event."""
        return self.table("person_pathway")

    def transitions(self) -> pd.DataFrame:
        """From one agency/event type to the next: transitions, distinct persons, median days between."""
        return self.table("transitions")

    def cost_concentration(self) -> pd.DataFrame:
        """Share of total cost carried by the top 1..100% of persons, with the Gini coefficient."""
        return self.table("cost_concentration")

    def cohort_priority(self) -> pd.DataFrame:
        """The persons in the top share by cost (project.yaml `top_share`), with agencies and event counts."""
        return self.table("cohort_priority")

    def agency_overlap(self) -> pd.DataFrame:
        """Persons known to each combination of agencies."""
        return self.table("agency_overlap")

    def monthly_activity(self) -> pd.DataFrame:
        """Events, persons and cost per month, agency and event type."""
        return self.table("monthly_activity")

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
