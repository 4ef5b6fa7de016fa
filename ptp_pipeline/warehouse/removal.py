"""Remove merged events (supersede, opt-out, retention) and count them against their extracts.

Removal never breaks conservation: the extract's ledger row keeps received = accepted +
quarantined, and a per-reason counter (`rows_superseded`, `rows_opted_out`, `rows_purged`) says
how many of its accepted rows have since left the shared tables, and the audit log says why.
Call inside the transaction of the change; relink afterwards so persons are rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd

from ptp_pipeline.warehouse.base import Warehouse

Reason = Literal["superseded", "opted_out", "purged"]


def remove_events(wh: Warehouse, where: str, params: Sequence[Any], reason: Reason) -> pd.DataFrame:
    """Delete the events matching `where` (SQL on `shared.pathway_event e`) with their linkage rows.

    Returns extract_id and n (events removed) per extract; the ledger counter is updated.
    """
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_gone (event_id VARCHAR, extract_id VARCHAR)")
    wh.execute("DELETE FROM _ptp_gone")
    wh.execute(f"INSERT INTO _ptp_gone SELECT e.event_id, e.extract_id FROM shared.pathway_event e WHERE {where}",
               params)
    counts = wh.query("SELECT extract_id, count(*) AS n FROM _ptp_gone GROUP BY extract_id ORDER BY extract_id")
    if counts.empty:
        return counts
    wh.execute("DELETE FROM restricted.link_record WHERE record_id IN (SELECT event_id FROM _ptp_gone)")
    wh.execute("DELETE FROM shared.pathway_event WHERE event_id IN (SELECT event_id FROM _ptp_gone)")
    column = f"rows_{reason}"
    wh.execute(f"UPDATE ops.extract_ledger SET {column} = coalesce({column}, 0) + g.n "
               "FROM (SELECT extract_id, count(*) AS n FROM _ptp_gone GROUP BY extract_id) g "
               "WHERE extract_ledger.extract_id = g.extract_id")
    counts["n"] = counts["n"].astype(int)
    return counts
