"""Append-only audit log: each entry carries the hash of the previous one, so edits show."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from ptp_pipeline.warehouse.base import Warehouse

GENESIS = "0" * 64
AUDIT_LOCK = "ptp.audit"


def _entry_hash(prev: str, seq: int, at: datetime, actor: str, action: str,
                extract_id: str | None, detail: str | None) -> str:
    body = json.dumps([prev, seq, at.isoformat(), actor, action, extract_id, detail], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def append(wh: Warehouse, action: str, *, actor: str = "pipeline", extract_id: str | None = None,
           detail: str | None = None) -> None:
    """Add one entry; call inside the transaction of the change it records. Never pass row values.

    Concurrent writers (PostgreSQL) take the audit lock until their transaction ends, so the chain
    stays one line.
    """
    with wh.transaction():
        wh.lock(AUDIT_LOCK)
        last = wh.query("SELECT seq, hash FROM ops.audit_log ORDER BY seq DESC LIMIT 1")
        seq = 1 if last.empty else int(last.iat[0, 0]) + 1
        prev = GENESIS if last.empty else str(last.iat[0, 1])
        at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        digest = _entry_hash(prev, seq, at, actor, action, extract_id, detail)
        wh.execute("INSERT INTO ops.audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (seq, at, actor, action, extract_id, detail, prev, digest))


def head(wh: Warehouse) -> tuple[int, str]:
    """The last entry's number and hash: keep it elsewhere; a later `verify --head` proves nothing was cut."""
    last = wh.query("SELECT seq, hash FROM ops.audit_log ORDER BY seq DESC LIMIT 1")
    return (0, GENESIS) if last.empty else (int(last.iat[0, 0]), str(last.iat[0, 1]))


def verify(wh: Warehouse, expect_head: str | None = None) -> list[str]:
    """Problems found in the chain (empty when intact): edited, deleted or reordered entries.

    Deleting the newest entries leaves a shorter valid chain; `expect_head` (a hash recorded
    earlier from `head`) must still be in the chain, which catches that.
    """
    rows = wh.query("SELECT * FROM ops.audit_log ORDER BY seq")
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    for r in rows.itertuples(index=False):
        if r.seq != expected_seq:
            problems.append(f"entry {expected_seq} is missing (next is {r.seq})")
        if r.prev_hash != prev:
            problems.append(f"entry {r.seq} does not follow the entry before it")
        at = r.logged_at.to_pydatetime() if hasattr(r.logged_at, "to_pydatetime") else r.logged_at
        if _entry_hash(r.prev_hash, int(r.seq), at, r.actor, r.action, r.extract_id, r.detail) != r.hash:
            problems.append(f"entry {r.seq} was edited after it was written")
        prev = r.hash
        expected_seq = int(r.seq) + 1
    if expect_head and expect_head != GENESIS and expect_head not in set(rows["hash"]):
        problems.append("the recorded head entry is no longer in the log: entries were deleted from its end")
    return problems
