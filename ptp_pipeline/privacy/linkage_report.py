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


def review_band(wh: Warehouse) -> int:
    return int(wh.scalar("SELECT count(*) FROM restricted.link_review WHERE decision IS NULL") or 0)
