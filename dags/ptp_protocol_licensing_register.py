"""Airflow DAG file for the protocol file `licensing_register.yaml` (in PTP_PROTOCOLS_DIR): its ingest DAG only.

Written by `ptp airflow dag-files`; do not edit. One file per protocol file, so a broken protocol
breaks only this file's DAG (see ptp_pipeline/dag_factory.py).
"""

from ptp_pipeline.dag_factory import protocol_file_dags

globals().update(protocol_file_dags("licensing_register.yaml"))
