"""Import the ingest task's heavy modules once, in the process that forks task processes.

Airflow 3 starts each task in a process forked from its worker (a Celery pool process, forked from
`airflow celery worker`; or a LocalExecutor worker, forked from the scheduler). Importing pandas,
DuckDB, Great Expectations and the pipeline there first saves every ingest task those imports
(measured 3-8 s on two busy cores), which is most of a small file's drop → merged time.

Turned on by `PTP_PRELOAD=1` in the environment of the worker (or, with LocalExecutor, the
scheduler) only: `config/airflow_local_settings.py` calls `preload()`, and that file is imported by
every Airflow process. The imports start no threads, so forking afterwards is safe.
"""

from __future__ import annotations

import importlib
import os

ENV = "PTP_PRELOAD"
MODULES = ("ptp_pipeline.dag_factory", "ptp_pipeline.ingest_task", "ptp_pipeline.pipeline", "great_expectations",
           "ptp_pipeline.quality.expectations", "ptp_pipeline.quality.suite")


def preload(environ: dict[str, str] | None = None) -> list[str]:
    """Import `MODULES` when `PTP_PRELOAD` is 1; returns what was imported (nothing otherwise)."""
    if (environ if environ is not None else os.environ).get(ENV, "").strip() != "1":
        return []
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its import chatter is not for the log
    for name in MODULES:
        importlib.import_module(name)
    return list(MODULES)
