"""Pull records and SQL watermarks in the warehouse (ops.pull_record, ops.pull_watermark).

A pull record is written when a file is landed (status `landed`). It is settled (status `recorded`)
when the extract's ledger row reaches its outcome, merged or refused, inside the same transaction:
`settle` is called by merge and by ledger.refuse. Only then does a SQL watermark advance, so a range
is never skipped and never pulled twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ptp_pipeline.warehouse.base import Warehouse

LANDED = "landed"
RECORDED = "recorded"
ABANDONED = "abandoned"


@dataclass(frozen=True)
class PullRecord:
    pull_id: str
    partner: str
    dataset: str
    kind: str
    conn_id: str
    remote: str
    file_name: str
    sha256: str
    remote_size: int | None = None
    remote_mtime: int | None = None
    watermark_from: str | None = None
    watermark_to: str | None = None
    rows_pulled: int | None = None

    def describe(self) -> str:
        """What the ledger shows as the extract's source (no credentials: only the connection id)."""
        text = f"{self.kind}:{self.conn_id}:{self.remote}"
        if self.watermark_to is not None:
            text += f" ({self.watermark_from or '-inf'}, {self.watermark_to}]"
        return text


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def add(wh: Warehouse, rec: PullRecord) -> None:
    wh.execute(
        "INSERT INTO ops.pull_record (pull_id, partner, dataset, kind, conn_id, remote, remote_size, remote_mtime, "
        "watermark_from, watermark_to, rows_pulled, file_name, sha256, pulled_at, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (rec.pull_id, rec.partner, rec.dataset, rec.kind, rec.conn_id, rec.remote, rec.remote_size,
         rec.remote_mtime, rec.watermark_from, rec.watermark_to, rec.rows_pulled, rec.file_name, rec.sha256,
         _now(), LANDED),
    )


def seen_remote(wh: Warehouse, partner: str, dataset: str, remote: str, size: int, mtime: int) -> bool:
    """True when this exact remote file (path, size, modification time) was pulled before."""
    n = wh.scalar(
        "SELECT count(*) FROM ops.pull_record WHERE partner = ? AND dataset = ? AND remote = ? AND remote_size = ? "
        "AND remote_mtime = ? AND status <> ?", (partner, dataset, remote, size, mtime, ABANDONED))
    return bool(n)


def seen_sha(wh: Warehouse, partner: str, dataset: str, sha256: str) -> bool:
    n = wh.scalar("SELECT count(*) FROM ops.pull_record WHERE partner = ? AND dataset = ? AND sha256 = ? "
                  "AND status <> ?", (partner, dataset, sha256, ABANDONED))
    return bool(n)


def pending(wh: Warehouse, partner: str, dataset: str) -> list[tuple[str, str]]:
    """(pull_id, file_name) of landed pulls whose extract has no ledger outcome yet."""
    frame = wh.query("SELECT pull_id, file_name FROM ops.pull_record WHERE partner = ? AND dataset = ? "
                     "AND status = ? ORDER BY pulled_at, pull_id", (partner, dataset, LANDED))
    return [(str(a), str(b)) for a, b in frame.itertuples(index=False, name=None)]


def abandon(wh: Warehouse, pull_id: str) -> None:
    wh.execute("UPDATE ops.pull_record SET status = ?, settled_at = ? WHERE pull_id = ?", (ABANDONED, _now(), pull_id))


def watermark(wh: Warehouse, partner: str, dataset: str) -> str | None:
    value = wh.scalar("SELECT watermark FROM ops.pull_watermark WHERE partner = ? AND dataset = ?",
                      (partner, dataset))
    return None if value is None else str(value)


def settle(wh: Warehouse, extract_id: str) -> None:
    """The extract has its ledger outcome: settle its pull records, advance the SQL watermark, name the source.

    Call inside the transaction that writes the outcome, so they commit (or roll back) together.
    """
    sha = wh.scalar("SELECT sha256 FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
    if sha is None:
        return
    frame = wh.query("SELECT * FROM ops.pull_record WHERE sha256 = ? AND status <> ? ORDER BY pulled_at, pull_id",
                     (sha, ABANDONED))
    if frame.empty:
        wh.execute("UPDATE ops.extract_ledger SET source = 'landing' WHERE extract_id = ? AND source IS NULL",
                   (extract_id,))
        return
    now = _now()
    for r in frame.itertuples(index=False):
        if r.status == LANDED and r.kind == "sql" and isinstance(r.watermark_to, str):
            wh.execute("DELETE FROM ops.pull_watermark WHERE partner = ? AND dataset = ?", (r.partner, r.dataset))
            wh.execute("INSERT INTO ops.pull_watermark VALUES (?, ?, ?, ?, ?)",
                       (r.partner, r.dataset, r.watermark_to, extract_id, now))
    wh.execute("UPDATE ops.pull_record SET status = ?, extract_id = ?, settled_at = ? WHERE sha256 = ? AND status = ?",
               (RECORDED, extract_id, now, sha, LANDED))
    first = frame.iloc[0]
    rec = PullRecord(pull_id=str(first.pull_id), partner=str(first.partner), dataset=str(first.dataset),
                     kind=str(first.kind), conn_id=str(first.conn_id), remote=str(first.remote),
                     file_name=str(first.file_name), sha256=str(sha),
                     watermark_from=_text(first.watermark_from), watermark_to=_text(first.watermark_to))
    wh.execute("UPDATE ops.extract_ledger SET source = ? WHERE extract_id = ?", (rec.describe(), extract_id))


def settle_finished(wh: Warehouse, partner: str, dataset: str) -> None:
    """Settle landed pulls whose file already has a ledger outcome (e.g. identical to an extract merged before)."""
    frame = wh.query(
        "SELECT DISTINCT l.extract_id FROM ops.pull_record p JOIN ops.extract_ledger l ON l.sha256 = p.sha256 "
        "WHERE p.partner = ? AND p.dataset = ? AND p.status = ? AND l.status IN ('merged', 'refused')",
        (partner, dataset, LANDED))
    for extract_id in frame["extract_id"]:
        with wh.transaction():
            settle(wh, str(extract_id))
