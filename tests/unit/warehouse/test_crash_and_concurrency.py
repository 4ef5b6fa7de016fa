"""A merge killed half-way leaves the warehouse as before; parallel merges end as serial ones do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved, ledger, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.merge import PAUSE_BEFORE_LOCK_ENV, PAUSE_ENV, RELEASE_ENV

REPO = Path(__file__).resolve().parents[3]
POLICE = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]
WAREHOUSE_TABLES = ["shared.person", "shared.pathway_event", "restricted.link_record", "restricted.link_identity",
                    "restricted.quarantine", "ops.audit_log"]


MERGE_CODE = """
import sys
from ptp_pipeline import pipeline
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
rt = Runtime(load_settings())
pipeline.merge(rt, sys.argv[1])
rt.close()
"""


def prepare(rt: Runtime, path: Path, partner: str, dataset: str) -> str:
    """Every stage before merge, in this process (Great Expectations is already imported here)."""
    extract_id, already = pipeline.receive(rt, path, partner, dataset)
    assert not already
    for stage in (pipeline.check, pipeline.pseudonymise, pipeline.validate):
        stage(rt, extract_id)
    return extract_id


def merge_process(env: dict[str, str], extract_id: str, **extra: str) -> subprocess.Popen[bytes]:
    """The merge stage in its own process, as an Airflow task runs it."""
    full = {**os.environ, **env, "PYTHONPATH": str(REPO), **extra}
    return subprocess.Popen([sys.executable, "-c", MERGE_CODE, extract_id], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(marker: Path, proc: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"merge process ended before the pause: {proc.stderr.read().decode() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("merge process never reached the pause inside its transaction")
        time.sleep(0.1)


def snapshot(rt: Runtime, tables: list[str]) -> dict[str, pd.DataFrame]:
    out = {}
    for table in tables:
        frame = rt.warehouse.query(f"SELECT * FROM {table}").astype(str)
        out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def test_merge_killed_half_way_leaves_warehouse_as_before(wh_env: dict[str, str], wh_rt: Runtime,
                                                          tmp_path: Path) -> None:
    first = write_csv(tmp_path / "p1.csv", POLICE, [
        ["Smith", "John", "32874", "LS6 2AB", "M", "", "01/05/2024", "arrest", "500.00"]])
    second = write_csv(tmp_path / "p2.csv", POLICE, [
        ["Smith", "John", "32874", "LS6 2AB", "M", "", "01/07/2024", "custody", "900.00"],
        ["Jones", "Mary", "31000", "LS1 1AA", "F", "943 476 5919", "03/07/2024", "incident", "100"]])
    assert pipeline.ingest(wh_rt, first, "police", "incidents").status == "merged"
    extract_id = prepare(wh_rt, second, "police", "incidents")
    before = snapshot(wh_rt, WAREHOUSE_TABLES[:-1])
    wh_rt.close()  # DuckDB admits one writer process at a time

    marker = tmp_path / "paused"
    proc = merge_process(wh_env, extract_id, **{PAUSE_ENV: str(marker)})
    wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    after = snapshot(wh_rt, WAREHOUSE_TABLES[:-1])
    for table, frame in before.items():
        pd.testing.assert_frame_equal(after[table], frame, obj=table)
    statuses = {r["file_name"]: r["status"] for r in ledger(wh_rt)}
    assert statuses == {"p1.csv": "merged", "p2.csv": "received"}
    assert audit.verify(wh_rt.warehouse) == []

    rerun = pipeline.ingest(wh_rt, second, "police", "incidents")
    assert rerun.status == "merged" and rerun.rows_accepted == 2
    assert wh_rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 3
    assert audit.verify(wh_rt.warehouse) == []
    assert_conserved(wh_rt)


def _state(url: str, home: Path, key: str) -> tuple[set[frozenset[str]], list[tuple[object, ...]], int]:
    """What must not depend on merge order: who is linked to whom, per-extract outcomes, event count."""
    rt = Runtime(load_settings({"PTP_HOME": str(home), "PTP_KEY": key, "PTP_WAREHOUSE": url}))
    try:
        ev = rt.warehouse.query("SELECT event_id, person_id FROM shared.pathway_event")
        persons = {frozenset(g) for _, g in ev.groupby("person_id")["event_id"]}
        rows = sorted((r["extract_id"], r["status"], r["rows_received"], r["rows_accepted"], r["rows_quarantined"])
                      for r in ledger(rt))
        assert audit.verify(rt.warehouse) == []
        assert_conserved(rt)
        n_person = int(rt.warehouse.scalar("SELECT count(*) FROM shared.person"))
        assert n_person == len(persons)
        return persons, rows, len(ev)
    finally:
        rt.close()


@pytest.mark.slow
def test_parallel_merges_on_postgresql_end_as_serial_ones(pg_databases: Callable[[], str], env: dict[str, str],
                                                          synthetic: SyntheticResult, tmp_path: Path) -> None:
    extracts = [e for e in synthetic.extracts if e.partner in ("police", "health")]
    assert len(extracts) == 2
    parallel_url, serial_url = pg_databases(), pg_databases()
    key = env["PTP_KEY"]

    serial_home = tmp_path / "serial"
    rt = Runtime(load_settings({"PTP_HOME": str(serial_home), "PTP_KEY": key, "PTP_WAREHOUSE": serial_url}))
    try:
        for e in extracts:
            assert pipeline.ingest(rt, e.path, e.partner, e.dataset).status == "merged"
    finally:
        rt.close()

    parallel_env = {"PTP_HOME": str(tmp_path / "parallel"), "PTP_KEY": key, "PTP_WAREHOUSE": parallel_url}
    rt = Runtime(load_settings(parallel_env))
    try:
        ids = [prepare(rt, e.path, e.partner, e.dataset) for e in extracts]
    finally:
        rt.close()
    markers = [tmp_path / f"paused-{e.partner}" for e in extracts]
    release = tmp_path / "release"
    procs = [merge_process(parallel_env, extract_id, **{PAUSE_BEFORE_LOCK_ENV: str(m), RELEASE_ENV: str(release)})
             for extract_id, m in zip(ids, markers, strict=True)]
    for marker, proc in zip(markers, procs, strict=True):
        wait_for(marker, proc)
    # both are now inside their merge transactions, rows loaded, at the same time: let them race
    release.write_text("go")
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()

    serial = _state(serial_url, serial_home, key)
    parallel = _state(parallel_url, tmp_path / "parallel", key)
    assert parallel[1] == serial[1]
    assert parallel[2] == serial[2] > 0
    assert parallel[0] == serial[0]
