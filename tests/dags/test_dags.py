"""Airflow: the DAG folder imports cleanly, DAGs are thin, and an ingest DAG runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_conserved, ledger, run_police_dag_with_an_extra_column

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"ptp_ingest_council_contacts", "ptp_ingest_health_attendances", "ptp_ingest_police_incidents",
            "ptp_ingest_licensing_register", "ptp_pathways", "ptp_dispatch", "ptp_housekeeping"}
pytestmark = pytest.mark.airflow


def test_dagbag_imports_every_dag_without_errors(airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED
    for dag_id in bag.dag_ids:
        dag = bag.get_dag(dag_id)
        assert dag is not None
        assert "ptp" in dag.tags
        assert dag.owner == "ptp-operations"
        assert all(t.retries >= 1 for t in dag.tasks)
    structure = {dag_id: sorted((t.task_id, d) for t in bag.dags[dag_id].tasks for d in sorted(t.downstream_task_ids))
                 for dag_id in ("ptp_ingest_police_incidents", "ptp_dispatch", "ptp_housekeeping")}
    assert structure == {  # a snapshot: changing it changes what operators see in the UI
        "ptp_ingest_police_incidents": [],  # one task: ingest_files
        "ptp_dispatch": [("take_pending", "start_ingest")],
        "ptp_housekeeping": [("purge_retention", "verify_audit_chain")],
    }
    assert {t.task_id: t.pool for t in bag.dags["ptp_ingest_police_incidents"].tasks} == {
        "ingest_files": "ptp_warehouse_writer"}  # one task: each task costs seconds of scheduling (bench/latency.py)
    assert bag.dags["ptp_dispatch"].timetable.asset_condition is not None


def test_parsing_dags_does_no_data_work() -> None:
    """Parse in a clean process: no pandas, DuckDB, GX, psycopg or SciPy imported, no key needed."""
    code = (
        "import sys, json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag({str(REPO / 'dags')!r})\n"
        "heavy = [m for m in ('pandas', 'duckdb', 'great_expectations', 'psycopg', 'scipy')"
        " if m in sys.modules]\n"
        "print(json.dumps({'dags': len(bag.dags), 'errors': len(bag.import_errors), 'heavy': heavy}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTP_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"dags": len(EXPECTED), "errors": 0, "heavy": []}


def test_each_partners_ingest_dag_then_pathways_run_end_to_end(airflow_db: Path, env: dict[str, str],
                                                               synthetic: SyntheticResult) -> None:
    """Police and health by conf `path`; council by hand with no conf, from its landing folder."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags"))
    for extract in synthetic.extracts:
        dag = bag.get_dag(f"ptp_ingest_{extract.partner}_{extract.dataset}")
        assert dag is not None
        if extract.partner == "council":
            landing = Path(env["PTP_HOME"]) / "landing" / extract.partner / extract.dataset
            landing.mkdir(parents=True)
            shutil.copyfile(extract.path, landing / extract.path.name)
            run = dag.test()
            assert not list(landing.iterdir())  # claimed and taken
        else:
            run = dag.test(run_conf={"path": str(extract.path)})
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success" and set(states.values()) == {"success"}, (extract.partner, states)
    rt = Runtime(load_settings(env))
    try:
        rows = ledger(rt)
        assert sorted((r["partner"], r["status"], r["rows_received"]) for r in rows) == sorted(
            (e.partner, "merged", e.rows) for e in synthetic.extracts)
        assert_conserved(rt)
        assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == sum(
            int(r["rows_accepted"]) for r in rows)  # type: ignore[call-overload]
    finally:
        rt.close()
    pathways = bag.get_dag("ptp_pathways")
    assert pathways is not None
    assert pathways.test().state == "success"


def test_housekeeping_dag_purges_and_verifies(airflow_db: Path, env: dict[str, str],
                                              synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """A nightly run 400 days after an extract arrived deletes its raw copy, old task logs and Airflow
    metadata older than 90 days (`airflow db clean`), and finds the audit chain intact."""
    import os
    import time
    from datetime import UTC, datetime, timedelta

    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("PTP_TASK_LOG_DAYS", "1000")  # relative to the run's date, 400 days ahead
    monkeypatch.setenv("PTP_AIRFLOW_DB_DAYS", "90")  # relative to today: a run's date may lie ahead
    metadata = conf.get("database", "sql_alchemy_conn")
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_METADATA", json.dumps({"conn_type": "generic",
                                                                    "extra": {"sql_alchemy_conn": metadata}}))
    logs = Path(conf.get("logging", "base_log_folder"))
    old = logs / "dag_id=gone" / "run_id=r" / "task_id=t" / "attempt=1.log"
    recent = logs / "dag_id=kept" / "run_id=r" / "task_id=t" / "attempt=1.log"
    for path, days in ((old, 700), (recent, 500)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("task log\n")
        then = time.time() - days * 86400
        os.utime(path, (then, then))

    from ptp_pipeline import pipeline

    extract = next(e for e in synthetic.extracts if e.partner == "health")
    rt = Runtime(load_settings(env))
    try:
        extract_id = pipeline.ingest(rt, extract.path, "health", "attendances").extract_id
        assert extract_id
    finally:
        rt.close()
    raw = Path(env["PTP_HOME"]) / "work" / extract_id / "raw"
    assert raw.exists()
    bag = DagBag(str(REPO / "dags"))
    pathways = bag.get_dag("ptp_pathways")
    assert pathways is not None and pathways.test().state == "success"
    old_run = pathways.test().run_id  # made 200 days old below: gone after the clean-up; the other stays
    import sqlalchemy

    engine = sqlalchemy.create_engine(metadata)
    with engine.begin() as con:
        con.execute(sqlalchemy.text("UPDATE dag_run SET start_date = :then WHERE run_id = :run"),
                    {"then": datetime.now(UTC) - timedelta(days=200), "run": old_run})

    def pathways_runs() -> set[str]:
        with engine.connect() as con:
            rows = con.execute(sqlalchemy.text("SELECT run_id FROM dag_run WHERE dag_id = 'ptp_pathways'"))
            return {r[0] for r in rows}

    before = pathways_runs()  # with runs of earlier tests (one metadata DB per session), all of today
    assert old_run in before
    dag = bag.get_dag("ptp_housekeeping")
    assert dag is not None
    run = dag.test(run_after=datetime.now(UTC) + timedelta(days=400))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"purge_retention": "success", "verify_audit_chain": "success",
                      "expiring_protocols": "success", "late_deliveries": "success",
                      "purge_task_logs": "success", "clean_airflow_metadata": "success"}, states
    assert pathways_runs() == before - {old_run}  # 200 days old: deleted; today's: kept
    assert not raw.exists()
    assert not old.exists() and not (logs / "dag_id=gone").exists()  # the file, then its empty folders
    assert recent.exists()
    rt = Runtime(load_settings(env))
    try:
        assert rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log WHERE action = 'purge_raw'") == 1
        assert_conserved(rt)
    finally:
        rt.close()


def test_data_errors_fail_at_once_and_are_recorded(airflow_db: Path, env: dict[str, str],
                                                   synthetic: SyntheticResult, tmp_path: Path) -> None:
    """A refused extract fails its task on the first try (retries are for transient errors), and the
    failure callback adds an audit entry naming the stage; a missing file fails at once, by the retry policy."""
    dag, run = run_police_dag_with_an_extra_column(synthetic.extracts, tmp_path)
    assert run.state == "failed"
    (ti,) = run.get_task_instances()
    assert ti.state == "failed" and ti.try_number == 1
    run = dag.test(run_conf={"path": str(tmp_path / "missing.csv")})
    (ti,) = run.get_task_instances()
    assert ti.state == "failed" and ti.try_number == 1
    rt = Runtime(load_settings(env))
    try:
        (row,) = ledger(rt)
        assert row["status"] == "refused" and "notes" in str(row["reason"])
        assert_conserved(rt)
        failed = rt.warehouse.query(
            "SELECT extract_id, detail FROM ops.audit_log WHERE action = 'task_failed' ORDER BY seq")
        details = list(failed["detail"])
        assert len(details) == 2, details
        assert failed["extract_id"].iloc[0] == row["extract_id"]  # the callback found the mapped task's extract
        assert details[0].startswith("file police_extra_column.csv: ptp_ingest_police_incidents.ingest_files (check) "
                                     "failed after 1 try: [PTP400]")
        assert details[1].startswith("file missing.csv: ptp_ingest_police_incidents.ingest_files (receive) failed "
                                     "after 1 try")
    finally:
        rt.close()


def test_housekeeping_dag_purges_then_fails_on_an_altered_audit_log(airflow_db: Path, env: dict[str, str],
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from helpers import protocols_valid_from, write_csv

    from ptp_pipeline import pipeline

    protocols = protocols_valid_from(tmp_path / "protocols", "2010-01-01")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    env = {**env, "PTP_PROTOCOLS_DIR": str(protocols)}
    header = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
              "incident_type", "estimated_cost"]
    rows = [["Smith", "John", "32874", "LS6 2AB", "M", "", day, "arrest", "10"] for day in ("01/05/2015", "01/05/2024")]
    rt = Runtime(load_settings(env))
    try:
        pipeline.ingest(rt, write_csv(tmp_path / "p.csv", header, rows), "police", "incidents")
    finally:
        rt.close()
    dag = DagBag(str(REPO / "dags")).get_dag("ptp_housekeeping")
    assert dag is not None
    assert dag.test().state == "success"
    rt = Runtime(load_settings(env))
    try:
        assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 1  # 2015 is past 6 years
        assert_conserved(rt)
        rt.warehouse.execute("UPDATE ops.audit_log SET detail = 'edited' WHERE seq = 1")
    finally:
        rt.close()
    run = dag.test()
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"purge_retention": "success", "verify_audit_chain": "failed", "expiring_protocols": "success",
                      "late_deliveries": "success", "purge_task_logs": "success",
                      "clean_airflow_metadata": "success"}  # no `airflow_metadata` connection: a warning only


def test_retry_policy_retries_transient_errors_only() -> None:
    from airflow.sdk import RetryAction

    from ptp_pipeline.dag_factory import RETRY_POLICY
    from ptp_pipeline.errors import ExtractError, KeyMaterialError, WarehouseError

    def action(exc: BaseException) -> RetryAction:
        return RETRY_POLICY.evaluate(exc, try_number=1, max_tries=5).action

    assert action(WarehouseError("warehouse locked")) is RetryAction.RETRY
    assert action(ConnectionRefusedError()) is RetryAction.RETRY
    assert action(ExtractError("bad header")) is RetryAction.FAIL
    assert action(KeyMaterialError("no key")) is RetryAction.FAIL
    assert action(RuntimeError()) is RetryAction.DEFAULT


def _watched(dispatch: Any) -> set[str]:
    """Names of the landing assets the dispatcher is scheduled on."""
    def names(node: Any) -> set[str]:
        return set().union(*(names(o) for o in node.objects)) if hasattr(node, "objects") else {node.name}

    return names(dispatch.timetable.asset_condition)


def test_a_broken_protocol_breaks_only_its_own_dag_file(airflow_db: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Syntax error in one file, a bad field in another: each is an import error of its own DAG file only.

    A real dag-processor marks every DAG of a file with an import error as stale, so the errors must sit
    in files that hold nothing else: dispatch, pathways, housekeeping and the health DAG keep loading.
    """
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    protocols = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", protocols)
    (protocols / "police_incidents.yaml").write_text("id: police-incidents\nfields: [unclosed\n")
    council = protocols / "council_contacts.yaml"
    council.write_text(council.read_text().replace("treatment: pseudonymise", "treatment: publish", 1))
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    bag = DagBag(str(REPO / "dags"))
    assert set(bag.dag_ids) == EXPECTED - {"ptp_ingest_police_incidents", "ptp_ingest_council_contacts"}
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert set(errors) == {"ptp_protocol_police_incidents.py", "ptp_protocol_council_contacts.py"}
    police, council_error = errors["ptp_protocol_police_incidents.py"], errors["ptp_protocol_council_contacts.py"]
    assert "Broken protocol file(s)" in police and "Broken protocol file(s)" in council_error
    assert f"{protocols / 'police_incidents.yaml'}:3: not valid YAML" in police
    assert str(protocols / "council_contacts.yaml") in council_error and "treatment" in council_error
    assert "council" not in police and "police_incidents" not in council_error
    fileloc = {dag_id: Path(bag.dags[dag_id].fileloc).name for dag_id in bag.dag_ids}
    assert fileloc == {"ptp_ingest_health_attendances": "ptp_protocol_health_attendances.py",
                       "ptp_ingest_licensing_register": "ptp_protocol_licensing_register.py",
                       "ptp_dispatch": "ptp_dispatch.py", "ptp_pathways": "ptp_pathways.py",
                       "ptp_housekeeping": "ptp_housekeeping.py"}
    # the dispatcher watches only the landing folders of the protocols that still load
    assert _watched(bag.dags["ptp_dispatch"]) == {"ptp_landing_health_attendances", "ptp_landing_licensing_register"}


def test_each_protocol_file_has_its_own_dag_file(airflow_db: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped DAG files are in step with protocols/; a new protocol file is named in an import error
    of `ptp_protocol_files.py` (nothing else stops) until `ptp airflow dag-files` writes its DAG file."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from ptp_pipeline.cli import main

    assert main(["airflow", "dag-files", "--check", "--dags-folder", str(REPO / "dags")]) == 0
    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    protocols = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", protocols)
    police = (protocols / "police_incidents.yaml").read_text()
    (protocols / "transport-police_incidents.yaml").write_text(
        police.replace("id: police-incidents", "id: transport-police-incidents", 1)
              .replace("  id: police\n", "  id: btp\n", 1))
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    bag = DagBag(str(dags))
    assert set(bag.dag_ids) == EXPECTED
    (error,) = bag.import_errors.items()
    assert Path(error[0]).name == "ptp_protocol_files.py"
    assert f"{protocols / 'transport-police_incidents.yaml'}: no DAG file" in error[1]
    assert main(["airflow", "dag-files", "--check", "--dags-folder", str(dags)]) == 1

    assert main(["airflow", "dag-files", "--dags-folder", str(dags)]) == 0
    assert (dags / "ptp_protocol_transport_police_incidents.py").is_file()
    assert main(["airflow", "dag-files", "--check", "--dags-folder", str(dags)]) == 0
    bag = DagBag(str(dags))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED | {"ptp_ingest_btp_incidents"}
    assert "ptp_landing_btp_incidents" in _watched(bag.dags["ptp_dispatch"])

    (protocols / "transport-police_incidents.yaml").unlink()  # the partnership ends: its DAG file goes too
    assert main(["airflow", "dag-files", "--dags-folder", str(dags)]) == 0
    assert not (dags / "ptp_protocol_transport_police_incidents.py").exists()
    assert set(DagBag(str(dags)).dag_ids) == EXPECTED


def test_a_later_protocol_version_shares_the_first_files_dag(airflow_db: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 2 of a protocol in a second file: one ingest DAG (no duplicate DAG id across files)."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from ptp_pipeline.cli import main

    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    protocols = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", protocols)
    police = (protocols / "police_incidents.yaml").read_text()
    (protocols / "police_incidents_v2.yaml").write_text(police.replace("version: 1", "version: 2", 1))
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    assert main(["airflow", "dag-files", "--dags-folder", str(dags)]) == 0
    bag = DagBag(str(dags))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED
    assert Path(bag.dags["ptp_ingest_police_incidents"].fileloc).name == "ptp_protocol_police_incidents.py"
    (protocols / "police_incidents_v2.yaml").write_text(police)  # same id and version twice: both refused
    bag = DagBag(str(dags))
    assert set(bag.dag_ids) == EXPECTED - {"ptp_ingest_police_incidents"}
    assert {Path(k).name for k in bag.import_errors} == {"ptp_protocol_police_incidents.py",
                                                        "ptp_protocol_police_incidents_v2.py"}
