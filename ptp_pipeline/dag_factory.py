"""Builds the Airflow DAGs from protocol files. Orchestration only: each task is one library call.

Imported by the files in `dags/` at parse time, so it must stay cheap: no pandas, DuckDB, GX or
key material here; task bodies import the pipeline when they run.

DAGs built here:
- `ptp_ingest_<partner>_<dataset>`, one per approved protocol: find_files → receive → check →
  pseudonymise → validate → merge, mapped per file. Started by `ptp_dispatch` (one run per file,
  run id `file__<sha256[:32]>`) or by hand (conf `path`, or every file in its landing folder).
- `ptp_dispatch`: scheduled on the landing-folder assets, whose watchers claim stable files; it takes
  every claimed file and starts one ingest run per file. A 15-minute time branch sweeps up files
  whose event was lost.
- `ptp_pathways`: on any ingest's merge, or nightly. `ptp_housekeeping`: nightly.
- `ptp_broken_protocols`: a placeholder that exists only when protocol files are broken; the cluster
  policy in `config/airflow_local_settings.py` rejects it, so the files show as an import error.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    AssetAny,
    AssetOrTimeSchedule,
    AssetWatcher,
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    dag,
    get_current_context,
    task,
)

from ptp_pipeline.protocol.model import Protocol, Status
from ptp_pipeline.pull.dag_tasks import add_pull_task, pull_schedule

log = logging.getLogger(__name__)
START = datetime(2024, 1, 1)
WRITER_POOL = "ptp_warehouse_writer"  # one slot with DuckDB (one writer); more with PostgreSQL
BROKEN_TAG = "broken-protocol"
BROKEN_DAG_ID = "ptp_broken_protocols"
# Data and configuration problems fail at once (a retry cannot fix them); a warehouse that is
# unreachable or locked, or a filesystem hiccup, is retried with exponential backoff.
RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception=["ptp_pipeline.errors.ExtractError", "ptp_pipeline.errors.ProtocolError",
                         "ptp_pipeline.errors.ConfigError", "ptp_pipeline.errors.KeyMaterialError"],
              action=RetryAction.FAIL, reason="data or configuration problem: a retry cannot fix it"),
    RetryRule(exception=["ptp_pipeline.errors.WarehouseError", OSError], action=RetryAction.RETRY,
              reason="transient: warehouse unreachable or locked, or a filesystem error"),
])
DEFAULT_ARGS: dict[str, Any] = {"owner": "ptp-operations", "retries": 4, "retry_delay": timedelta(seconds=20),
                                "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=10),
                                "retry_policy": RETRY_POLICY}
PATHWAYS_INPUT = Asset("ptp://shared/pathway_event", group="ptp")


def dataset_asset(protocol: Protocol) -> Asset:
    return Asset(f"ptp://shared/{protocol.partner.id}/{protocol.dataset}", group="ptp")


def ingest_dag_id(partner: str, dataset: str) -> str:
    return f"ptp_ingest_{partner}_{dataset}"


def landing_asset(protocol: Protocol, home: Path, poke_interval: float) -> Asset:
    """The landing folder as an asset, watched by a trigger that claims stable files."""
    from ptp_pipeline.triggers import ClaimingDirectoryTrigger

    partner, dataset = protocol.partner.id, protocol.dataset
    trigger = ClaimingDirectoryTrigger(directory=str(home / "landing" / partner / dataset),
                                       claim_dir=str(home / "claimed" / partner / dataset),
                                       poke_interval=poke_interval)
    return Asset(name=f"ptp_landing_{partner}_{dataset}", uri=f"ptp://landing/{partner}/{dataset}", group="ptp",
                 watchers=[AssetWatcher(name=f"ptp_watch_{partner}_{dataset}", trigger=trigger)])


def _runtime() -> Any:
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import load_settings

    return Runtime(load_settings())


def record_failure(context: Any) -> None:
    """Task failure callback: the extract is marked failed in the ledger and the audit log says why."""
    from ptp_pipeline import pipeline

    task_obj, ti = context["task"], context["ti"]
    kwargs = getattr(task_obj, "op_kwargs", None) or {}
    extract_id = kwargs.get("extract_id")
    path = kwargs.get("path")
    try:
        rt = _runtime()
        try:
            pipeline.record_failure(rt, f"{ti.dag_id}.{ti.task_id}", context.get("exception"),
                                    extract_id=extract_id, file_name=Path(path).name if path else None,
                                    tries=int(getattr(ti, "try_number", 1) or 1))
        finally:
            rt.close()
    except Exception as exc:  # the warehouse may be the thing that is down: say so, never mask the failure
        log.warning("could not record the failure of %s in the ledger: %s", ti.task_id, type(exc).__name__)


def _pending_files(partner: str, dataset: str) -> list[str]:
    """Files for this run: the run's conf `path`, else every file in its landing or claimed folder."""
    conf = (get_current_context().get("dag_run").conf or {})  # type: ignore[union-attr]
    if conf.get("path"):
        return [str(conf["path"])]
    from ptp_pipeline import intake
    from ptp_pipeline.settings import load_settings

    settings = load_settings()
    claimed = settings.claimed_dir / partner / dataset
    intake.claim_all(settings.landing_dir / partner / dataset, claimed)
    return [t.path for t in intake.take_pending(claimed)]


def build_ingest_dag(protocol: Protocol) -> DAG:
    """One DAG per approved protocol: receive → check → pseudonymise → validate → merge, per file."""
    partner, dataset = protocol.partner.id, protocol.dataset
    outlet = dataset_asset(protocol)

    @dag(dag_id=ingest_dag_id(partner, dataset), schedule=pull_schedule(protocol), start_date=START, catchup=False,
         default_args={**DEFAULT_ARGS, "on_failure_callback": record_failure}, max_active_runs=8,
         tags=["ptp", "ingest", partner],
         doc_md=f"Ingest extracts of **{protocol.title}** under protocol `{protocol.id}` v{protocol.version}. "
                f"Started by `ptp_dispatch` when a file lands in `landing/{partner}/{dataset}/` (one run per "
                "file), or by hand with conf `{\"path\": ...}`.")
    def ingest() -> None:
        @task
        def find_files() -> list[str]:
            """Take the run's file(s). Tasks that fetch files (e.g. a pull) go upstream of this one."""
            return _pending_files(partner, dataset)

        @task(pool=WRITER_POOL)
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

        @task(pool=WRITER_POOL, outlets=[outlet, PATHWAYS_INPUT])
        def merge(extract_id: str) -> str:
            return _stage("merge", extract_id)

        files = find_files()
        add_pull_task(protocol, files)  # stage 0: pull first when the protocol names a source
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


def build_dispatch_dag(protocols: list[Protocol], home: Path, poke_interval: float) -> DAG:
    """Start one ingest run per landed file: run id `file__<sha256[:32]>`, so a file never runs twice."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    watched = [landing_asset(p, home, poke_interval) for p in protocols]
    targets = [(p.partner.id, p.dataset) for p in protocols]

    @dag(dag_id="ptp_dispatch", start_date=START, catchup=False, default_args=DEFAULT_ARGS, max_active_runs=1,
         schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
                                      assets=AssetAny(*watched)),
         tags=["ptp", "dispatch"],
         doc_md="Takes every file the landing watchers claimed and starts one ingest run per file.")
    def dispatch() -> None:
        @task
        def take_pending() -> list[dict[str, Any]]:
            from ptp_pipeline import intake
            from ptp_pipeline.settings import load_settings

            claimed = load_settings().claimed_dir
            runs = []
            for partner, dataset in targets:
                for taken in intake.take_pending(claimed / partner / dataset):
                    runs.append({"trigger_dag_id": ingest_dag_id(partner, dataset), "trigger_run_id": taken.run_id,
                                 "conf": {"path": taken.path}})
            return runs

        TriggerDagRunOperator.partial(task_id="start_ingest", skip_when_already_exists=True,
                                      wait_for_completion=False).expand_kwargs(take_pending())

    return dispatch()


def build_pathways_dag() -> DAG:
    """Rebuild the headline figures when any ingest merged, or nightly, whichever comes first."""

    @dag(dag_id="ptp_pathways", start_date=START, catchup=False, default_args=DEFAULT_ARGS,
         schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
                                      assets=[PATHWAYS_INPUT]),
         tags=["ptp", "pathways"], doc_md="Rebuild pathway tables from the warehouse state.")
    def pathways() -> None:
        @task(pool=WRITER_POOL)
        def rebuild() -> dict[str, float]:
            from ptp_pipeline.pathways import headline, rebuild

            rt = _runtime()
            try:
                rebuild(rt)
                h = headline(rt.warehouse, rt.project.top_share)
            finally:
                rt.close()
            return {"persons": h.persons, "persons_multi_agency": h.persons_multi_agency,
                    "top_cost_share": round(h.top_cost_share, 4)}

        rebuild()

    return pathways()


def build_housekeeping_dag() -> DAG:
    """Nightly: raw-extract retention, protocols expiring within 30 days, audit-chain verification."""

    @dag(dag_id="ptp_housekeeping", start_date=START, catchup=False, default_args=DEFAULT_ARGS,
         schedule=CronTriggerTimetable("30 3 * * *", timezone="UTC"), tags=["ptp", "housekeeping"],
         doc_md="Retention purge, protocol expiry warnings and the audit-chain check.")
    def housekeeping() -> None:
        @task(pool=WRITER_POOL)
        def purge_retention() -> dict[str, Any]:
            return _housekeeping("purge_retention")

        @task
        def expiring_protocols() -> list[dict[str, object]]:
            from ptp_pipeline import housekeeping as hk

            return hk.expiring_protocols(_runtime(), _run_time().date())

        @task(pool=WRITER_POOL)
        def verify_audit_chain() -> int:
            return int(_housekeeping("verify_audit")["entries_checked"])

        purge_retention() >> verify_audit_chain()
        expiring_protocols()

    return housekeeping()


def _run_time() -> datetime:
    """When this run is for (UTC, naive): its `run_after`, so a rerun of the same run decides the same."""
    run_after = get_current_context()["dag_run"].run_after  # type: ignore[union-attr]
    return run_after.astimezone(UTC).replace(tzinfo=None)


def _housekeeping(what: str) -> dict[str, Any]:
    import importlib

    from airflow.sdk.exceptions import AirflowFailException

    from ptp_pipeline import housekeeping as hk

    rt = _runtime()
    try:
        if what == "purge_retention":
            raw = hk.purge_raw(rt, _run_time())
            out: dict[str, Any] = {"raw_extracts": raw.extracts, "raw_files": raw.files,
                                   "unprocessed_files": hk.unprocessed_files(rt, _run_time())}
            try:  # the warehouse purge (shared data past retention) lives with the warehouse, when present
                retention = importlib.import_module("ptp_pipeline.warehouse.retention")
            except ModuleNotFoundError:
                retention = None
            if retention is not None and hasattr(retention, "purge"):
                result = retention.purge(rt)
                out["warehouse"] = str(result) if result is not None else "done"
            return out
        problems = hk.verify_audit(rt)
        if problems:
            raise AirflowFailException("audit chain broken: " + "; ".join(problems[:20]))
        return {"entries_checked": int(rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log"))}
    finally:
        rt.close()


def build_broken_placeholder(broken: dict[str, str]) -> DAG:
    """A task-less DAG naming the broken protocol files; the cluster policy turns it into an import error."""
    return DAG(dag_id=BROKEN_DAG_ID, schedule=None, start_date=START, catchup=False, tags=[BROKEN_TAG],
               default_args={"owner": "ptp-operations"},
               doc_md="\n".join(message for _, message in sorted(broken.items())))


def protocols_dir() -> Path:
    from ptp_pipeline.settings import REPO_PROTOCOLS

    return Path(os.environ.get("PTP_PROTOCOLS_DIR", REPO_PROTOCOLS))


def build_all() -> tuple[dict[str, DAG], dict[str, str]]:
    """Every DAG, plus broken protocol files with their error (one bad file breaks only itself)."""
    from ptp_pipeline.errors import PtpUserError
    from ptp_pipeline.protocol.load import load_protocol, protocol_paths
    from ptp_pipeline.settings import load_settings

    dags: dict[str, DAG] = {}
    broken: dict[str, str] = {}
    approved: list[Protocol] = []
    for path in protocol_paths(protocols_dir()):
        try:
            protocol = load_protocol(path)
            if protocol.status is not Status.approved or ingest_dag_id(*protocol.key) in dags:
                continue  # later versions of a protocol share its DAG: receive picks the one in force
            built = build_ingest_dag(protocol)
        except PtpUserError as exc:
            text = f"{exc.where}: {exc.message.strip()}" if exc.where and str(exc.where) else exc.message.strip()
            broken[str(path)] = text if str(path) in text else f"{path}: {text}"
            continue
        except Exception as exc:  # any other problem with one file must not take down the others
            broken[str(path)] = f"{path}: {type(exc).__name__}: {exc}"
            continue
        dags[built.dag_id] = built
        approved.append(protocol)
    settings = load_settings()
    for built in (build_dispatch_dag(approved, settings.home.resolve(), settings.watch_interval),
                  build_pathways_dag(), build_housekeeping_dag()):
        dags[built.dag_id] = built
    if broken:
        dags[BROKEN_DAG_ID] = build_broken_placeholder(broken)
    return dags, broken
