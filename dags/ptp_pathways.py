"""Airflow DAG file: `ptp_pathways` (and `ptp_pathways_<theme>` per named theme), rebuilding a theme's pathway
tables when one of its ingests merged, or nightly."""

from ptp_pipeline.dag_factory import pathways_dags

globals().update(pathways_dags())
