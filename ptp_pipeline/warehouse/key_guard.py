"""One key per warehouse: an extract pseudonymised under another key must never merge.

Tokens are keyed hashes: an extract tokenised under a different key links to no one (persons split,
the opt-out stops matching). The ledger records each extract's key id at receipt; the warehouse's key is
the one every merged extract's tokens are under (key rotation re-makes them all and updates the ledger).
"""

from __future__ import annotations

from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.warehouse.base import Warehouse

HINT = ("Set PTP_KEY_FILE (or PTP_KEY) to the partnership's current project key on every machine that runs the "
        "pipeline, then ingest the file again. After `ptp key rotate`, every extract must be received under the "
        "new key.")


def warehouse_key_ids(wh: Warehouse) -> list[str]:
    """Key ids of the tokens in the warehouse (one, or none before the first merge)."""
    frame = wh.query("SELECT DISTINCT key_id FROM ops.extract_ledger WHERE status = 'merged' AND key_id IS NOT NULL "
                     "ORDER BY 1")
    return [str(k) for k in frame["key_id"]]


def check_extract_key(wh: Warehouse, extract_id: str, key_id: str) -> None:
    """Refuse the merge unless the extract, this process's key and the warehouse's tokens share one key id.

    `key_id` is the id of the key this process holds (the key its pseudonymise stage used). Ids are public
    fingerprints (`ProjectKey.key_id`), safe in messages.
    """
    row = wh.query("SELECT file_name, key_id FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
    where = Where(file=None if row.empty else str(row.at[0, "file_name"]))
    recorded = None if row.empty or row.at[0, "key_id"] is None else str(row.at[0, "key_id"])
    if recorded is not None and recorded != key_id:
        raise ExtractError(
            f"extract {extract_id} was received under project key {recorded}, but this process holds key {key_id}: "
            "its tokens would not match, so it is refused and nothing of it is merged", where=where, hint=HINT)
    current = [k for k in warehouse_key_ids(wh) if k != key_id]
    if current:
        raise ExtractError(
            f"extract {extract_id} was pseudonymised under project key {key_id}, but the warehouse's tokens are under "
            f"key {', '.join(current)}: merging it would split people and stop the opt-out matching, so it is "
            "refused and nothing of it is merged", where=where, hint=HINT)
