"""Housekeeping: raw-extract retention, expiring protocols, audit chain; failures recorded safely."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from helpers import assert_conserved, ledger

from ptp_pipeline import housekeeping, pipeline
from ptp_pipeline.errors import WarehouseError
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.synthetic import SyntheticResult
from ptp_pipeline.warehouse import audit, retention


def _ingest_police(rt: Runtime, synthetic: SyntheticResult) -> str:
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    out = pipeline.ingest(rt, extract.path, "police", "incidents")
    assert out.status == "merged" and out.extract_id
    assert_conserved(rt)
    return out.extract_id


def test_purge_raw_deletes_raw_copies_only_after_retention(rt: Runtime, synthetic: SyntheticResult) -> None:
    extract_id = _ingest_police(rt, synthetic)
    raw = rt.settings.work_dir / extract_id / "raw"
    (row,) = ledger(rt)
    sha = str(rt.warehouse.scalar("SELECT sha256 FROM ops.extract_ledger"))
    taken = rt.settings.claimed_dir / "police" / "incidents" / ".taken" / sha[:32] / "p.csv"
    taken.parent.mkdir(parents=True)
    taken.write_text("the taken landing copy")
    received = row["received_at"].to_pydatetime()  # type: ignore[attr-defined]
    assert raw.exists()
    assert housekeeping.purge_raw(rt, received + timedelta(days=29)) == housekeeping.RawPurge(0, 0)
    assert raw.exists() and taken.exists()
    result = housekeeping.purge_raw(rt, received + timedelta(days=31))  # police keeps raw extracts 30 days
    assert result == housekeeping.RawPurge(1, 2) and not raw.exists() and not taken.exists()
    assert housekeeping.verify_audit(rt) == []
    assert rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log WHERE action = 'purge_raw'") == 1
    assert_conserved(rt)  # the ledger keeps its counts



def test_a_second_purge_removes_and_counts_nothing_more(rt: Runtime, synthetic: SyntheticResult) -> None:
    extract_id = _ingest_police(rt, synthetic)
    (row,) = ledger(rt)
    as_of = row["received_at"].date() + timedelta(days=31)  # type: ignore[attr-defined]  # police: raw 30 days
    first = retention.purge(rt, as_of)
    assert first.work_folders_deleted == 1 and not (rt.settings.work_dir / extract_id).exists()
    again = retention.purge(rt, as_of)  # its work folder is gone, its old events too: nothing left to count
    assert (again.events_purged, again.work_folders_deleted) == (0, 0)
    assert [n for *_, n in again.per_dataset] == [0] * len(again.per_dataset)
    assert rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log WHERE action = 'purge_raw'") == 1
    assert audit.verify(rt.warehouse) == []
    assert_conserved(rt)

def test_expiring_protocols_warns_within_30_days(rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    police = next(p for p in rt.protocols if p.id == "police-incidents")
    with caplog.at_level(logging.WARNING):
        soon = housekeeping.expiring_protocols(rt, police.valid_to - timedelta(days=10))
    assert {"protocol": "police-incidents", "version": 1, "partner": "police", "dataset": "incidents",
            "valid_to": police.valid_to.isoformat(), "days_left": 10} in soon
    assert "police-incidents v1" in caplog.text
    assert housekeeping.expiring_protocols(rt, police.valid_to - timedelta(days=400)) == []


def test_verify_audit_finds_an_edited_entry(rt: Runtime, synthetic: SyntheticResult) -> None:
    _ingest_police(rt, synthetic)
    assert housekeeping.verify_audit(rt) == []
    rt.warehouse.execute("UPDATE ops.audit_log SET detail = 'tampered' WHERE seq = 1")
    assert housekeeping.verify_audit(rt) == ["entry 1 was edited after it was written"]


def test_record_failure_marks_the_extract_and_never_quotes_foreign_errors(rt: Runtime,
                                                                           synthetic: SyntheticResult) -> None:
    extract = next(e for e in synthetic.extracts if e.partner == "council")
    extract_id, _ = pipeline.receive(rt, extract.path, "council", "contacts")
    pipeline.record_failure(rt, "ptp_ingest_council_contacts.check", ValueError("Smith, John 01/02/1980"),
                            extract_id=extract_id, tries=5)
    (row,) = ledger(rt)
    assert row["status"] == "failed"
    assert row["reason"] == "ptp_ingest_council_contacts.check failed after 5 tries: ValueError"
    detail = rt.warehouse.scalar("SELECT detail FROM ops.audit_log WHERE action = 'task_failed'")
    assert "Smith" not in detail and "ValueError" in detail
    assert pipeline.describe_failure(WarehouseError("cannot open the DuckDB warehouse x")).startswith("[PTP600]")
    assert housekeeping.verify_audit(rt) == []
    extract_id2, already = pipeline.receive(rt, extract.path, "council", "contacts")  # a rerun starts afresh
    assert extract_id2 == extract_id and not already and ledger(rt)[0]["status"] == "received"


def test_unprocessed_claimed_files_are_reported_not_deleted(rt: Runtime, synthetic: SyntheticResult) -> None:
    import os
    from datetime import datetime

    _ingest_police(rt, synthetic)
    sha = str(rt.warehouse.scalar("SELECT sha256 FROM ops.extract_ledger"))
    claimed = rt.settings.claimed_dir / "police" / "incidents"
    done = claimed / ".taken" / sha[:32] / "merged.csv"
    stuck = claimed / ".taken" / ("f" * 32) / "stuck.csv"
    waiting = claimed / "00000000000000000001_waiting.csv"
    for path in (done, stuck, waiting):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        os.utime(path, (1_700_000_000, 1_700_000_000))  # Nov 2023
    assert housekeeping.unprocessed_files(rt, datetime(2023, 11, 14, 12)) == {}  # not a day old yet
    assert housekeeping.unprocessed_files(rt, datetime(2023, 11, 20)) == {"police/incidents": 2}
    assert stuck.exists() and waiting.exists()
