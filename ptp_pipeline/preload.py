"""Import the ingest task's heavy modules once, in the process that forks task processes.

Airflow 3 starts each task in a process forked from its worker (a Celery pool process, forked from
`airflow celery worker`; or a LocalExecutor worker, forked from the scheduler). Importing pandas,
DuckDB, Great Expectations and the pipeline there first saves every ingest task those imports
(measured 3-8 s on two busy cores), which is most of a small file's drop → merged time.

Turned on by `PTP_PRELOAD=1` in the environment of the worker (or, with LocalExecutor, the
scheduler) only: `config/airflow_local_settings.py` calls `preload()`, and that file is imported by
every Airflow process. `preload()` starts no threads, so forking afterwards is safe (`import_in_background`,
for `ptp ingest`, does: it is never called where Airflow forks).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading

ENV = "PTP_PRELOAD"
#: What the validate stage imports first: Great Expectations alone takes 3-4 s in a fresh process (half of a
#: 1M-row extract's validate stage; most of a small one's).
VALIDATION_MODULES = ("great_expectations", "ptp_pipeline.quality.expectations", "ptp_pipeline.quality.suite")
MODULES = ("ptp_pipeline.dag_factory", "ptp_pipeline.ingest_task", "ptp_pipeline.pipeline", *VALIDATION_MODULES)


def preload(environ: dict[str, str] | None = None) -> list[str]:
    """Import `MODULES` when `PTP_PRELOAD` is 1; returns what was imported (nothing otherwise)."""
    if (environ if environ is not None else os.environ).get(ENV, "").strip() != "1":
        return []
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its import chatter is not for the log
    for name in MODULES:
        importlib.import_module(name)
    return list(MODULES)



def import_in_background(names: tuple[str, ...] = VALIDATION_MODULES) -> threading.Thread | None:
    """Import `names` on a daemon thread, so a process that will validate (`ptp ingest`) pays for the import
    while the check and pseudonymise stages run, not after them. None when all are imported already (a
    preloaded Airflow task). A failed import is left for the validate stage to meet and report."""
    missing = [name for name in names if name not in sys.modules]
    if not missing:
        return None

    def run() -> None:
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        for name in missing:
            try:
                importlib.import_module(name)
            except Exception:  # the stage that needs it imports it again and says what failed
                continue

    thread = threading.Thread(target=run, name="ptp-import-validation", daemon=True)
    thread.start()
    return thread
