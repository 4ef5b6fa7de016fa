"""Airflow: a protocol with an SFTP source gets a pull task at the head of its DAG, and the DAG runs end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import assert_conserved, ledger
from pull_servers import Sshd, write_protocol_with_source

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.airflow


def test_dag_pulls_over_sftp_and_ingests_end_to_end(
        airflow_db: Path, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd,
        synthetic: SyntheticResult) -> None:
    from airflow.dag_processing.dagbag import DagBag

    outbox = tmp_path / "outbox"
    outbox.mkdir()
    council = next(e for e in synthetic.extracts if e.partner == "council")
    shutil.copy(council.path, outbox / council.path.name)
    source = f"""
source:
  kind: sftp
  conn_id: council_sftp
  folder: {outbox}
  pattern: "*.csv"
  after: delete
  schedule: "0 3 * * *"
"""
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(write_protocol_with_source(tmp_path / "protocols",
                                                                             "council_contacts.yaml", source)))
    monkeypatch.setenv("AIRFLOW_CONN_COUNCIL_SFTP", sshd.conn_json())
    bag = DagBag(str(REPO / "dags"))
    assert bag.import_errors == {}
    dag = bag.get_dag("ptp_ingest_council_contacts")
    assert dag is not None
    assert [t.task_id for t in dag.topological_sort()] == [
        "pull", "ingest_files"]
    assert dag.timetable.expression == "0 3 * * *"  # type: ignore[attr-defined]
    police = bag.get_dag("ptp_ingest_police_incidents")
    assert police is not None and police.task_ids[0] != "pull" and "pull" not in police.task_ids

    run = dag.test()
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    assert list(outbox.iterdir()) == []  # after: delete
    rt = Runtime(load_settings())
    try:
        (row,) = ledger(rt)
        assert row["status"] == "merged" and row["rows_received"] == council.rows
        assert row["source"] == f"sftp:council_sftp:{outbox}/{council.path.name}"
        assert_conserved(rt)
    finally:
        rt.close()
