"""Airflow: the DAG folder imports cleanly, DAGs are thin, and an ingest DAG runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_conserved, ledger

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"ptp_ingest_council_contacts", "ptp_ingest_health_attendances", "ptp_ingest_police_incidents",
            "ptp_pathways", "ptp_dispatch", "ptp_housekeeping"}
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
    ingest = bag.get_dag("ptp_ingest_police_incidents")
    assert ingest is not None
    assert [t.task_id for t in ingest.topological_sort()] == [
        "find_files", "receive", "check", "pseudonymise", "validate", "merge"]


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


def test_ingest_dag_runs_end_to_end(airflow_db: Path, env: dict[str, str], synthetic: SyntheticResult) -> None:
    from airflow.dag_processing.dagbag import DagBag

    extract = next(e for e in synthetic.extracts if e.partner == "police")
    dag = DagBag(str(REPO / "dags")).get_dag("ptp_ingest_police_incidents")
    assert dag is not None
    run = dag.test(run_conf={"path": str(extract.path)})
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    rt = Runtime(load_settings(env))
    try:
        (row,) = ledger(rt)
        assert row["status"] == "merged" and row["rows_received"] == extract.rows
        assert_conserved(rt)
        assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == row["rows_accepted"]
    finally:
        rt.close()
    pathways = DagBag(str(REPO / "dags")).get_dag("ptp_pathways")
    assert pathways is not None
    assert pathways.test().state == "success"
