"""Corrections: a partner re-sends an extract, declared with `ptp ingest --corrects EXTRACT_ID`.

A correction is a complete re-send of the superseded extract (the same partner and dataset, with
the held-back rows fixed), not a patch of single rows: partners' exports cannot address our row
numbers reliably, and a full re-send keeps merge's rule of "an extract's rows in, by extract id,
in one transaction". When the correction merges, in that same transaction, the superseded
extract's events and linkage records leave the shared tables, its ledger row says `superseded`
(with `superseded_by`) and keeps its own counts, and its open quarantine rows are marked
`resolved`. A correction that is refused changes nothing about the extract it meant to correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.extract.receipt import sha256_file
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

CORRECTABLE = ("merged", "refused")


class CorrectionError(PtpUserError):
    code = "PTP420"
    title = "Correction not possible"
    hint = "Run `ptp status` to find the extract the partner is correcting, then rerun with --corrects ID."
    exit_code = 4


def check_target(wh: Warehouse, target: str, partner: str, dataset: str) -> None:
    """Refuse up front a correction of an unknown, foreign or already superseded extract."""
    row = wh.query("SELECT partner, dataset, status FROM ops.extract_ledger WHERE extract_id = ?", (target,))
    if row.empty:
        raise CorrectionError(f"--corrects names extract {target}, which was never received")
    r = row.iloc[0]
    if (r.partner, r.dataset) != (partner, dataset):
        raise CorrectionError(f"extract {target} is {r.partner}/{r.dataset}: a correction must come from the "
                              f"same partner and dataset, not {partner}/{dataset}")
    if r.status not in CORRECTABLE:
        raise CorrectionError(f"extract {target} is {r.status}; only a merged or refused extract can be corrected")


@dataclass(frozen=True)
class PriorReceipt:
    extract_id: str
    partner: str
    dataset: str
    status: str
    superseded_by: str | None


def prior_receipt(wh: Warehouse, path: Path) -> PriorReceipt | None:
    """The ledger row of an earlier receipt of this exact file (same SHA-256), if any.

    The caller stops before receiving it again when it was superseded (its rows must not come
    back) or received for another partner or dataset (one file belongs to one dataset).
    """
    if not path.is_file():
        return None
    row = wh.query("SELECT extract_id, partner, dataset, status, superseded_by FROM ops.extract_ledger "
                   "WHERE sha256 = ?", (sha256_file(path),))
    if row.empty:
        return None
    r = row.iloc[0]
    return PriorReceipt(str(r.extract_id), str(r.partner), str(r.dataset), str(r.status),
                        None if r.superseded_by is None or r.superseded_by != r.superseded_by else str(r.superseded_by))


def declare(wh: Warehouse, extract_id: str, target: str) -> None:
    """Record on the new extract's ledger row which extract it corrects."""
    if extract_id == target:
        raise CorrectionError("the correction is the same file as the extract it corrects (same SHA-256)",
                              hint="Ask the partner for the corrected file.")
    wh.execute("UPDATE ops.extract_ledger SET corrects = ? WHERE extract_id = ?", (target, extract_id))


def supersede(wh: Warehouse, extract_id: str) -> str | None:
    """Inside merge's transaction: retire the extract this one corrects, if any; returns its id."""
    target = wh.scalar("SELECT corrects FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
    if target is None:
        return None
    for table in ("restricted.link_record", "shared.pathway_event"):
        wh.execute(f"DELETE FROM {table} WHERE extract_id = ?", (target,))
    wh.execute("UPDATE restricted.quarantine SET status = 'resolved', resolved_by = ? "
               "WHERE extract_id = ? AND status = 'open'", (extract_id, target))
    wh.execute("UPDATE ops.extract_ledger SET status = 'superseded', superseded_by = ? WHERE extract_id = ?",
               (extract_id, target))
    audit.append(wh, "supersede", extract_id=target, detail=f"corrected by extract {extract_id}")
    return str(target)
