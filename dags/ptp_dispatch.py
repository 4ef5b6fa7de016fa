"""Airflow DAG file: `ptp_dispatch`, which watches every approved protocol's landing folder and starts
one ingest run per landed file. Thin: all work happens in ptp_pipeline.

A broken protocol file is left out here (its own DAG file reports it), so this file never fails
because of one protocol.
"""

from pathlib import Path

from ptp_pipeline.dag_factory import dispatch_dags

globals().update(dispatch_dags(Path(__file__).resolve().parent))
