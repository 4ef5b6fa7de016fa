"""The extract ledger: one row per distinct file, with its outcome and counts."""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.pull import records as pull_records
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse


def refuse(wh: Warehouse, extract_id: str, error: PtpUserError, rows_received: int | None = None) -> None:
    """Refuse the whole extract: nothing merged; every received row counted as held back.

    An error carrying row-level reasons (`quarantine`, as above the threshold) keeps them, so the
    partner's feedback report can list each failing row; `docs_url` links its validation page.
    """
    reason = error.message.strip()
    details: pd.DataFrame | None = getattr(error, "quarantine", None)
    with wh.transaction():
        wh.execute(
            "UPDATE ops.extract_ledger SET status = 'refused', reason = ?, rows_received = ?, "
            "rows_accepted = 0, rows_quarantined = ?, docs_url = coalesce(?, docs_url) WHERE extract_id = ?",
            (reason, rows_received, rows_received, getattr(error, "docs_url", None), extract_id),
        )
        wh.execute("DELETE FROM restricted.quarantine WHERE extract_id = ?", (extract_id,))
        wh.execute(
            "INSERT INTO restricted.quarantine (extract_id, source_row, field, check_name, problem, hint) "
            "VALUES (?, NULL, NULL, 'extract_refused', ?, ?)",
            (extract_id, reason, error.hint),
        )
        pull_records.settle(wh, extract_id)  # stage 0: pull record settled, SQL watermark advanced
        if details is not None:
            wh.insert_frame("restricted.quarantine", details.assign(extract_id=extract_id))
        audit.append(wh, "refuse", extract_id=extract_id, detail=f"[{error.code}] {reason}")


def status_table(wh: Warehouse) -> list[dict[str, object]]:
    frame = wh.query(
        "SELECT extract_id, partner, dataset, protocol_id, protocol_version, file_name, received_at, status, "
        "rows_received, rows_accepted, rows_quarantined, reason, key_id, docs_url, period_start, period_end, "
        "rows_superseded, rows_opted_out, rows_purged, source, corrects, superseded_by "
        "FROM ops.extract_ledger ORDER BY received_at, extract_id"
    )
    return [
        {k: (None if v is None or v is pd.NaT or (isinstance(v, float) and v != v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
