"""Airflow cluster policy for ptp-pipeline: put this folder on PYTHONPATH of every Airflow process.

The DAG file adds a task-less placeholder DAG tagged `broken-protocol` when protocol files fail to
load; rejecting it here makes Airflow record an import error naming those files (shown in the UI and
by `airflow dags list-import-errors`) while every other DAG in the file still loads.

With `PTP_PRELOAD=1` (set for the Celery worker, or the scheduler with LocalExecutor) the ingest
task's heavy modules are imported here, once, so forked task processes start with them
(`ptp_pipeline/preload.py`).
"""

from airflow.exceptions import AirflowClusterPolicyViolation

from ptp_pipeline.preload import preload

preload()

BROKEN_TAG = "broken-protocol"


def dag_policy(dag) -> None:  # type: ignore[no-untyped-def]
    if BROKEN_TAG in (dag.tags or ()):
        raise AirflowClusterPolicyViolation("Broken protocol file(s):\n" + (dag.doc_md or ""))
