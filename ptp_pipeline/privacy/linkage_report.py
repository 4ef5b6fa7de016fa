"""How persons were linked: identities per pass, match probabilities, review band, persons by agencies.

Counts only (no tokens, no identifiers), so operators and data officers can read it.
"""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.warehouse.base import Warehouse

PASS_SQL = """
SELECT i.link_pass AS key_type, count(DISTINCT i.ident) AS identities, count(r.record_id) AS records_with_key
FROM restricted.link_identity i LEFT JOIN restricted.link_record r ON r.ident = i.ident
GROUP BY i.link_pass
"""
HISTOGRAM_SQL = """
SELECT floor(match_probability * 10) / 10 AS band, count(*) AS identities
FROM restricted.link_identity WHERE link_pass = 'probabilistic' GROUP BY 1 ORDER BY 1
"""


def linkage_report(wh: Warehouse, project: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per pass (cascade keys in order, then probabilistic, new person, unlinkable), and persons by agencies."""
    order = [f"cascade:{mk.name}" for mk in project.linkage.match_keys] + ["probabilistic", "new person"]
    keys = wh.query(PASS_SQL).set_index("key_type").reindex(order).fillna(0).astype(int).reset_index()
    unlinkable = int(wh.scalar("SELECT count(*) FROM restricted.link_record WHERE ident IS NULL") or 0)
    keys = pd.concat([keys, pd.DataFrame([{"key_type": "unlinkable", "identities": 0,
                                           "records_with_key": unlinkable}])], ignore_index=True)
    records = int(wh.scalar("SELECT count(*) FROM restricted.link_record") or 0)
    keys["share_of_records"] = (keys["records_with_key"] / records).round(4) if records else 0.0
    agencies = wh.query("SELECT n_agencies, count(*) AS persons FROM shared.person GROUP BY 1 ORDER BY 1")
    return keys, agencies


def probability_histogram(wh: Warehouse) -> pd.DataFrame:
    return wh.query(HISTOGRAM_SQL)


BIAS_SQL = """
SELECT {group} AS grp, count(*) AS records,
       avg(CASE WHEN i.link_pass IS NULL OR i.link_pass = 'new person' THEN 0.0 ELSE 1.0 END) AS linked_share,
       avg(CASE WHEN p.n_agencies >= 2 THEN 1.0 ELSE 0.0 END) AS multi_agency_share
FROM restricted.link_record r
LEFT JOIN restricted.link_identity i ON i.ident = r.ident
LEFT JOIN shared.person p ON p.person_id = r.person_id
GROUP BY 1 ORDER BY 1
"""
BIAS_GROUPS = {
    "agency": "r.partner",
    "sex": "coalesce(r.sex, 'unknown')",
    "age band": "CASE WHEN r.birth_year IS NULL THEN 'unknown' ELSE CAST(CAST(floor((EXTRACT(YEAR FROM r.event_date) "
                "- r.birth_year) / 20) * 20 AS INTEGER) AS VARCHAR) || '+' END",
    "area": "coalesce(r.district, 'unknown')",
}


def linkage_bias(wh: Warehouse, min_records: int = 10) -> dict[str, pd.DataFrame]:
    """Link rates by agency, sex, age band and area: a group that links far less often than others is
    a group whose pathways the report under-counts (linkage bias). Groups under `min_records` are left
    out (small numbers)."""
    out = {}
    for name, expr in BIAS_GROUPS.items():
        frame = wh.query(BIAS_SQL.format(group=expr))
        out[name] = frame[frame.records >= min_records].reset_index(drop=True)
    return out
