"""The audit chain against a verifier written here from the documented scheme, not from `warehouse/audit.py`.

Scheme (docs and the module docstring): entry n holds seq = n, prev_hash = the hash of entry n-1 (64
zeros for entry 1), hash = SHA-256 of the JSON array [prev_hash, seq, logged_at ISO, actor, action,
extract_id, detail], and mac = HMAC-SHA256 under the project's audit sub-key of "ptp-audit/entry/n/hash".

Each tampering below is applied to a fresh log and both verifiers must agree on it, naming the entry.
The splice case is the one only the prev_hash link catches: every entry in it is well formed and
validly signed (it comes from another log under the same key: a staging copy, a restored backup), but
the chain no longer runs through it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

ZERO = "0" * 64


def independent_problems(wh: Warehouse, key: bytes, expect_head: str | None = None) -> set[int]:
    """Sequence numbers (0 = the log as a whole) the documented scheme says are wrong."""
    rows = wh.query("SELECT seq, logged_at, actor, action, extract_id, detail, prev_hash, hash, mac "
                    "FROM ops.audit_log ORDER BY seq")
    bad: set[int] = set()
    previous = ZERO
    for n, row in enumerate(rows.to_dict("records"), start=1):
        seq = int(row["seq"])
        at = pd.Timestamp(row["logged_at"]).isoformat()
        extract_id = None if pd.isna(row["extract_id"]) else row["extract_id"]
        detail = None if pd.isna(row["detail"]) else row["detail"]
        body = json.dumps([row["prev_hash"], seq, at, row["actor"], row["action"], extract_id, detail],
                          separators=(",", ":"))
        signed = f"ptp-audit/entry/{seq}/{row['hash']}".encode()
        mac = row["mac"] if isinstance(row["mac"], str) else ""
        if (seq != n or row["prev_hash"] != previous or hashlib.sha256(body.encode()).hexdigest() != row["hash"]
                or not hmac.compare_digest(mac, hmac.new(key, signed, hashlib.sha256).hexdigest())):
            bad.add(seq)
        previous = row["hash"]
    if expect_head is not None and expect_head not in set(rows["hash"]):
        bad.add(0)
    return bad


def as_owner(wh: Warehouse) -> None:
    """An attacker who owns the table can switch the append-only trigger off (PostgreSQL)."""
    if wh.dialect == "postgresql":
        wh.execute("ALTER TABLE ops.audit_log DISABLE TRIGGER audit_log_append_only")


def rehash(prev: str, seq: int, at: datetime, actor: str, action: str, extract_id: str | None,
           detail: str | None) -> str:
    """What anyone with the source computes: the chain hash needs no key."""
    body = json.dumps([prev, seq, at.isoformat(), actor, action, extract_id, detail], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def write_log(wh: Warehouse, tag: str, n: int = 6) -> None:
    for i in range(1, n + 1):
        audit.append(wh, f"action{i}", actor=f"{tag}-officer", extract_id=f"police.incidents.{tag}{i}",
                     detail=f"{tag} entry {i}" if i % 2 else None)


def entry(wh: Warehouse, seq: int) -> dict[str, object]:
    return wh.query("SELECT * FROM ops.audit_log WHERE seq = ?", (seq,)).to_dict("records")[0]


def put(wh: Warehouse, row: dict[str, object]) -> None:
    wh.execute("DELETE FROM ops.audit_log WHERE seq = ?", (int(row["seq"]),))  # type: ignore[call-overload]
    wh.execute("INSERT INTO ops.audit_log (seq, logged_at, actor, action, extract_id, detail, prev_hash, hash, mac) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               tuple(None if (v is None or (not isinstance(v, str) and pd.isna(v))) else v for v in (
                   int(row["seq"]), pd.Timestamp(row["logged_at"]).to_pydatetime(),  # type: ignore[call-overload, arg-type]
                   row["actor"], row["action"], row["extract_id"], row["detail"], row["prev_hash"], row["hash"],
                   row["mac"])))


def edit_detail(wh: Warehouse, other: Warehouse) -> str:
    wh.execute("UPDATE ops.audit_log SET detail = 'nothing happened' WHERE seq = 3")
    return "entry 3 was edited"


def edit_and_rehash(wh: Warehouse, other: Warehouse) -> str:
    row = entry(wh, 3)
    row["detail"] = "nothing happened"
    row["hash"] = rehash(str(row["prev_hash"]), 3, pd.Timestamp(row["logged_at"]).to_pydatetime(),  # type: ignore[arg-type]
                         str(row["actor"]), str(row["action"]), str(row["extract_id"]), "nothing happened")
    put(wh, row)
    return "entry 3 does not carry a valid signature"


def edit_and_rehash_to_the_end(wh: Warehouse, other: Warehouse) -> str:
    prev = str(entry(wh, 2)["hash"])
    for seq in range(3, 7):
        row = entry(wh, seq)
        if seq == 3:
            row["actor"] = "someone else"
        at = pd.Timestamp(row["logged_at"]).to_pydatetime()  # type: ignore[arg-type]
        detail = None if pd.isna(row["detail"]) else str(row["detail"])  # type: ignore[call-overload]
        row["prev_hash"], row["hash"] = prev, rehash(prev, seq, at, str(row["actor"]), str(row["action"]),
                                                     str(row["extract_id"]), detail)
        put(wh, row)
        prev = str(row["hash"])
    return "entry 3 does not carry a valid signature"


def forge_a_tail(wh: Warehouse, other: Warehouse) -> str:
    """Cut the last two entries and write two plausible ones in their place, chained but unsigned."""
    wh.execute("DELETE FROM ops.audit_log WHERE seq >= 5")
    prev = str(entry(wh, 4)["hash"])
    at = datetime(2026, 1, 1, 12, 0, 0)
    for seq in (5, 6):
        digest = rehash(prev, seq, at, "pipeline", "purge", None, "nothing removed")
        put(wh, {"seq": seq, "logged_at": at, "actor": "pipeline", "action": "purge", "extract_id": None,
                 "detail": "nothing removed", "prev_hash": prev, "hash": digest, "mac": "00" * 32})
        prev = digest
    return "entry 5 does not carry a valid signature"


def splice_from_another_log(wh: Warehouse, other: Warehouse) -> str:
    """Entry 3 replaced by entry 3 of another log under the same key: well formed and validly signed."""
    put(wh, entry(other, 3))
    return "entry 3 does not follow the entry before it"


def swap_two_entries(wh: Warehouse, other: Warehouse) -> str:
    three, four = entry(wh, 3), entry(wh, 4)
    three["seq"], four["seq"] = 4, 3
    put(wh, three)
    put(wh, four)
    return "entry 3"


def delete_a_middle_entry(wh: Warehouse, other: Warehouse) -> str:
    wh.execute("DELETE FROM ops.audit_log WHERE seq = 3")
    return "entry 3 is missing"


def strip_a_signature(wh: Warehouse, other: Warehouse) -> str:
    wh.execute("UPDATE ops.audit_log SET mac = NULL WHERE seq = 2")
    return "entry 2 carries no signature"


def strip_the_first_signature(wh: Warehouse, other: Warehouse) -> str:
    """By default every entry must be signed, the first one too."""
    wh.execute("UPDATE ops.audit_log SET mac = NULL WHERE seq = 1")
    return "entry 1 carries no signature"


TAMPERINGS: list[Callable[[Warehouse, Warehouse], str]] = [
    edit_detail, edit_and_rehash, edit_and_rehash_to_the_end, forge_a_tail, splice_from_another_log,
    swap_two_entries, delete_a_middle_entry, strip_a_signature, strip_the_first_signature]


@pytest.fixture
def two_logs(wh_rt: Runtime, wh_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    """The log under test and another log under the same project key (on DuckDB, in another folder)."""
    other = Runtime(load_settings({**wh_env, "PTP_HOME": str(tmp_path / "other"),
                                   "PTP_WAREHOUSE": f"duckdb:///{tmp_path / 'other' / 'ptp.duckdb'}"}))
    write_log(wh_rt.warehouse, "real")
    write_log(other.warehouse, "staging")
    yield wh_rt, other
    other.close()


def test_an_intact_log_passes_both_verifiers(two_logs: tuple[Runtime, Runtime]) -> None:
    rt, _ = two_logs
    key = rt.key.subkey("audit")
    assert independent_problems(rt.warehouse, key) == set()
    assert audit.verify(rt.warehouse, record=False) == []
    head_seq, head_hash = audit.head(rt.warehouse)
    assert head_seq == 6 and independent_problems(rt.warehouse, key, expect_head=head_hash) == set()
    assert audit.verify(rt.warehouse, expect_head=head_hash, record=False) == []


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_each_tampering_fails_both_verifiers(two_logs: tuple[Runtime, Runtime],
                                             tamper: Callable[[Warehouse, Warehouse], str]) -> None:
    rt, other = two_logs
    wh = rt.warehouse
    as_owner(wh)
    expected = tamper(wh, other.warehouse)
    assert independent_problems(wh, rt.key.subkey("audit")), "the independent verifier sees the tampering"
    problems = audit.verify(wh, record=False)
    assert any(expected in p for p in problems), problems


def test_a_cut_tail_fails_against_a_head_kept_elsewhere(two_logs: tuple[Runtime, Runtime]) -> None:
    rt, _ = two_logs
    wh = rt.warehouse
    _, kept = audit.head(wh)
    as_owner(wh)
    wh.execute("DELETE FROM ops.audit_log WHERE seq = 6")
    assert independent_problems(wh, rt.key.subkey("audit"), expect_head=kept) == {0}
    assert independent_problems(wh, rt.key.subkey("audit")) == set(), "what is left is a valid, shorter chain"
    problems = audit.verify(wh, expect_head=kept, record=False)
    assert any("deleted from its end" in p for p in problems), problems


def test_verification_records_the_head_it_saw_and_a_later_cut_shows(two_logs: tuple[Runtime, Runtime]) -> None:
    rt, _ = two_logs
    wh = rt.warehouse
    assert audit.verify(wh, record=False) == []
    assert int(wh.scalar("SELECT count(*) FROM ops.audit_head")) == 0
    assert audit.verify(wh) == []
    heads = wh.query("SELECT seq, hash FROM ops.audit_head")
    assert heads["seq"].astype(int).tolist() == [6] and heads["hash"].tolist() == [audit.head(wh)[1]]
    as_owner(wh)
    wh.execute("DELETE FROM ops.audit_log WHERE seq = 6")
    problems = audit.verify(wh)
    assert any("head recorded at entry 6 is no longer in the log" in p for p in problems), problems
    assert int(wh.scalar("SELECT count(*) FROM ops.audit_head")) == 1, "a broken chain records no new head"


def test_entries_written_before_signing_may_lack_a_signature_only_up_to_the_mark(
        two_logs: tuple[Runtime, Runtime]) -> None:
    rt, _ = two_logs
    wh = rt.warehouse
    as_owner(wh)
    wh.execute("UPDATE ops.audit_log SET mac = NULL WHERE seq <= 2")
    assert audit.verify(wh, unsigned_until=2, record=False) == []
    assert audit.verify(wh, unsigned_until=1, record=False) == ["entry 2 carries no signature: it was forged or "
                                                                "its signature removed"]


def test_an_empty_log_is_intact_and_its_head_is_genesis(wh_rt: Runtime) -> None:
    wh = wh_rt.warehouse
    assert audit.head(wh) == (0, ZERO)
    assert audit.verify(wh) == []
    assert int(wh.scalar("SELECT count(*) FROM ops.audit_head")) == 0, "nothing to record"


def test_a_connection_without_the_project_key_cannot_sign(wh_env: dict[str, str]) -> None:
    from ptp_pipeline.errors import KeyMaterialError
    from ptp_pipeline.warehouse import open_warehouse

    wh = open_warehouse(wh_env["PTP_WAREHOUSE"])
    try:
        with pytest.raises(KeyMaterialError, match="signed with the project key") as caught:
            audit.append(wh, "anything")
        assert "PTP_KEY_FILE" in str(caught.value.hint)
        with pytest.raises(KeyMaterialError):
            audit.verify(wh)
        assert int(wh.scalar("SELECT count(*) FROM ops.audit_log")) == 0
    finally:
        wh.close()
