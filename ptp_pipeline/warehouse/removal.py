"""Remove merged events (supersede, opt-out, retention) and count them against their extracts.

Removal never breaks conservation: the extract's ledger row keeps received = accepted +
quarantined, and a per-reason counter (`rows_superseded`, `rows_opted_out`, `rows_purged`) says
how many of its accepted rows have since left the shared tables, and the audit log says why.
Every copy goes: match-key, address and event-location tokens, linkage records, the event, its sealed identifiers, and
the rest of the extract's sealed identifiers once none of its records is left. Call inside the
transaction of the change; then
`rebuild_derived_in_transaction` (identities, persons) and after it `rebuild_derived` (residence,
households, the derived pathway tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.persons import touch

if TYPE_CHECKING:
    from ptp_pipeline.runtime import Runtime

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
    # Their persons' rows are rebuilt by the caller's `refresh_persons` (or a full `relink`).
    touch(wh, "SELECT DISTINCT e.person_id FROM shared.pathway_event e JOIN _ptp_gone g ON g.event_id = e.event_id "
          "WHERE e.person_id IS NOT NULL")
    wh.execute("DELETE FROM restricted.record_address WHERE record_id IN (SELECT event_id FROM _ptp_gone)")
    wh.execute("DELETE FROM restricted.event_location WHERE event_id IN (SELECT event_id FROM _ptp_gone)")
    # Sealed per record: a removed record's sealed identifiers go with it.
    wh.execute("DELETE FROM restricted.vault_record WHERE EXISTS (SELECT 1 FROM restricted.link_record r "
               "JOIN _ptp_gone g ON g.event_id = r.record_id WHERE r.extract_id = vault_record.extract_id "
               "AND r.source_row = vault_record.source_row)")
    wh.execute("DELETE FROM restricted.link_record WHERE record_id IN (SELECT event_id FROM _ptp_gone)")
    wh.execute("DELETE FROM shared.pathway_event WHERE event_id IN (SELECT event_id FROM _ptp_gone)")
    # The rest of an extract's sealed identifiers (its quarantined rows; or an extract sealed whole, before
    # per-record sealing) go with its last record.
    for table in ("restricted.vault", "restricted.vault_record"):
        name = table.split(".")[1]
        wh.execute(f"DELETE FROM {table} WHERE extract_id IN (SELECT DISTINCT extract_id FROM _ptp_gone) AND NOT "
                   f"EXISTS (SELECT 1 FROM restricted.link_record r WHERE r.extract_id = {name}.extract_id)")
    column = f"rows_{reason}"
    wh.execute(f"UPDATE ops.extract_ledger SET {column} = coalesce({column}, 0) + g.n "
               "FROM (SELECT extract_id, count(*) AS n FROM _ptp_gone GROUP BY extract_id) g "
               "WHERE extract_ledger.extract_id = g.extract_id")
    counts["n"] = counts["n"].astype(int)
    return counts


def rebuild_derived_in_transaction(rt: Runtime) -> None:
    """After a removal, inside its transaction: identities left without records deleted, persons rebuilt."""
    from ptp_pipeline.linkage.frequencies import recount
    from ptp_pipeline.warehouse.merge import relink

    relink(rt.warehouse, rt.project)
    recount(rt.warehouse)  # term frequencies without the removed identities' tokens
    # Clerical-review pairs hold two identities' tokens: a pair goes with either identity.
    known = "SELECT 1 FROM restricted.link_identity i WHERE i.ident = link_review.ident_"
    rt.warehouse.execute(f"DELETE FROM restricted.link_review WHERE NOT EXISTS ({known}l) OR NOT EXISTS ({known}r)")


def rebuild_derived(rt: Runtime) -> None:
    """After the removal's transaction: the derive stage (residence, households, household pathways and
    every derived pathway table), so no copy of a removed event stays in them."""
    from ptp_pipeline.pathways import rebuild

    rebuild(rt)
