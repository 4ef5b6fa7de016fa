"""How persons were linked: records per match key and how many share their token with another record.

Counts only (no tokens, no identifiers), so operators and data officers can read it.
"""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.warehouse.base import Warehouse

REPORT_SQL = """
SELECT k.key_type, count(*) AS records_with_key,
       sum(CASE WHEN g.n > 1 THEN 1 ELSE 0 END) AS records_sharing_token
FROM restricted.record_key k
JOIN (SELECT key_type, token, count(*) AS n FROM restricted.record_key GROUP BY key_type, token) g
  ON g.key_type = k.key_type AND g.token = k.token
GROUP BY k.key_type
"""


def linkage_report(wh: Warehouse, project: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per match key in cascade order, and persons by number of agencies."""
    order = [mk.name for mk in project.linkage.match_keys]
    keys = wh.query(REPORT_SQL).set_index("key_type").reindex(order).fillna(0).astype(int).reset_index()
    records = int(wh.scalar("SELECT count(*) FROM restricted.link_record") or 0)
    keys["share_of_records"] = (keys["records_with_key"] / records).round(4) if records else 0.0
    agencies = wh.query("SELECT n_agencies, count(*) AS persons FROM shared.person GROUP BY 1 ORDER BY 1")
    return keys, agencies
