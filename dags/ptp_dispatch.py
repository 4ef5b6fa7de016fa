"""Airflow DAG file: `ptp_dispatch` (and `ptp_dispatch_<theme>` per named theme), which watches the landing
folder of every approved protocol of its theme and starts one ingest run per landed file. Thin: all work
happens in ptp_pipeline.

A broken protocol file is left out here (its own DAG file reports it), so this file never fails
because of one protocol.
"""

from pathlib import Path

from ptp_pipeline.dag_factory import dispatch_dags

globals().update(dispatch_dags(Path(__file__).resolve().parent))
