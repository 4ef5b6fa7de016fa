"""Persons rebuilt only where a change touched them, so a merge or removal costs what it changed.

A change notes the persons it touches (`touch`: a SELECT of person_id, or a frame) in a temporary
table; `refresh_persons` rebuilds just their shared.person rows, from narrow columns (the link record
carries date and partner; only the cost is read from the event): no whole-table join.
"""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.warehouse.base import Warehouse

# Persons from their records: most common birth year and sex (a tie: the lowest), the district of the latest event
# that has one (a tie: the record with the highest id). Only these three per-person choices differ between
# dialects. DuckDB's plain mode() and arg_max(district, event_date) broke ties by whichever row
# came first, which varies with its threads: the same extracts merged twice gave 4 of 4,000 persons another sex
# and 19 another area.
_PERSON_CHOICES = {
    "duckdb": "mode(r.birth_year ORDER BY r.birth_year), mode(r.sex ORDER BY r.sex), "
              "arg_max(r.district, (r.event_date IS NOT NULL, r.event_date, r.record_id))",
    "postgresql": "mode() WITHIN GROUP (ORDER BY r.birth_year), mode() WITHIN GROUP (ORDER BY r.sex), "
                  "(array_agg(r.district ORDER BY r.event_date DESC NULLS LAST, r.record_id DESC) "
                  "FILTER (WHERE r.district IS NOT NULL))[1]",
}
PERSON_SQL = {dialect: f"""
INSERT INTO shared.person
SELECT r.person_id, {choices},
       min(r.event_date), max(r.event_date), string_agg(DISTINCT r.partner, ',' ORDER BY r.partner),
       count(DISTINCT r.partner), count(*), c.cost
FROM restricted.link_record r
JOIN (SELECT person_id, sum(cost) AS cost FROM shared.pathway_event
      WHERE person_id IN (SELECT person_id FROM _ptp_touched_persons WHERE {{part}}) GROUP BY person_id) c
  ON c.person_id = r.person_id
WHERE r.person_id IN (SELECT person_id FROM _ptp_touched_persons WHERE {{part}})
GROUP BY r.person_id, c.cost
""" for dialect, choices in _PERSON_CHOICES.items()}
TOUCHED = "_ptp_touched_persons"
#: Touched persons rebuilt at a time in the embedded warehouse: its ordered aggregates (mode, string_agg) hold
#: every value of the persons in hand, inside the process (3M-row extract, 407,973 persons at once: the merge's
#: peak, 1,552 MB). A server works on its side and spills: it takes them all at once.
PERSONS_AT_ONCE = 100_000


def touch(wh: Warehouse, select_sql: str = "", params: tuple[object, ...] = (), frame: pd.DataFrame | None = None
          ) -> None:
    """Note persons whose rows must be rebuilt at the end of this change (a SELECT of person_id, or a frame)."""
    wh.execute(f"CREATE TEMP TABLE IF NOT EXISTS {TOUCHED} (person_id BIGINT)")
    if select_sql:
        wh.execute(f"INSERT INTO {TOUCHED} {select_sql}", params)
    if frame is not None and len(frame):
        wh.insert_frame(TOUCHED, frame[["person_id"]].astype("int64"))


def refresh_persons(wh: Warehouse) -> int:
    """Rebuild shared.person for the touched persons only; returns how many were touched."""
    touch(wh)
    n = int(wh.scalar(f"SELECT count(DISTINCT person_id) FROM {TOUCHED}") or 0)
    if n and wh.dialect == "postgresql":
        # Autovacuum never analyses a temporary table: unanalysed, the planner takes it for 200 persons and looks
        # each one's records and events up through the person indexes (1M-row merge: 1.1M random page reads,
        # 21 s under EXPLAIN ANALYZE); with its statistics it hashes them: server CPU 8.9-9.2 -> 4.5-4.7 s.
        wh.execute(f"ANALYZE {TOUCHED}")
    if n:
        wh.execute(f"DELETE FROM shared.person WHERE person_id IN (SELECT person_id FROM {TOUCHED})")
        parts = -(-n // PERSONS_AT_ONCE) if wh.dialect == "duckdb" else 1
        for i in range(parts):
            # ((id % p) + p) % p: a part for every id, a negative one too (SQL's % keeps the dividend's sign).
            part = f"((person_id % {parts}) + {parts}) % {parts} = {i}" if parts > 1 else "true"
            wh.execute(PERSON_SQL[wh.dialect].format(part=part))
    wh.execute(f"DELETE FROM {TOUCHED}")
    return n
