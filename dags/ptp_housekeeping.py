"""Airflow DAG file: `ptp_housekeeping`, nightly retention purge, expiry warnings and audit-chain check."""

from ptp_pipeline.dag_factory import build_housekeeping_dag

ptp_housekeeping = build_housekeeping_dag()
