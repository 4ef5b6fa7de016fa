"""Retention purge, driven by each protocol's `retention`.

- `shared_data_years`: events dated before (today - years) leave the shared tables, with their
  linkage records; persons are rebuilt; each extract's ledger row counts them as `rows_purged`.
- `raw_extract_days`: an extract's restricted work folder (the received copy and any files between
  stages) is deleted once the extract was received longer ago than that.

For each partner dataset the latest protocol version decides, in force or not: an expired
agreement still binds what was shared under it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from ptp_pipeline.protocol import Protocol
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.removal import rebuild_derived, rebuild_derived_in_transaction, remove_events


@dataclass
class PurgeResult:
    events_purged: int = 0
    work_folders_deleted: int = 0
    per_dataset: list[tuple[str, str, date, int]] = field(default_factory=list)  # partner, dataset, cutoff, n


def latest_protocols(protocols: list[Protocol]) -> dict[tuple[str, str], Protocol]:
    latest: dict[tuple[str, str], Protocol] = {}
    for p in protocols:
        k = (p.partner.id, p.dataset)
        if k not in latest or p.version > latest[k].version:
            latest[k] = p
    return latest


def cutoff_for(today: date, years: int) -> date:
    """The first event date still kept (29 February falls back to 28 February)."""
    return (pd.Timestamp(today) - pd.DateOffset(years=years)).date()


def purge(rt: Runtime, today: date | None = None) -> PurgeResult:
    """Apply every protocol's retention; one transaction for the shared tables, then the work area."""
    from ptp_pipeline.warehouse.merge import MERGE_LOCK

    today = today or datetime.now(UTC).date()
    wh = rt.warehouse
    result = PurgeResult()
    policies = latest_protocols(rt.protocols)
    with wh.transaction():
        wh.lock(MERGE_LOCK)
        for (partner, dataset), protocol in sorted(policies.items()):
            cutoff = cutoff_for(today, protocol.retention.shared_data_years)
            gone = remove_events(wh, "e.agency = ? AND e.dataset = ? AND e.event_date < ?",
                                 (partner, dataset, cutoff), "purged")
            n = int(gone["n"].sum()) if not gone.empty else 0
            result.per_dataset.append((partner, dataset, cutoff, n))
            result.events_purged += n
            # Held-back rows (row numbers and reasons only) of extracts received before the cutoff go too.
            wh.execute("DELETE FROM restricted.quarantine WHERE extract_id IN (SELECT extract_id FROM "
                       "ops.extract_ledger WHERE partner = ? AND dataset = ? AND received_at < ?)",
                       (partner, dataset, cutoff))
            for g in gone.itertuples(index=False):
                audit.append(wh, "purge", actor="retention", extract_id=str(g.extract_id),
                             detail=f"{g.n} events dated before {cutoff} removed: {protocol.id} "
                             f"v{protocol.version} keeps shared data {protocol.retention.shared_data_years} years")
        if result.events_purged:
            rebuild_derived_in_transaction(rt)
    if result.events_purged:
        rebuild_derived(rt)
    ledger = wh.query("SELECT extract_id, partner, dataset, received_at FROM ops.extract_ledger")
    for row in ledger.itertuples(index=False):
        policy = policies.get((str(row.partner), str(row.dataset)))
        folder = rt.settings.work_dir / str(row.extract_id)
        if policy is None or not folder.exists():
            continue
        received = pd.Timestamp(row.received_at).date()
        if received + timedelta(days=policy.retention.raw_extract_days) <= today:
            shutil.rmtree(folder)
            result.work_folders_deleted += 1
            audit.append(wh, "purge_raw", actor="retention", extract_id=str(row.extract_id),
                         detail=f"work folder deleted: received {received}, protocol {policy.id} keeps raw "
                         f"extracts {policy.retention.raw_extract_days} days")
    return result
