"""Builds the Airflow DAGs from protocol files. Orchestration only: each task is one library call.

Imported by the files in `dags/` at parse time, so it must stay cheap: no pandas, DuckDB, GX or
key material here; task bodies import the pipeline when they run.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task

from ptp_pipeline.protocol.model import Protocol, Status
from ptp_pipeline.pull.dag_tasks import add_pull_task, pull_schedule

START = datetime(2024, 1, 1)
DEFAULT_ARGS: dict[str, Any] = {"owner": "ptp-operations", "retries": 2, "retry_delay": timedelta(seconds=30),
                                "retry_exponential_backoff": True}
PATHWAYS_INPUT = Asset("ptp://shared/pathway_event", group="ptp")


def dataset_asset(protocol: Protocol) -> Asset:
    return Asset(f"ptp://shared/{protocol.partner.id}/{protocol.dataset}", group="ptp")


def _runtime() -> Any:
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import load_settings

    return Runtime(load_settings())


def _pending_files(partner: str, dataset: str) -> list[str]:
    """Files to ingest: the run's conf `path`, else every file waiting in the landing folder."""
    conf = (get_current_context().get("dag_run").conf or {})  # type: ignore[union-attr]
    if conf.get("path"):
        return [str(conf["path"])]
    from ptp_pipeline.settings import load_settings

    folder = load_settings().landing_dir / partner / dataset
    return sorted(str(p) for p in folder.glob("*") if p.is_file() and not p.name.startswith("."))


def build_ingest_dag(protocol: Protocol) -> DAG:
    """One DAG per approved protocol: receive → check → pseudonymise → validate → merge, per file."""
    partner, dataset = protocol.partner.id, protocol.dataset
    outlet = dataset_asset(protocol)

    @dag(dag_id=f"ptp_ingest_{partner}_{dataset}", schedule=pull_schedule(protocol), start_date=START, catchup=False,
         default_args=DEFAULT_ARGS, max_active_runs=4, tags=["ptp", "ingest", partner],
         doc_md=f"Ingest extracts of **{protocol.title}** under protocol `{protocol.id}` v{protocol.version}.")
    def ingest() -> None:
        @task
        def find_files() -> list[str]:
            return _pending_files(partner, dataset)

        @task(pool="ptp_warehouse_writer")
        def receive(path: str) -> str:
            from airflow.sdk.exceptions import AirflowSkipException

            from ptp_pipeline import pipeline

            rt = _runtime()
            try:
                extract_id, already = pipeline.receive(rt, Path(path), partner, dataset)
            finally:
                rt.close()
            if already:
                raise AirflowSkipException(f"{extract_id} was merged before: nothing to do")
            return extract_id

        @task
        def check(extract_id: str) -> str:
            return _stage("check", extract_id)

        @task
        def pseudonymise(extract_id: str) -> str:
            return _stage("pseudonymise", extract_id)

        @task
        def validate(extract_id: str) -> str:
            return _stage("validate", extract_id)

        @task(pool="ptp_warehouse_writer", outlets=[outlet, PATHWAYS_INPUT])
        def merge(extract_id: str) -> str:
            return _stage("merge", extract_id)

        files = find_files()
        add_pull_task(protocol, files)  # stage 0 (issue 10): pull first when the protocol names a source
        ids = receive.expand(path=files)
        merge.expand(extract_id=validate.expand(extract_id=pseudonymise.expand(extract_id=check.expand(
            extract_id=ids))))

    return ingest()


def _stage(name: str, extract_id: str) -> str:
    from airflow.sdk.exceptions import AirflowFailException

    from ptp_pipeline import pipeline
    from ptp_pipeline.errors import ExtractError

    rt = _runtime()
    try:
        getattr(pipeline, name)(rt, extract_id)
    except ExtractError as err:
        # A data problem: the ledger already says why; retrying cannot help.
        raise AirflowFailException(err.render()) from None
    finally:
        rt.close()
    return extract_id


def build_pathways_dag(assets: list[Asset]) -> DAG:
    """Rebuild the headline figures when any ingest merged, or nightly, whichever comes first."""

    @dag(dag_id="ptp_pathways", start_date=START, catchup=False, default_args=DEFAULT_ARGS,
         schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
                                      assets=[PATHWAYS_INPUT]),
         tags=["ptp", "pathways"], doc_md="Rebuild pathway tables from the warehouse state.")
    def pathways() -> None:
        @task(pool="ptp_warehouse_writer")
        def rebuild() -> dict[str, float]:
            from ptp_pipeline.pathways import headline

            rt = _runtime()
            try:
                h = headline(rt.warehouse, rt.project.top_share)
            finally:
                rt.close()
            return {"persons": h.persons, "persons_multi_agency": h.persons_multi_agency,
                    "top_cost_share": round(h.top_cost_share, 4)}

        rebuild()

    return pathways()


def protocols_dir() -> Path:
    from ptp_pipeline.settings import REPO_PROTOCOLS

    return Path(os.environ.get("PTP_PROTOCOLS_DIR", REPO_PROTOCOLS))


def build_all() -> tuple[dict[str, DAG], dict[str, str]]:
    """Every DAG, plus broken protocol files with their error (one bad file breaks only itself)."""
    from ptp_pipeline.errors import PtpUserError
    from ptp_pipeline.protocol.load import load_protocol, protocol_paths

    dags: dict[str, DAG] = {}
    broken: dict[str, str] = {}
    assets: list[Asset] = []
    for path in protocol_paths(protocols_dir()):
        try:
            protocol = load_protocol(path)
        except PtpUserError as exc:
            broken[str(path)] = exc.message.strip()
            continue
        if protocol.status is not Status.approved:
            continue
        built = build_ingest_dag(protocol)
        dags[built.dag_id] = built
        assets.append(dataset_asset(protocol))
    pathways = build_pathways_dag(assets)
    dags[pathways.dag_id] = pathways
    return dags, broken
