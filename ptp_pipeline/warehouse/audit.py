"""Append-only audit log: each entry carries the hash of the previous one, so edits show, and an HMAC
under a sub-key of the project key, so a rewritten or forged entry shows even when its hashes were
recomputed: the database never holds that key (see `Warehouse.audit_key`, set at the edge).

Heads: every intact verification records the newest entry (`ops.audit_head`, with its own HMAC), and
each later verification checks that entry is still there, so cutting entries off the end shows too.
On PostgreSQL no login may UPDATE or DELETE the log (privileges and a trigger, see schema migration 30).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime

import pandas as pd

from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.warehouse.base import Warehouse

GENESIS = "0" * 64
AUDIT_LOCK = "ptp.audit"


def _entry_hash(prev: str, seq: int, at: datetime, actor: str, action: str,
                extract_id: str | None, detail: str | None) -> str:
    body = json.dumps([prev, seq, at.isoformat(), actor, action, extract_id, detail], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _mac(key: bytes, label: str, seq: int, digest: str) -> str:
    return hmac.new(key, f"ptp-audit/{label}/{seq}/{digest}".encode(), hashlib.sha256).hexdigest()


def _key(wh: Warehouse) -> bytes:
    if wh.audit_key is None:
        raise KeyMaterialError("audit entries are signed with the project key, and this connection has none",
                               hint="Run the command through the pipeline's runtime with PTP_KEY_FILE set.")
    return wh.audit_key()


def append(wh: Warehouse, action: str, *, actor: str = "pipeline", extract_id: str | None = None,
           detail: str | None = None) -> None:
    """Add one entry; call inside the transaction of the change it records. Never pass row values.

    Concurrent writers (PostgreSQL) take the audit lock until their transaction ends, so the chain
    stays one line.
    """
    key = _key(wh)
    with wh.transaction():
        wh.lock(AUDIT_LOCK)
        last = wh.query("SELECT seq, hash FROM ops.audit_log ORDER BY seq DESC LIMIT 1")
        seq = 1 if last.empty else int(last.iat[0, 0]) + 1
        prev = GENESIS if last.empty else str(last.iat[0, 1])
        at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        digest = _entry_hash(prev, seq, at, actor, action, extract_id, detail)
        wh.execute("INSERT INTO ops.audit_log (seq, logged_at, actor, action, extract_id, detail, prev_hash, hash, "
                   "mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (seq, at, actor, action, extract_id, detail, prev, digest, _mac(key, "entry", seq, digest)))


def head(wh: Warehouse) -> tuple[int, str]:
    """The last entry's number and hash: keep it elsewhere; a later `verify --head` proves nothing was cut."""
    last = wh.query("SELECT seq, hash FROM ops.audit_log ORDER BY seq DESC LIMIT 1")
    return (0, GENESIS) if last.empty else (int(last.iat[0, 0]), str(last.iat[0, 1]))


def record_head(wh: Warehouse) -> tuple[int, str]:
    """Record the current head (signed), so the next verification can prove nothing was cut since."""
    key = _key(wh)
    seq, digest = head(wh)
    if seq:
        at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        wh.execute("INSERT INTO ops.audit_head (seq, hash, mac, recorded_at) VALUES (?, ?, ?, ?)",
                   (seq, digest, _mac(key, "head", seq, digest), at))
    return seq, digest


_ACCESS = re.compile(r"; vault access ([0-9,]+)")


def _vault_openings_outside_the_route(wh: Warehouse, rows: pd.DataFrame, key: bytes) -> list[str]:
    """PostgreSQL records every opening of the vault (`restricted.request_vault`); each must be named by a signed
    re-identification entry, or someone opened it without `ptp reidentify` (e.g. straight from psql)."""
    if wh.dialect != "postgresql":
        return []
    access = wh.query("SELECT access_id, login FROM ops.vault_access")
    if access.empty:
        return []
    named: set[int] = set()
    for r in rows.itertuples(index=False):
        mac = r.mac if isinstance(r.mac, str) else ""
        if r.action == "reidentify" and hmac.compare_digest(mac, _mac(key, "entry", int(r.seq), str(r.hash))):
            for match in _ACCESS.finditer(str(r.detail or "")):
                named.update(int(i) for i in match.group(1).split(","))
    outside = access[~access["access_id"].astype(int).isin(named)]
    if outside.empty:
        return []
    logins = ", ".join(sorted(set(outside["login"].astype(str))))
    return [f"the re-identification vault was opened {len(outside)} time(s) outside `ptp reidentify` (no signed "
            f"audit entry names the opening), by login(s) {logins}"]


def verify(wh: Warehouse, expect_head: str | None = None, *, record: bool = True,
           unsigned_until: int = 0) -> list[str]:
    """Problems found in the chain (empty when intact): edited, forged, deleted or reordered entries.

    Every entry's HMAC is checked (entries up to `unsigned_until` may lack one: written before entries
    were signed). Deleting the newest entries leaves a shorter valid chain: the last recorded head, and
    `expect_head` (a hash kept elsewhere from `head`), must still be in it. When intact and `record`, the
    current head is recorded.
    """
    key = _key(wh)
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
        mac = r.mac if isinstance(r.mac, str) else None
        if mac is None:
            if int(r.seq) > unsigned_until:
                problems.append(f"entry {r.seq} carries no signature: it was forged or its signature removed")
        elif not hmac.compare_digest(mac, _mac(key, "entry", int(r.seq), str(r.hash))):
            problems.append(f"entry {r.seq} does not carry a valid signature: it was forged or rewritten")
        prev = r.hash
        expected_seq = int(r.seq) + 1
    problems += _vault_openings_outside_the_route(wh, rows, key)
    by_seq = dict(zip(rows["seq"].astype(int), rows["hash"].astype(str), strict=True))
    heads = wh.query("SELECT seq, hash, mac FROM ops.audit_head ORDER BY recorded_at DESC, seq DESC")
    valid_heads = [(int(h.seq), str(h.hash)) for h in heads.itertuples(index=False)
                   if hmac.compare_digest(str(h.mac), _mac(key, "head", int(h.seq), str(h.hash)))]
    if len(valid_heads) < len(heads):
        problems.append(f"{len(heads) - len(valid_heads)} recorded head(s) do not carry a valid signature")
    if valid_heads:
        seq, digest = max(valid_heads)
        if by_seq.get(seq) != digest:
            problems.append(f"the head recorded at entry {seq} is no longer in the log: entries were deleted "
                            "from its end or rewritten")
    if expect_head and expect_head != GENESIS and expect_head not in set(rows["hash"]):
        problems.append("the recorded head entry is no longer in the log: entries were deleted from its end")
    if not problems and record and wh.can_write("ops.audit_head"):
        record_head(wh)
    return problems


def entries(wh: Warehouse, kind: str | None = None, since: datetime | None = None) -> pd.DataFrame:
    """Audit entries for review (`ptp audit list`): seq, logged_at, actor, action, extract_id, detail, oldest
    first. `kind` keeps actions starting with it (reidentify: every opening, batch and refusal)."""
    where: list[str] = []
    params: list[object] = []
    if kind:
        where.append(f"substr(action, 1, {len(kind)}) = ?")  # a prefix, same on DuckDB and PostgreSQL
        params.append(kind)
    if since is not None:
        where.append("logged_at >= ?")
        params.append(since)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return wh.query(f"SELECT seq, logged_at, actor, action, extract_id, detail FROM ops.audit_log{clause} "
                    "ORDER BY seq", tuple(params))
