"""Nightly housekeeping: raw-extract retention, protocols about to expire, audit-chain check.

Each function is one Airflow task of the `ptp_housekeeping` DAG (and callable from anywhere else).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ptp_pipeline.protocol.model import Status
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit

log = logging.getLogger(__name__)
EXPIRY_WARNING_DAYS = 30
RAW_FILES = ("raw",)


@dataclass(frozen=True)
class RawPurge:
    extracts: int  # extracts whose raw copies were deleted
    files: int


def purge_raw(rt: Runtime, now: datetime) -> RawPurge:
    """Delete raw copies older than their protocol's `retention.raw_extract_days`.

    Raw copies are the work area's `raw` file and the taken landing file (`claimed/.../.taken/<sha>/`).
    Only settled extracts (merged or refused) are purged; the ledger row and counts stay. The age is
    counted from the receipt recorded in the ledger. An extract whose protocol is unknown keeps its
    raw copy (the purge never guesses).
    """
    days = {(p.id, p.version): p.retention.raw_extract_days for p in rt.protocols}
    rows = rt.warehouse.query(
        "SELECT extract_id, partner, dataset, protocol_id, protocol_version, sha256, received_at "
        "FROM ops.extract_ledger WHERE status IN ('merged', 'refused') AND protocol_id IS NOT NULL")
    extracts = files = 0
    for r in rows.itertuples(index=False):
        keep = days.get((r.protocol_id, int(r.protocol_version)))
        received = r.received_at.to_pydatetime() if hasattr(r.received_at, "to_pydatetime") else r.received_at
        if keep is None or received + timedelta(days=keep) > now:
            continue
        removed = 0
        for name in RAW_FILES:
            raw = rt.settings.work_dir / r.extract_id / name
            if raw.exists():
                raw.unlink()
                removed += 1
        taken = rt.settings.claimed_dir / r.partner / r.dataset / ".taken" / r.sha256[:32]
        if taken.is_dir():
            removed += sum(1 for p in taken.iterdir() if p.is_file())
            shutil.rmtree(taken)
        if removed:
            extracts += 1
            files += removed
            audit.append(rt.warehouse, "purge_raw", actor="housekeeping", extract_id=r.extract_id,
                         detail=f"{removed} raw file(s) older than {keep} days deleted")
    return RawPurge(extracts, files)


def unprocessed_files(rt: Runtime, now: datetime, older_than: timedelta = timedelta(days=1)) -> dict[str, int]:
    """Files claimed from landing but not settled in the ledger for longer than `older_than`, per dataset.

    They are kept (never purged: nothing is lost) and reported, so an operator can rerun their ingest
    runs. Only counts per `partner/dataset` are returned and logged, never file names.
    """
    root = rt.settings.claimed_dir
    if not root.is_dir():
        return {}
    settled = {str(s)[:32] for s in rt.warehouse.query(
        "SELECT sha256 FROM ops.extract_ledger WHERE status IN ('merged', 'refused')")["sha256"]}
    cutoff = (now - older_than).replace(tzinfo=UTC).timestamp()  # `now` is naive UTC, as in the ledger
    found: dict[str, int] = {}
    for path in root.rglob("*"):
        if not path.is_file() or path.stat().st_mtime > cutoff:
            continue
        parts = path.relative_to(root).parts  # partner/dataset/file or partner/dataset/.taken/sha/file
        if len(parts) < 3 or (parts[2] == ".taken" and len(parts) == 5 and parts[3] in settled):
            continue
        key = f"{parts[0]}/{parts[1]}"
        found[key] = found.get(key, 0) + 1
    for key, n in sorted(found.items()):
        log.warning("%d file(s) for %s claimed more than %s ago are not ingested yet: rerun or clear their "
                    "ingest runs", n, key, older_than)
    return found


def expiring_protocols(rt: Runtime, today: date, within_days: int = EXPIRY_WARNING_DAYS) -> list[dict[str, object]]:
    """Approved protocols whose `valid_to` falls within the next `within_days` days (or has passed)."""
    soon = []
    for p in rt.protocols:
        if p.status is not Status.approved:
            continue
        left = (p.valid_to - today).days
        if left <= within_days:
            soon.append({"protocol": p.id, "version": p.version, "partner": p.partner.id, "dataset": p.dataset,
                         "valid_to": p.valid_to.isoformat(), "days_left": left})
            log.warning("protocol %s v%d (%s/%s) %s on %s: renew it with the partner or stop the feed",
                        p.id, p.version, p.partner.id, p.dataset, "expires" if left >= 0 else "expired",
                        p.valid_to.isoformat())
    return soon


def verify_audit(rt: Runtime) -> list[str]:
    """Problems in the audit chain (empty when intact)."""
    return audit.verify(rt.warehouse)
