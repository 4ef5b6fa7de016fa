"""Live: files dropped into a landing folder are ingested by a real Airflow on the CeleryExecutor.

One test, one stack (PostgreSQL metadata DB, local Redis, api-server, dag-processor, triggerer,
scheduler, Celery worker): once the watchers run, the health protocol file is broken; the real
dag-processor records an import error for its DAG file alone and marks only its DAG stale. Police
files are then dropped: the landing watcher claims them, `ptp_dispatch` starts one ingest run per file
(run id `file__<sha256[:32]>`), every task runs on the Celery worker, and the same content dropped
again starts no second run.
"""

from __future__ import annotations

import csv
import re
import secrets
import shutil
import time
from pathlib import Path

import pytest
from airflow_stack import AirflowStack
from helpers import assert_conserved, ledger
from leaks import Identifiers, Scanner, scan_files_with_control

from ptp_pipeline.intake import sha256_file
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

pytestmark = [pytest.mark.airflow, pytest.mark.slow]
INGEST = "ptp_ingest_police_incidents"


LIVE = {"ptp_dispatch", "ptp_pathways", "ptp_housekeeping", "ptp_ingest_police_incidents",
        "ptp_ingest_council_contacts", "ptp_ingest_health_attendances", "ptp_ingest_licensing_register"}


def _live_dags(stack: AirflowStack) -> set[str]:
    """DAGs the scheduler will run: parsed, not stale."""
    return {r[0] for r in stack.sql("SELECT dag_id FROM dag WHERE NOT is_stale")}


def _ingest_runs(stack: AirflowStack) -> dict[str, str]:
    return dict(stack.sql("SELECT run_id, state FROM dag_run WHERE dag_id = %s", (INGEST,)))  # type: ignore[arg-type]


def test_dropped_files_run_through_watcher_dispatch_and_celery(tmp_path: Path, synthetic: SyntheticResult) -> None:
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    home = tmp_path / "home"
    protocols = tmp_path / "protocols"
    shutil.copytree(Path(__file__).resolve().parents[2] / "protocols", protocols)
    ptp_env = {"PTP_HOME": str(home), "PTP_KEY": secrets.token_hex(32), "PTP_WATCH_INTERVAL": "1",
               "PTP_PROTOCOLS_DIR": str(protocols)}
    landing = home / "landing" / "police" / "incidents"
    # two different extracts: the synthetic one and the same without its last 10 rows
    second = tmp_path / "police_b.csv"
    lines = extract.path.read_text().splitlines()
    second.write_text("\n".join(lines[:-10]) + "\n")
    stack = AirflowStack(tmp_path / "stack", ptp_env)
    try:
        stack.start()
        startup = stack.wait_for("the landing watchers to run in the triggerer", lambda: stack.sql(
            "SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")[0][0] >= 3, timeout=180)
        stack.wait_for("every DAG to be parsed", lambda: _live_dags(stack) == LIVE, timeout=60)
        # a protocol file breaks while the stack runs: only its own DAG file fails, only its DAG goes stale
        (protocols / "health_attendances.yaml").write_text("id: health-attendances\nfields: [unclosed\n")
        broken = stack.wait_for("the import error of the broken protocol's DAG file", lambda: stack.sql(
            "SELECT count(*) FROM import_error WHERE filename = 'ptp_protocol_health_attendances.py'")[0][0] == 1,
            timeout=120)
        (error,) = stack.sql("SELECT filename, stacktrace FROM import_error")
        assert "health_attendances.yaml:3: not valid YAML" in error[1]
        stack.wait_for("only the broken protocol's DAG to be stale",
                       lambda: _live_dags(stack) == LIVE - {"ptp_ingest_health_attendances"}, timeout=120)
        landing.mkdir(parents=True)
        dropped = time.monotonic()
        for src, name in ((extract.path, "police_a.csv"), (second, "police_b.csv")):
            shutil.copyfile(src, landing / f"{name}.part")
            (landing / f"{name}.part").rename(landing / name)  # the partner's atomic drop
        expected = {f"file__{sha256_file(p)[:32]}" for p in (extract.path, second)}
        stack.wait_for("two successful ingest runs", lambda: _ingest_runs(stack) == dict.fromkeys(expected, "success"),
                       timeout=420)  # about 10 s on an idle 2-core machine; minutes when it is shared
        to_success = time.monotonic() - dropped
        # the same content again: claimed and taken, but no second run
        shutil.copyfile(extract.path, landing / "police_a_again.csv")
        stack.wait_for("the re-sent file to be taken", lambda: any(
            p.name == "police_a_again.csv" for p in (home / "claimed").rglob("*.csv")), timeout=90)
        stack.wait_for("the dispatch run for the re-sent file to finish", lambda: stack.sql(
            "SELECT count(*) FROM dag_run WHERE dag_id = 'ptp_dispatch' AND state = 'running'")[0][0] == 0
            and stack.sql("SELECT count(*) FROM task_instance WHERE dag_id = 'ptp_dispatch' "
                          "AND task_id = 'start_ingest' AND state = 'skipped'")[0][0] >= 1, timeout=90)
        assert set(_ingest_runs(stack)) == expected
        triggers = stack.sql("SELECT DISTINCT classpath FROM trigger")
        assert triggers == [("ptp_pipeline.triggers.ClaimingDirectoryTrigger",)]
        assert [r[0] for r in stack.sql("SELECT filename FROM import_error")] == ["ptp_protocol_health_attendances.py"]
        assert _live_dags(stack) == LIVE - {"ptp_ingest_health_attendances"}
        queues = stack.sql("SELECT DISTINCT queue FROM task_instance WHERE dag_id = %s", (INGEST,))
        assert queues == [(stack.queue,)]
        worker_log = (stack.root / "worker.log").read_text()
        assert worker_log.count("succeeded in") >= 12, stack.logs()  # 6 ingest tasks x 2 runs, on Celery
        print(f"\nstartup to watchers running: {startup:.1f} s; protocol broken to import error: {broken:.1f} s; "
              f"drop to 2 ingest runs succeeded: {to_success:.1f} s")
        ready = [line for line in worker_log.splitlines() if "ready." in line]
        done = [line for line in worker_log.splitlines() if "succeeded in" in line or "already exists" in line]
        print("\n".join(ready + done[:3] + ["..."] + done[-4:]))
    finally:
        stack.stop()
    # nothing leaked: no postcode, NHS number or full name from the extract in any process or task log
    with extract.path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    needles = (Identifiers().add("postcode", [r["home_postcode"] for r in rows])
               .add("nhs", [r["nhs_number"] for r in rows if r["nhs_number"].strip()])
               .add("name", [f"{r['forenames']} {r['surname']}".strip() for r in rows])
               .add("dob", [r["birth_date"] for r in rows if "/" in r["birth_date"] or "-" in r["birth_date"]]))
    assert len(needles) > 20
    logs = [p for p in stack.root.rglob("*.log") if p.is_file()]
    assert len(logs) > 5  # process logs plus task logs
    assert scan_files_with_control(logs, stack.root, Scanner(needles), ".log") == []
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    # each stage's task log says what it did in one line: counts and seconds (not GX internals)
    summaries = re.findall(r"(check|pseudonymise|validate|merge) of extract \S+ done in [0-9.]+ s: ([^;]*);", text)
    assert {stage for stage, _ in summaries} == {"check", "pseudonymise", "validate", "merge"}, summaries
    assert f"{extract.rows:,} received" in text and " accepted" in text
    assert "Calculating Metrics" not in text
    rt = Runtime(load_settings(ptp_env))
    try:
        rows = ledger(rt)
        assert sorted((r["status"], r["rows_received"]) for r in rows) == sorted(
            [("merged", extract.rows), ("merged", extract.rows - 10)])
        assert_conserved(rt)
    finally:
        rt.close()
    assert not list(landing.iterdir())  # every file was claimed
