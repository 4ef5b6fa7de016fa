"""Airflow DAG file: `ptp_housekeeping` (and `ptp_housekeeping_<theme>` per named theme), nightly retention
purge, expiry warnings and audit-chain check per theme, and the clean-up of Airflow's own logs and metadata."""

from ptp_pipeline.dag_factory import housekeeping_dags

globals().update(housekeeping_dags())
