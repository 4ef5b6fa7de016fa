"""Unit costs applied at derive time, so a revised costs file takes effect at the next derive (no re-ingest).

Why derive, not merge: the costs file changes (new edition, new price year) far more often than extracts
are re-sent, and the derive stage already rebuilds every costed table from the events in one
transaction; the merge stays O(extract) and never reads the costs. A partner's own cost always wins;
an event with none takes its agency and event type's unit cost; an event neither costs stays uncosted
and is counted, so the report can say how much of the activity carries no cost. A place dataset's rows
(a licensing register: no person) are not activity and are left out (issue 20).

`shared.pathway_event.cost` and `shared.person.total_cost` keep the partners' figures as received;
`shared.event_cost` and `shared.person_cost` are the costed ones every derived table uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptp_pipeline.protocol.costs import CostsFile, unit_cost_table
from ptp_pipeline.warehouse.base import Warehouse

EVENT_COST_SQL = """
INSERT INTO shared.event_cost
SELECT e.event_id, e.person_id, e.agency, e.dataset, e.event_type, e.event_date, coalesce(e.cost, u.unit_cost),
       CASE WHEN e.cost IS NOT NULL THEN 'partner' WHEN u.unit_cost IS NOT NULL THEN 'unit cost' ELSE 'none' END
FROM shared.pathway_event e
LEFT JOIN shared.unit_cost u ON u.agency = e.agency AND u.event_type = e.event_type
WHERE e.person_id IS NOT NULL
"""

PERSON_COST_SQL = """
INSERT INTO shared.person_cost
SELECT person_id, coalesce(sum(cost), 0),
       coalesce(sum(CASE WHEN cost_source = 'partner' THEN cost END), 0),
       sum(CASE WHEN cost_source = 'unit cost' THEN 1 ELSE 0 END),
       sum(CASE WHEN cost_source = 'none' THEN 1 ELSE 0 END)
FROM shared.event_cost
WHERE person_id IS NOT NULL
GROUP BY person_id
"""

COSTED_TABLES = ("unit_cost", "event_cost", "person_cost")


@dataclass(frozen=True)
class CostCoverage:
    """How the events were costed: for the report's method notes and the CLI."""

    partner: int  # events costed by their partner
    unit: int  # events costed from the unit-costs file
    uncosted: int  # events neither costs


def apply_unit_costs(wh: Warehouse, costs: list[CostsFile]) -> CostCoverage:
    """Rebuild shared.unit_cost, event_cost and person_cost (call inside the derive transaction)."""
    for table in COSTED_TABLES:
        wh.execute(f"DELETE FROM shared.{table}")
    table = unit_cost_table(costs)
    if len(table):
        wh.insert_frame("shared.unit_cost", table)
    wh.execute(EVENT_COST_SQL)
    wh.execute(PERSON_COST_SQL)
    return cost_coverage(wh)


def cost_coverage(wh: Warehouse) -> CostCoverage:
    counts = wh.query("SELECT cost_source, count(*) AS n FROM shared.event_cost GROUP BY cost_source")
    by = dict(zip(counts["cost_source"], counts["n"].astype(int), strict=True))
    return CostCoverage(partner=by.get("partner", 0), unit=by.get("unit cost", 0), uncosted=by.get("none", 0))
