"""Airflow DAG file: `ptp_pathways`, rebuilding the pathway tables when an ingest merged, or nightly."""

from ptp_pipeline.dag_factory import build_pathways_dag

ptp_pathways = build_pathways_dag()
