"""Airflow DAG file: one ingest DAG per approved protocol in protocols/, plus dispatch, pathways and
housekeeping DAGs.

Thin by design: it scans protocol files and wires tasks; all work happens in ptp_pipeline. A broken
protocol file breaks only its own DAG: it is listed in the `ptp_broken_protocols` placeholder, which
the cluster policy in config/airflow_local_settings.py turns into an import error naming the file.
"""

import warnings

from ptp_pipeline.dag_factory import build_all

_dags, _broken = build_all()
globals().update(_dags)
for _path, _message in _broken.items():
    warnings.warn_explicit(f"broken protocol file: {_message}", UserWarning, _path, 1)
