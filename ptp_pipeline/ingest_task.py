"""The body of the ingest DAG's one task: receive → check → pseudonymise → validate → merge per file.

Why one task: each Airflow task costs seconds of scheduling and start-up (about 5 s each on two busy
cores), so six tasks in a row took a small file 40-60 s from drop to merged. The stages still run, log
and fail one by one; what changed is that they share one process.

Crash safety: the merge is one warehouse transaction; a retried task starts again from receive, which
re-opens the ledger row of an unmerged extract and skips a merged one, so a retry never merges twice.
A run started without a file (by hand, or after a pull) takes every waiting file and writes their list
to `claimed/<partner>/<dataset>/.runs/<run>.json` first, so a retry of that run works on the same files.

Imported by the task at run time only; the failure callback and the notifier read `failed_extracts`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
STAGES = ("check", "pseudonymise", "validate", "merge")
RUNS = ".runs"


@dataclass(frozen=True)
class Failed:
    """An extract (or a file not yet received) the task failed on, and at which stage."""

    stage: str
    file_name: str
    extract_id: str | None = None


_FAILED: dict[str, list[Failed]] = {}  # per task instance: read by the failure callback in the same process


def _key(ti: Any) -> str:
    return f"{ti.dag_id}/{ti.run_id}/{getattr(ti, 'map_index', -1)}"


def failed_extracts(ti: Any) -> list[Failed]:
    """What the task instance `ti` failed on (empty when it failed before taking a file)."""
    return list(_FAILED.get(_key(ti), []))


def run_files(run_id: str, conf_path: str | None, partner: str, dataset: str, theme: str | None) -> list[str]:
    """The run's file(s): its conf `path`, else every waiting file of the theme, the same ones on every try."""
    if conf_path:
        return [conf_path]
    from ptp_pipeline import intake
    from ptp_pipeline.settings import theme_settings

    settings = theme_settings(theme)
    claimed = settings.claimed_dir / partner / dataset
    listed = _run_list(claimed, run_id)
    if listed.is_file():
        return list(json.loads(listed.read_text()))
    intake.claim_all(settings.landing_dir / partner / dataset, claimed)
    paths = [t.path for t in intake.take_pending(claimed)]
    listed.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = listed.with_suffix(".tmp")
    tmp.write_text(json.dumps(paths))
    os.replace(tmp, listed)
    return paths


def forget_run(run_id: str, conf_path: str | None, partner: str, dataset: str, theme: str | None) -> None:
    """The run is done with its files: drop the list `run_files` kept for its retries."""
    if conf_path:
        return
    from ptp_pipeline.settings import theme_settings

    _run_list(theme_settings(theme).claimed_dir / partner / dataset, run_id).unlink(missing_ok=True)


def _run_list(claimed: Path, run_id: str) -> Path:
    return claimed / RUNS / f"{''.join(c if c.isalnum() or c in '-_.' else '_' for c in run_id)}.json"


def ingest_files(ti: Any, paths: list[str], partner: str, dataset: str, theme: str | None) -> list[str]:
    """Every file through every stage of the theme's pipeline; returns the ids of the extracts merged by this call.

    A refused file does not stop the others: the task fails at the end, naming the first refusal
    (a data problem: no retry). Any other error stops at once, and Airflow retries the whole task.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from ptp_pipeline.errors import ExtractError

    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # the task log says counts, not GX internals
    failed = _FAILED.setdefault(_key(ti), [])
    failed.clear()
    merged, refusals = [], []
    for path in paths:
        try:
            extract_id = _ingest_one(Path(path), partner, dataset, theme, failed)
        except ExtractError as err:
            refusals.append(err.render())
            continue
        if extract_id:
            merged.append(extract_id)
    if refusals:
        more = f"\n(and {len(refusals) - 1} more refused file(s): see the ledger)" if len(refusals) > 1 else ""
        raise AirflowFailException(refusals[0] + more)
    _FAILED.pop(_key(ti), None)
    return merged


def _ingest_one(path: Path, partner: str, dataset: str, theme: str | None, failed: list[Failed]) -> str | None:
    """One file: receive, then each stage with its log line; None when it was merged before.

    With `PTP_STATSD_HOST` set, its counts and stage timings go to StatsD (`ptp_pipeline.metrics`).
    """
    from ptp_pipeline import pipeline
    from ptp_pipeline.errors import ExtractError
    from ptp_pipeline.metrics import IngestMetrics
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import theme_settings

    rt = Runtime(theme_settings(theme))
    metrics = IngestMetrics(partner, dataset, theme=theme)
    stage, extract_id = "receive", None
    try:
        started = time.perf_counter()
        try:
            extract_id, already = pipeline.receive(rt, path, partner, dataset)
        except Exception as exc:
            extract_id = getattr(exc, "extract_id", None)
            raise
        metrics.stage("receive", time.perf_counter() - started)
        log.info("receive of %s as extract %s done in %.2f s%s", path.name, extract_id,
                 metrics.stages["receive"], " (merged before: nothing to do)" if already else "")
        if already:
            return None
        for stage in STAGES:
            started = time.perf_counter()
            try:
                getattr(pipeline, stage)(rt, extract_id)
            except Exception:
                log.warning("%s of extract %s stopped after %.2f s (reason in the ledger and below)", stage,
                            extract_id, time.perf_counter() - started)
                raise
            metrics.stage(stage, time.perf_counter() - started)
            _log_stage(rt, stage, extract_id, metrics.stages[stage])
        _send_merged(metrics, rt, extract_id)
        return extract_id
    except Exception as exc:
        failed.append(Failed(stage, path.name, extract_id))
        if isinstance(exc, ExtractError):
            metrics.refused()
        raise
    finally:
        rt.close()


def _send_merged(metrics: Any, rt: Any, extract_id: str) -> None:
    try:
        metrics.merged(rt, extract_id)
    except Exception as exc:  # metrics are for people watching; they must never fail a merged extract
        log.warning("could not send the metrics of extract %s: %s", extract_id, type(exc).__name__)


def _log_stage(rt: Any, stage: str, extract_id: str, seconds: float) -> None:
    try:
        log.info("%s", stage_summary(rt, stage, extract_id, seconds))
    except Exception as exc:  # the summary is for people; it must never fail the stage
        log.info("%s of extract %s done in %.2f s (counts unavailable: %s)", stage, extract_id, seconds,
                 type(exc).__name__)


def stage_summary(rt: Any, stage: str, extract_id: str, seconds: float) -> str:
    """One line for the task log: the stage, the extract, its row counts so far and the time taken.

    Counts and ids only, never a value from the file.
    """
    import pandas as pd

    from ptp_pipeline.runtime import WorkItem

    folder = rt.work(extract_id)
    received = WorkItem.load(folder).rows_received if (folder / "meta.json").is_file() else None
    row = rt.warehouse.query("SELECT status, rows_received, rows_accepted, rows_quarantined "
                             "FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
    counts = {"received": received}
    status = "?"
    if len(row):
        r = row.iloc[0]
        status = str(r["status"])
        for key in ("received", "accepted", "quarantined"):
            value = r[f"rows_{key}"]
            if not pd.isna(value):
                counts[key] = int(value)
    shown = ", ".join(f"{v:,} {k}" for k, v in counts.items() if v is not None) or "no rows counted yet"
    return f"{stage} of extract {extract_id} done in {seconds:.2f} s: {shown}; ledger status {status}"
