"""The restricted work area's raw files: never left behind for long.

`checked.parquet` holds raw identifiers between the check and pseudonymise stages. The pseudonymise
stage removes it on every exit path; a task killed outright (SIGKILL, a lost worker) cannot, so each
new receipt sweeps the work area first: the file goes at once when its extract is no longer being
processed (refused, failed, merged, superseded) and after STALE_AFTER when it is (a stage that died).
"""

from __future__ import annotations

import time
from pathlib import Path

from ptp_pipeline.warehouse.base import Warehouse

CHECKED = "checked.parquet"
#: Intermediate raw files the sweep removes (the `raw` copy is kept until retention: see housekeeping).
RAW_INTERMEDIATES = (CHECKED,)
#: A raw intermediate of an extract still in progress older than this belongs to a stage that died.
STALE_AFTER = 3600.0


def sweep(wh: Warehouse, work_dir: Path, *, now: float | None = None) -> int:
    """Remove stale raw intermediates; returns how many were removed. Never raises for a vanished file."""
    found = [p for name in RAW_INTERMEDIATES for p in work_dir.glob(f"*/{name}")] if work_dir.is_dir() else []
    if not found:
        return 0
    in_progress = set(wh.query("SELECT extract_id FROM ops.extract_ledger WHERE status = 'received'")["extract_id"])
    now = time.time() if now is None else now
    removed = 0
    for path in found:
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if path.parent.name not in in_progress or age > STALE_AFTER:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
