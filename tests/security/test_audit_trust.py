"""Issue 16.5: a rewritten chain (hashes recomputed), a forged entry with a correct hash and a cut tail all
fail `ptp audit verify`: entries carry an HMAC under a sub-key of the project key, which the database
never holds, and every verification (the nightly housekeeping one too) records the head it saw."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline import housekeeping
from ptp_pipeline.cli import main
from ptp_pipeline.pipeline import ingest
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse.base import Warehouse

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]


def _hash(prev: str, seq: int, at: datetime, actor: str, action: str, extract_id: str | None,
          detail: str | None) -> str:
    """What an attacker with the source code computes: the chain hash needs no key."""
    body = json.dumps([prev, seq, at.isoformat(), actor, action, extract_id, detail], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _as_owner(wh: Warehouse) -> None:
    """An attacker who owns the table (or a superuser) can switch the append-only trigger off."""
    if wh.dialect == "postgresql":
        wh.execute("ALTER TABLE ops.audit_log DISABLE TRIGGER audit_log_append_only")


def _rehash_from(wh: Warehouse, seq: int) -> None:
    rows = wh.query("SELECT * FROM ops.audit_log ORDER BY seq")
    prev = "0" * 64
    for r in rows.itertuples(index=False):
        at = r.logged_at.to_pydatetime()
        if r.seq >= seq:
            digest = _hash(prev, int(r.seq), at, r.actor, r.action, r.extract_id, r.detail)
            wh.execute("UPDATE ops.audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, int(r.seq)))
            prev = digest
        else:
            prev = r.hash


@pytest.fixture
def logged(wh_rt: Runtime, tmp_path: Path) -> Runtime:
    for i, day in enumerate(["01/05/2024", "01/06/2024"]):
        rows = [[f"Smith{j}", "Ann", str(30000 + j), "LS1 1AA", "F", "", day, "arrest", "10"] for j in range(20)]
        assert ingest(wh_rt, write_csv(tmp_path / f"p{i}.csv", POLICE, rows), "police", "incidents").status == "merged"
    assert_conserved(wh_rt)
    return wh_rt


def test_a_rewritten_chain_fails_verification(logged: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    wh = logged.warehouse
    _as_owner(wh)
    wh.execute("UPDATE ops.audit_log SET detail = 'nothing happened' WHERE seq = 2")
    _rehash_from(wh, 2)
    logged.close()
    assert main(["audit", "verify"]) == 6
    assert "entry 2 does not carry a valid signature" in capsys.readouterr().err


def test_a_forged_entry_with_a_correct_hash_fails_even_with_head(logged: Runtime,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    wh = logged.warehouse
    seq, prev = (int(v) if i == 0 else str(v) for i, v in enumerate(wh.query(
        "SELECT seq, hash FROM ops.audit_log ORDER BY seq DESC LIMIT 1").iloc[0]))
    at = datetime(2026, 1, 1, 12, 0, 0)
    detail = "person 17 re-identified; purpose: safeguarding"
    digest = _hash(str(prev), int(seq) + 1, at, "alice", "reidentify", None, detail)
    wh.execute("INSERT INTO ops.audit_log (seq, logged_at, actor, action, extract_id, detail, prev_hash, hash) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (int(seq) + 1, at, "alice", "reidentify", None, detail, prev, digest))
    wh.execute("INSERT INTO ops.audit_log (seq, logged_at, actor, action, extract_id, detail, prev_hash, hash, mac) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (int(seq) + 2, at, "alice", "reidentify", None, detail, digest,
                _hash(digest, int(seq) + 2, at, "alice", "reidentify", None, detail), "ab" * 32))
    logged.close()
    assert main(["audit", "verify", "--head", digest]) == 6
    err = capsys.readouterr().err
    assert f"entry {int(seq) + 1} carries no signature" in err
    assert f"entry {int(seq) + 2} does not carry a valid signature" in err


def test_housekeeping_records_each_head_and_a_cut_tail_shows(logged: Runtime,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    wh = logged.warehouse
    assert housekeeping.verify_audit(logged) == []
    heads = wh.query("SELECT seq, hash FROM ops.audit_head")
    assert len(heads) == 1
    assert int(heads.seq[0]) == int(wh.scalar("SELECT max(seq) FROM ops.audit_log"))
    key = logged.key.subkey("audit").hex()
    everything = "".join(wh.query(f"SELECT * FROM {t}").astype(str).to_csv()
                         for t in ("ops.audit_log", "ops.audit_head"))
    assert key not in everything  # the signing key is never in the database
    _as_owner(wh)
    wh.execute("DELETE FROM ops.audit_log WHERE seq = (SELECT max(seq) FROM ops.audit_log)")
    problems = housekeeping.verify_audit(logged)
    assert any("deleted from its end" in p for p in problems), problems
    # a forged head does not help: it carries no valid signature
    wh.execute("INSERT INTO ops.audit_head (seq, hash, mac, recorded_at) SELECT seq, hash, 'x', now() "
               "FROM ops.audit_log ORDER BY seq DESC LIMIT 1")
    assert any("do not carry a valid signature" in p for p in housekeeping.verify_audit(logged))
