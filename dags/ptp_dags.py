"""Airflow DAG file: one ingest DAG per approved protocol in protocols/, the pathways and housekeeping DAGs.

Thin by design: it scans protocol files and wires tasks; all work happens in ptp_pipeline.
"""

import warnings

from ptp_pipeline.dag_factory import build_all

_dags, _broken = build_all()
globals().update(_dags)
for _path, _message in _broken.items():
    warnings.warn(f"broken protocol file {_path}: {_message}", UserWarning, stacklevel=1)
