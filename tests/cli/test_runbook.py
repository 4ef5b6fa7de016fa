"""Runbook commands: `ptp reprocess` (a refused extract after its cause is fixed) and `ptp backup`."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from helpers import assert_conserved, ledger

from ptp_pipeline import intake
from ptp_pipeline.cli import main
from ptp_pipeline.pipeline import ingest
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
SEX_FIELD = """  - {name: sex, type: code, role: quasi_identifier, treatment: keep, identifies: sex,
     constraints: {allowed_values: [M, F, U]}}
"""


def _protocols_without_sex_field(folder: Path) -> Path:
    """The shipped protocols, but police's lacks the `sex` field: its extracts are refused (unexpected column)."""
    shutil.copytree(REPO / "protocols", folder)
    police = folder / "police_incidents.yaml"
    text = police.read_text()
    assert SEX_FIELD in text
    police.write_text(text.replace(SEX_FIELD, ""))
    return folder


def _arrive_through_intake(home: Path, source: Path) -> intake.Taken:
    """What the watcher and `ptp_dispatch` do with a landed file: claim it, take it (one run id per content)."""
    landing = home / "landing" / "police" / "incidents"
    landing.mkdir(parents=True, exist_ok=True)
    if source.parent != landing:
        shutil.copyfile(source, landing / source.name)
    claimed = home / "claimed" / "police" / "incidents"
    assert intake.claim_all(landing, claimed)
    (taken,) = intake.take_pending(claimed)
    return taken


def test_reprocess_hands_a_refused_extract_back_with_a_new_run_id(
        env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused under a wrong protocol; the protocol is fixed; the same file must not be skipped again."""
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    protocols = _protocols_without_sex_field(tmp_path / "protocols")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    home = Path(env["PTP_HOME"])
    first = _arrive_through_intake(home, extract.path)
    assert first.run_id == f"file__{first.sha256[:32]}"
    rt = Runtime(load_settings())
    try:
        refused = ingest(rt, Path(first.path), "police", "incidents")
    finally:
        rt.close()
    assert refused.status == "refused" and "sex" in str(refused.reason)
    assert refused.extract_id is not None

    shutil.copyfile(REPO / "protocols" / "police_incidents.yaml", protocols / "police_incidents.yaml")  # the fix
    assert main(["reprocess", refused.extract_id]) == 0
    landing = home / "landing" / "police" / "incidents"
    assert [p.name for p in landing.iterdir()] == [Path(first.path).name]  # back where the watcher looks
    second = _arrive_through_intake(home, landing / Path(first.path).name)
    assert second.sha256 == first.sha256
    assert second.run_id == f"file__{first.sha256[:32]}__attempt2"  # a new run: not skipped as a duplicate
    rt = Runtime(load_settings())
    try:
        merged = ingest(rt, Path(second.path), "police", "incidents")
        assert merged.status == "merged" and merged.rows_received == extract.rows
        (row,) = ledger(rt)
        assert row["status"] == "merged"
        entries = rt.warehouse.query("SELECT actor, action, extract_id, detail FROM ops.audit_log "
                                     "WHERE action = 'reprocess'")
        assert len(entries) == 1
        assert entries["actor"].iloc[0].startswith("cli")
        assert entries["extract_id"].iloc[0] == refused.extract_id
        assert "attempt 2" in entries["detail"].iloc[0] and "put back in landing" in entries["detail"].iloc[0]
        assert_conserved(rt)
    finally:
        rt.close()
    # merged now: nothing to re-process, and the command says so
    assert main(["reprocess", refused.extract_id]) != 0
    assert main(["reprocess", "police.incidents.0000000000000000"]) != 0


def test_reprocess_now_ingests_the_kept_file_in_place(
        env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    protocols = _protocols_without_sex_field(tmp_path / "protocols")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    home = Path(env["PTP_HOME"])
    taken = _arrive_through_intake(home, extract.path)
    rt = Runtime(load_settings())
    try:
        refused = ingest(rt, Path(taken.path), "police", "incidents")
    finally:
        rt.close()
    assert refused.status == "refused" and refused.extract_id
    assert main(["reprocess", refused.extract_id, "--now"]) == 4  # not fixed yet: refused again
    shutil.copyfile(REPO / "protocols" / "police_incidents.yaml", protocols / "police_incidents.yaml")
    capsys.readouterr()
    assert main(["reprocess", refused.extract_id, "--now"]) == 0
    assert "merged" in capsys.readouterr().out
    assert not list((home / "landing" / "police" / "incidents").iterdir())  # ingested where it was kept
    rt = Runtime(load_settings())
    try:
        (row,) = ledger(rt)
        assert row["status"] == "merged" and row["rows_received"] == extract.rows
        assert rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log WHERE action = 'reprocess'") == 2
        assert_conserved(rt)
    finally:
        rt.close()


def test_reprocess_without_the_kept_file_lets_a_resent_file_through(
        env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past retention the taken copy is gone: the partner re-sends, and the re-sent file gets a new run."""
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(_protocols_without_sex_field(tmp_path / "protocols")))
    home = Path(env["PTP_HOME"])
    taken = _arrive_through_intake(home, extract.path)
    rt = Runtime(load_settings())
    try:
        refused = ingest(rt, Path(taken.path), "police", "incidents")
    finally:
        rt.close()
    assert refused.extract_id
    shutil.rmtree(Path(taken.path).parent)  # what the retention purge does
    assert main(["reprocess", refused.extract_id]) == 0
    resent = _arrive_through_intake(home, extract.path)
    assert resent.run_id.endswith("__attempt2")
    rt = Runtime(load_settings())
    try:
        assert "no longer kept" in str(rt.warehouse.scalar(
            "SELECT detail FROM ops.audit_log WHERE action = 'reprocess'"))
        assert_conserved(rt)
    finally:
        rt.close()


def test_backup_is_a_consistent_owner_only_copy_of_the_duckdb_warehouse(
        env: dict[str, str], tmp_path: Path, synthetic: SyntheticResult) -> None:
    import duckdb

    rt = Runtime(load_settings())
    try:
        for extract in synthetic.extracts:
            assert ingest(rt, extract.path, extract.partner, extract.dataset).status == "merged"
        assert_conserved(rt)
        events = rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event")
        audit_rows = rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log")
    finally:
        rt.close()
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    dest = backups / "ptp-backup.duckdb"
    old = os.umask(0o022)  # a permissive umask must not leak into the copy
    try:
        assert main(["backup", str(dest)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    con = duckdb.connect(str(dest), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM shared.pathway_event").fetchone() == (events,)
        assert con.execute("SELECT count(*) FROM ops.audit_log").fetchone() == (audit_rows,)
        assert con.execute("SELECT count(*) FROM ops.extract_ledger WHERE status = 'merged'").fetchone() == (3,)
    finally:
        con.close()
    assert main(["backup", str(dest)]) != 0  # never overwrites
    rt = Runtime(load_settings())
    try:
        detail = rt.warehouse.scalar("SELECT detail FROM ops.audit_log WHERE action = 'backup'")
        assert "ptp-backup.duckdb" in str(detail)
        assert rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log") == audit_rows + 1
        assert_conserved(rt)
    finally:
        rt.close()


def test_backup_on_postgresql_points_to_pg_dump(env: dict[str, str], pg_database: str,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PTP_WAREHOUSE", pg_database)
    assert main(["backup", str(Path(env["PTP_HOME"]) / "x.duckdb")]) != 0
    assert "pg_dump" in capsys.readouterr().err
