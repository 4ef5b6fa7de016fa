"""Builds the Airflow DAGs from protocol files. Orchestration only: each task is one library call.

Imported by the files in `dags/` at parse time, so it must stay cheap: no pandas, DuckDB, GX or
key material here; task bodies import the pipeline when they run.

DAGs built here, each in a DAG file of its own (Airflow marks every DAG of a file with an import
error as stale, so one file per protocol keeps a broken protocol from stopping anything else):
- `ptp_ingest_<partner>_<dataset>`, one per approved protocol, in `dags/ptp_protocol_<file>.py`
  (`protocol_file_dags`; written by `ptp airflow dag-files`): one task, `ingest_files` (receive → check →
  pseudonymise → validate → merge; `ptp_pipeline.ingest_task`), after `pull` when the protocol has a
  source. Started by `ptp_dispatch` (one run per file, run id `file__<sha256[:32]>`) or by hand (conf
  `path`, or every file in its landing folder).
- `ptp_dispatch` (`dags/ptp_dispatch.py`): scheduled on the landing-folder assets, whose watchers
  claim stable files; it takes every claimed file and starts one ingest run per file. A 15-minute time
  branch sweeps up files whose event was lost, and unclaimed files still in landing.
- `ptp_pathways`: on any ingest's merge, or nightly. `ptp_housekeeping`: nightly.
- `ptp_broken_protocol_<file>`: a placeholder that exists only when that protocol file is broken; the
  cluster policy in `config/airflow_local_settings.py` rejects it, so the file shows as an import error
  of its own DAG file. `ptp_broken_protocols` (`dags/ptp_protocol_files.py`) does the same for
  protocol files that have no DAG file yet.
"""

from __future__ import annotations

import logging
import os
import re
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


def _notifiers(protocol: Protocol | None = None) -> list[Any]:
    """E-mail on failure (Airflow's SMTP notifier) to operations and the protocol's contacts (ptp_pipeline.alerts)."""
    if not os.environ.get("PTP_ALERT_EMAILS") and not (protocol is not None and protocol.contacts):
        return []
    from ptp_pipeline.alerts import failure_notifiers

    return failure_notifiers(protocol)


def _ops_args() -> dict[str, Any]:
    """DEFAULT_ARGS plus the failure e-mail, for the dispatch, pathways and housekeeping DAGs."""
    notifiers = _notifiers()
    return {**DEFAULT_ARGS, "on_failure_callback": notifiers} if notifiers else DEFAULT_ARGS


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
    """Task failure callback: each extract the task failed on is marked failed in the ledger (unless
    refused) and the audit log says why; a task that failed before taking a file gets one audit entry."""
    from ptp_pipeline import pipeline
    from ptp_pipeline.ingest_task import Failed, failed_extracts

    ti = context["ti"]
    tries = int(getattr(ti, "try_number", 1) or 1)
    try:
        rt = _runtime()
        try:
            for failed in failed_extracts(ti) or [Failed(ti.task_id, "")]:
                where = f"{ti.dag_id}.{ti.task_id}" + (f" ({failed.stage})" if failed.stage != ti.task_id else "")
                pipeline.record_failure(rt, where, context.get("exception"), extract_id=failed.extract_id,
                                        file_name=failed.file_name or None, tries=tries)
        finally:
            rt.close()
    except Exception as exc:  # the warehouse may be the thing that is down: say so, never mask the failure
        log.warning("could not record the failure of %s in the ledger: %s", ti.task_id, type(exc).__name__)


def build_ingest_dag(protocol: Protocol) -> DAG:
    """One DAG per approved protocol, one task per run: receive → check → pseudonymise → validate → merge.

    One task, not one per stage: each task costs seconds of scheduling and start-up (see
    `ptp_pipeline.ingest_task`), and a file should be merged seconds after it lands.
    """
    partner, dataset = protocol.partner.id, protocol.dataset
    outlet = dataset_asset(protocol)

    @dag(dag_id=ingest_dag_id(partner, dataset), schedule=pull_schedule(protocol), start_date=START, catchup=False,
         default_args={**DEFAULT_ARGS, "on_failure_callback": [record_failure, *_notifiers(protocol)]},
         max_active_runs=8,
         tags=["ptp", "ingest", partner],
         doc_md=f"Ingest extracts of **{protocol.title}** under protocol `{protocol.id}` v{protocol.version}. "
                f"Started by `ptp_dispatch` when a file lands in `landing/{partner}/{dataset}/` (one run per "
                "file), or by hand with conf `{\"path\": ...}` (without it: every file waiting in landing).")
    def ingest() -> None:
        @task(pool=WRITER_POOL, outlets=[outlet, PATHWAYS_INPUT])
        def ingest_files() -> list[str]:
            """The run's file(s) through every stage; the task log has one line per stage with counts and seconds."""
            from ptp_pipeline import ingest_task

            context = get_current_context()
            run = context["dag_run"]
            conf_path = (run.conf or {}).get("path")  # type: ignore[union-attr]
            paths = ingest_task.run_files(run.run_id, conf_path, partner, dataset)  # type: ignore[union-attr]
            merged = ingest_task.ingest_files(context["ti"], paths, partner, dataset)
            ingest_task.forget_run(run.run_id, conf_path, partner, dataset)  # type: ignore[union-attr]
            return merged

        add_pull_task(protocol, ingest_files())  # stage 0: pull first when the protocol names a source

    return ingest()


def build_dispatch_dag(protocols: list[Protocol], home: Path, poke_interval: float) -> DAG:
    """Start one ingest run per landed file: run id `file__<sha256[:32]>`, so a file never runs twice."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    watched = [landing_asset(p, home, poke_interval) for p in protocols]
    targets = [(p.partner.id, p.dataset) for p in protocols]

    @dag(dag_id="ptp_dispatch", start_date=START, catchup=False, default_args=_ops_args(),
         is_paused_upon_creation=False, max_active_runs=1,
         schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
                                      assets=AssetAny(*watched)),
         tags=["ptp", "dispatch"],
         doc_md="Takes every file the landing watchers claimed (and any file left in a landing folder for a "
                "minute or more) and starts one ingest run per file.")
    def dispatch() -> None:
        @task
        def take_pending() -> list[dict[str, Any]]:
            from ptp_pipeline import intake
            from ptp_pipeline.settings import load_settings

            settings = load_settings()
            claimed = settings.claimed_dir
            settled = max(60.0, 3 * settings.watch_interval)  # unchanged this long: complete
            runs = []
            for partner, dataset in targets:
                swept = intake.claim_settled(settings.landing_dir / partner / dataset, claimed / partner / dataset,
                                             settled)
                if swept:
                    log.warning("%d file(s) in landing/%s/%s were not claimed by the watcher (is the triggerer "
                                "running?): claimed them now", len(swept), partner, dataset)
                for taken in intake.take_pending(claimed / partner / dataset):
                    runs.append({"trigger_dag_id": ingest_dag_id(partner, dataset), "trigger_run_id": taken.run_id,
                                 "conf": {"path": taken.path}})
            return runs

        TriggerDagRunOperator.partial(task_id="start_ingest", skip_when_already_exists=True,
                                      wait_for_completion=False).expand_kwargs(take_pending())

    return dispatch()


def build_pathways_dag() -> DAG:
    """Rebuild the headline figures when any ingest merged, or nightly, whichever comes first."""

    @dag(dag_id="ptp_pathways", start_date=START, catchup=False, default_args=_ops_args(),
         is_paused_upon_creation=False,
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
    """Nightly: raw-extract retention, protocols expiring within 30 days, late or missing extracts (by each
    protocol's `delivery`), audit-chain verification, old Airflow task logs deleted (`PTP_TASK_LOG_DAYS`,
    default 90) and Airflow metadata cleaned (`PTP_AIRFLOW_DB_DAYS`, default 90)."""

    @dag(dag_id="ptp_housekeeping", start_date=START, catchup=False, default_args=_ops_args(),
         is_paused_upon_creation=False,
         schedule=CronTriggerTimetable("30 3 * * *", timezone="UTC"), tags=["ptp", "housekeeping"],
         doc_md="Retention purge, protocol expiry and late-extract alerts, the audit-chain check, and the "
                "clean-up of old Airflow task logs and metadata.")
    def housekeeping() -> None:
        @task(pool=WRITER_POOL)
        def purge_retention() -> dict[str, Any]:
            return _housekeeping("purge_retention")

        @task
        def expiring_protocols() -> list[dict[str, object]]:
            return _housekeeping_alerts("expiry")

        @task(pool=WRITER_POOL)
        def verify_audit_chain() -> int:
            return int(_housekeeping("verify_audit")["entries_checked"])

        @task
        def late_deliveries() -> list[dict[str, object]]:
            return _housekeeping_alerts("late")

        @task
        def purge_task_logs() -> dict[str, int]:
            from airflow.configuration import conf

            from ptp_pipeline import housekeeping as hk

            done = hk.purge_task_logs(Path(conf.get("logging", "base_log_folder")), _run_time())
            return {"files": done.files, "bytes": done.bytes}

        @task
        def clean_airflow_metadata() -> dict[str, object]:
            return _clean_airflow_metadata()

        purge_retention() >> verify_audit_chain()
        expiring_protocols()
        late_deliveries()
        purge_task_logs()
        clean_airflow_metadata()

    return housekeeping()


def _run_time() -> datetime:
    """When this run is for (UTC, naive): its `run_after`, so a rerun of the same run decides the same."""
    run_after = get_current_context()["dag_run"].run_after  # type: ignore[union-attr]
    return run_after.astimezone(UTC).replace(tzinfo=None)


def _clean_airflow_metadata() -> dict[str, object]:
    """Airflow's metadata older than `PTP_AIRFLOW_DB_DAYS` (default 90) deleted with `airflow db clean`.

    Task code may not use Airflow's database (Airflow 3), so its URL comes from an Airflow connection,
    `airflow_metadata` (or `PTP_AIRFLOW_DB_CONN_ID`), extra `{"sql_alchemy_conn": "<URL>"}`; without it
    the task logs a warning and does nothing.
    """
    from dataclasses import asdict

    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from ptp_pipeline import housekeeping as hk

    days = hk.airflow_db_days()
    conn_id = os.environ.get(hk.AIRFLOW_DB_CONN_ENV, hk.AIRFLOW_DB_CONN)
    try:
        url = BaseHook.get_connection(conn_id).extra_dejson.get("sql_alchemy_conn") if days else None
    except AirflowNotFoundException:
        url = None
    if not url:
        why = (f"{hk.AIRFLOW_DB_DAYS_ENV} is off" if not days else
               f"no Airflow connection `{conn_id}` with extra sql_alchemy_conn (README: Airflow's own housekeeping)")
        log.warning("Airflow metadata not cleaned: %s", why)
        return asdict(hk.MetadataClean(None, 0, why))
    return asdict(hk.clean_airflow_metadata(str(url), _run_time(), int(days or 0)))


def _housekeeping_alerts(alert: str) -> list[dict[str, object]]:
    """Protocols expiring soon, or extracts late: found in the warehouse, e-mailed (ptp_pipeline.alerts)."""
    from ptp_pipeline import housekeeping as hk

    rt = _runtime()
    try:
        today = _run_time().date()
        if alert == "expiry":
            return hk.alert_expiring(rt, today, get_current_context())
        return hk.alert_late(rt, today, get_current_context())
    finally:
        rt.close()


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


# -- one DAG file per protocol file -------------------------------------------------------------
# Airflow (3.3, real dag-processor) marks every DAG of a file that has an import error as stale, so a
# protocol problem must surface in a file holding that protocol's DAG and nothing else. Each protocol
# file in PTP_PROTOCOLS_DIR therefore has a thin DAG file of its own in dags/ (written by
# `ptp airflow dag-files`); dispatch, pathways and housekeeping live in files of their own too.

DAG_FILE_PREFIX = "ptp_protocol_"
DAG_FILE_MARK = "Written by `ptp airflow dag-files`"
DAG_FILE_TEMPLATE = '''"""Airflow DAG file for the protocol file `{name}` (in PTP_PROTOCOLS_DIR): its ingest DAG only.

{mark}; do not edit. One file per protocol file, so a broken protocol
breaks only this file's DAG (see ptp_pipeline/dag_factory.py).
"""

from ptp_pipeline.dag_factory import protocol_file_dags

globals().update(protocol_file_dags({literal}))
'''


def dag_file_name(protocol_file: str | Path) -> str:
    """`police_incidents.yaml` -> `ptp_protocol_police_incidents.py` (a valid module name)."""
    stem = Path(protocol_file).name.removesuffix(".yaml")
    return DAG_FILE_PREFIX + "".join(c if c.isalnum() else "_" for c in stem) + ".py"


def render_dag_file(protocol_file: str | Path) -> str:
    import json

    name = Path(protocol_file).name
    return DAG_FILE_TEMPLATE.format(name=name, literal=json.dumps(name), mark=DAG_FILE_MARK)


def write_dag_files(dags_dir: Path, protocols: Path) -> tuple[list[Path], list[Path]]:
    """Make `dags_dir` hold one thin DAG file per protocol file; returns (written, removed).

    Files are rewritten only when their text differs; generated files whose protocol file is gone
    are removed (a file without the generated mark is never touched).
    """
    from ptp_pipeline.protocol.load import protocol_paths

    wanted = {dag_file_name(p): render_dag_file(p) for p in protocol_paths(protocols)}
    written, removed = [], []
    for name, text in sorted(wanted.items()):
        target = dags_dir / name
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            written.append(target)
    for existing in sorted(dags_dir.glob(f"{DAG_FILE_PREFIX}*.py")):
        if existing.name not in wanted and DAG_FILE_MARK in existing.read_text():
            existing.unlink()
            removed.append(existing)
    return written, removed


def _broken_message(path: Path, exc: Exception) -> str:
    from ptp_pipeline.errors import PtpUserError

    if isinstance(exc, PtpUserError):
        text = f"{exc.where}: {exc.message.strip()}" if exc.where and str(exc.where) else exc.message.strip()
        return text if str(path) in text else f"{path}: {text}"
    return f"{path}: {type(exc).__name__}: {exc}"  # any other problem with one file stops only that file


_DATASET_LINE = re.compile(r"""(?m)^dataset:[ \t]*["']?([A-Za-z0-9_]+)""")
_PARTNER_ID = re.compile(r"""(?m)^partner:[ \t]*(?:\{[^}]*?\bid:[ \t]*["']?([A-Za-z0-9_]+)"""  # flow style
                         r"""|\n(?:[ \t]+.*\n)*?[ \t]+id:[ \t]*["']?([A-Za-z0-9_]+))""")  # block style
_KEYS: dict[tuple[str, int], tuple[str, str] | None] = {}


def _quick_key(path: Path) -> tuple[str, str] | None:
    """(partner, dataset) a protocol file names, without checking it: a text scan, else plain YAML.

    Every DAG file asks this of every protocol file, so it must be cheap; results are kept per file
    version (path and modification time) for the life of the process.
    """
    try:
        version = (str(path), path.stat().st_mtime_ns)
        if version in _KEYS:
            return _KEYS[version]
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    dataset, partner = _DATASET_LINE.search(text), _PARTNER_ID.search(text)
    key: tuple[str, str] | None = None
    if dataset and partner:
        key = (partner.group(1) or partner.group(2), dataset.group(1))
    else:
        import yaml

        try:
            spec = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            key = (str(spec["partner"]["id"]), str(spec["dataset"]))
        except Exception:  # a broken file is reported by its own DAG file
            key = None
    _KEYS[version] = key
    return key


def _same_dataset(paths: list[Path], key: tuple[str, str]) -> list[Path]:
    """Protocol files that name the (partner, dataset) `key` (cheap: see `_quick_key`)."""
    return [path for path in paths if _quick_key(path) == key]


def _loaded(path: Path) -> Protocol | None:
    from ptp_pipeline.protocol.load import load_protocol

    try:
        return load_protocol(path)
    except Exception:
        return None


def owner_of(paths: list[Path], key: tuple[str, str]) -> Path | None:
    """The protocol file whose DAG file builds the ingest DAG of `key`: the first approved file (by name)
    that loads. Later versions share that DAG; receive picks the version in force for each extract."""
    for path in _same_dataset(paths, key):
        protocol = _loaded(path)
        if protocol is not None and protocol.status is Status.approved and protocol.key == key:
            return path
    return None


def broken_placeholder(dag_id: str, broken: dict[str, str]) -> DAG:
    """A task-less DAG naming broken protocol files; the cluster policy turns it into an import error."""
    return DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=[BROKEN_TAG],
               default_args={"owner": "ptp-operations"},
               doc_md="\n".join(message for _, message in sorted(broken.items())))


def protocol_file_dags(file_name: str) -> dict[str, DAG]:
    """The DAG of one protocol file (called by its thin file in dags/).

    Approved and first for its dataset: the ingest DAG. Draft, withdrawn, or a later version of a
    dataset whose DAG another file builds: nothing. Broken (bad YAML, failed check, a clash with
    another file's id and version): a placeholder the cluster policy rejects, so this file, and only
    this file, shows an import error naming the protocol file and the problem.
    """
    from ptp_pipeline.protocol.load import load_protocol, protocol_paths, protocol_set_problems

    folder = protocols_dir()
    path = folder / file_name
    if not path.is_file():
        log.warning("protocol file %s is gone: no DAG; run `ptp airflow dag-files` to remove %s", path,
                    dag_file_name(file_name))
        return {}
    placeholder_id = f"ptp_broken_protocol_{dag_file_name(file_name).removeprefix(DAG_FILE_PREFIX)[:-3]}"
    try:
        protocol = load_protocol(path)
        paths = protocol_paths(folder)
        siblings = [(p, q) for p in _same_dataset(paths, protocol.key) if p != path
                    for q in [_loaded(p)] if q is not None]
        clash = [m for m in protocol_set_problems(sorted([(path, protocol), *siblings], key=lambda x: x[0]))
                 if str(path) in m]
        if clash:
            return {placeholder_id: broken_placeholder(placeholder_id, {str(path): "; ".join(clash)})}
        if protocol.status is not Status.approved or owner_of(paths, protocol.key) != path:
            return {}
        built = build_ingest_dag(protocol)
    except Exception as exc:
        return {placeholder_id: broken_placeholder(placeholder_id, {str(path): _broken_message(path, exc)})}
    return {built.dag_id: built}


def watched_protocols(dags_dir: Path) -> list[Protocol]:
    """Approved protocols whose ingest DAG exists: loaded, first for their dataset, with a DAG file."""
    from ptp_pipeline.protocol.load import protocol_paths

    paths = protocol_paths(protocols_dir())
    out, seen = [], set()
    for path in paths:
        protocol = _loaded(path)
        if protocol is None or protocol.status is not Status.approved or protocol.key in seen:
            continue
        seen.add(protocol.key)
        if (dags_dir / dag_file_name(path)).is_file() and owner_of(paths, protocol.key) == path:
            out.append(protocol)
    return out


def dispatch_dags(dags_dir: Path) -> dict[str, DAG]:
    """`ptp_dispatch`, watching the landing folder of every protocol in `watched_protocols`."""
    from ptp_pipeline.settings import load_settings

    settings = load_settings()
    built = build_dispatch_dag(watched_protocols(dags_dir), settings.home.resolve(), settings.watch_interval)
    return {built.dag_id: built}


def missing_dag_files_dags(dags_dir: Path) -> dict[str, DAG]:
    """A placeholder (an import error of its own file) when protocol files have no DAG file yet."""
    from ptp_pipeline.protocol.load import protocol_paths

    missing = {str(p): f"{p}: no DAG file {dags_dir / dag_file_name(p)}: run `ptp airflow dag-files` and "
                       "deploy the file with the protocol" for p in protocol_paths(protocols_dir())
               if not (dags_dir / dag_file_name(p)).is_file()}
    return {BROKEN_DAG_ID: broken_placeholder(BROKEN_DAG_ID, missing)} if missing else {}


def protocols_dir() -> Path:
    from ptp_pipeline.settings import REPO_PROTOCOLS

    return Path(os.environ.get("PTP_PROTOCOLS_DIR", REPO_PROTOCOLS))
