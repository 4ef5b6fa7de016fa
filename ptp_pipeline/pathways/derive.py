"""Stage 6, derive: the pipeline's pathway tables in `shared` (the research and published tiers are made from them).

Rebuilt, not updated: persons are relinked at every merge, so any derived row may change. One
transaction, so readers never see half a rebuild. The SQL is standard (window functions,
`percentile_cont ... WITHIN GROUP`, `date_trunc`, `string_agg`) and runs on DuckDB and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptp_pipeline.pathways.concentration import concentration_curve
from ptp_pipeline.warehouse.base import Warehouse

DERIVED_TABLES = ("person_pathway", "transitions", "cost_concentration", "cohort_priority", "agency_overlap",
                  "monthly_activity")

# Each person's events in order; ties on a date are broken by agency, type and id so reruns agree.
PERSON_PATHWAY_SQL = """
INSERT INTO shared.person_pathway
SELECT person_id, CAST(row_number() OVER w AS INTEGER), event_id, agency, dataset, event_type, event_date,
       CAST(event_date - lag(event_date) OVER w AS INTEGER), cost
FROM shared.event_cost
WHERE person_id IS NOT NULL
WINDOW w AS (PARTITION BY person_id ORDER BY event_date, agency, event_type, event_id)
"""

TRANSITIONS_SQL = """
INSERT INTO shared.transitions
SELECT a.agency, a.event_type, b.agency, b.event_type, count(*), count(DISTINCT a.person_id),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY b.days_since_previous)
FROM shared.person_pathway a
JOIN shared.person_pathway b ON b.person_id = a.person_id AND b.seq = a.seq + 1
GROUP BY a.agency, a.event_type, b.agency, b.event_type
"""

# The top share of persons by cost, rounded up to whole persons (as in summary.top_cost_share).
COHORT_SQL = """
INSERT INTO shared.cohort_priority
SELECT r.person_id, CAST(r.cost_rank AS INTEGER), r.total_cost, r.agencies, r.n_agencies, r.n_events,
       b.events_by_agency, r.first_seen, r.last_seen
FROM (
    SELECT p.person_id, coalesce(c.total_cost, 0) AS total_cost, p.agencies, p.n_agencies, p.n_events,
           p.first_seen, p.last_seen,
           row_number() OVER (ORDER BY coalesce(c.total_cost, 0) DESC, p.person_id) AS cost_rank,
           count(*) OVER () AS n_persons
    FROM shared.person p LEFT JOIN shared.person_cost c ON c.person_id = p.person_id
) r
LEFT JOIN (
    SELECT person_id, string_agg(agency || ':' || CAST(n AS VARCHAR), ',' ORDER BY agency) AS events_by_agency
    FROM (SELECT person_id, agency, count(*) AS n FROM shared.pathway_event
          WHERE person_id IS NOT NULL GROUP BY person_id, agency) per_agency
    GROUP BY person_id
) b ON b.person_id = r.person_id
WHERE r.cost_rank <= ceil(? * r.n_persons - 1e-9)
"""

#: Each person's costed total (unit costs applied at derive time; see pathways.unit_costs).
PERSON_COSTS_SQL = ("SELECT coalesce(c.total_cost, 0) AS cost FROM shared.person p "
                    "LEFT JOIN shared.person_cost c ON c.person_id = p.person_id")

OVERLAP_SQL = """
INSERT INTO shared.agency_overlap
SELECT p.agencies, p.n_agencies, count(*), sum(p.n_events), sum(c.total_cost)
FROM shared.person p LEFT JOIN shared.person_cost c ON c.person_id = p.person_id
GROUP BY p.agencies, p.n_agencies
"""

MONTHLY_SQL = """
INSERT INTO shared.monthly_activity
SELECT CAST(date_trunc('month', event_date) AS DATE), agency, event_type, count(*), count(DISTINCT person_id),
       sum(cost)
FROM shared.event_cost
GROUP BY CAST(date_trunc('month', event_date) AS DATE), agency, event_type
"""


@dataclass(frozen=True)
class RebuildResult:
    """Row counts of the rebuilt tables, for the DAG's log and the CLI."""

    rows: dict[str, int]


def rebuild_tables(wh: Warehouse, top_share: float = 0.2) -> RebuildResult:
    """Replace every derived table from shared.person and the costed events (`apply_unit_costs` first)."""
    with wh.transaction():
        costs = wh.query(PERSON_COSTS_SQL)["cost"].astype(float)
        curve = concentration_curve(costs.to_numpy())
        for table in DERIVED_TABLES:
            wh.execute(f"DELETE FROM shared.{table}")
        wh.execute(PERSON_PATHWAY_SQL)
        wh.execute(TRANSITIONS_SQL)
        wh.insert_frame("shared.cost_concentration", curve)
        wh.execute(COHORT_SQL, (top_share,))
        wh.execute(OVERLAP_SQL)
        wh.execute(MONTHLY_SQL)
    rows = {t: int(wh.scalar(f"SELECT count(*) FROM shared.{t}") or 0) for t in DERIVED_TABLES}
    return RebuildResult(rows)
