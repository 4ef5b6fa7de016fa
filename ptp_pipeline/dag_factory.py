"""Builds the Airflow DAGs from protocol files. Orchestration only: each task is one library call.

Imported by the files in `dags/` at parse time, so it must stay cheap: no pandas, DuckDB, GX or
key material here; task bodies import the pipeline when they run.

One Airflow serves every theme of the deployment (`settings.served_themes`): each DAG and asset of a
named theme carries the theme (`ptp_ingest_<theme>_<partner>_<dataset>`, `ptp_dispatch_<theme>`, ...) and
passes it to every task as an argument, so a worker never reads PTP_THEME; the flat default theme
(protocols/project.yaml) keeps the names below.

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
- `ptp_pathways`: on any ingest's merge, or nightly. `ptp_housekeeping`: nightly; with named themes,
  `ptp_housekeeping` keeps only the Airflow-wide clean-up and `ptp_housekeeping_<theme>` does each theme's.
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


def themed(name: str, theme: str | None) -> str:
    """A DAG id or asset name of a theme: `ptp_dispatch` -> `ptp_dispatch_neet`; the default theme's is unchanged."""
    return f"{name}_{theme}" if theme else name


def _uri(theme: str | None, path: str) -> str:
    """An asset URI of a theme: `ptp://shared/...` for the default theme, `ptp://<theme>/shared/...` for a named one."""
    return f"ptp://{theme}/{path}" if theme else f"ptp://{path}"


def dataset_asset(protocol: Protocol, theme: str | None = None) -> Asset:
    return Asset(_uri(theme, f"shared/{protocol.partner.id}/{protocol.dataset}"), group="ptp")


def pathways_input(theme: str | None = None) -> Asset:
    """Updated by every ingest of the theme; the theme's pathways DAG is scheduled on it."""
    return Asset(_uri(theme, "shared/pathway_event"), group="ptp")


def ingest_dag_id(partner: str, dataset: str, theme: str | None = None) -> str:
    return f"{themed('ptp_ingest', theme)}_{partner}_{dataset}"


def landing_asset(protocol: Protocol, home: Path, poke_interval: float, theme: str | None = None) -> Asset:
    """The landing folder (under the theme's `home`) as an asset, watched by a trigger that claims stable files."""
    from ptp_pipeline.triggers import ClaimingDirectoryTrigger

    partner, dataset = protocol.partner.id, protocol.dataset
    trigger = ClaimingDirectoryTrigger(directory=str(home / "landing" / partner / dataset),
                                       claim_dir=str(home / "claimed" / partner / dataset),
                                       poke_interval=poke_interval)
    return Asset(name=f"{themed('ptp_landing', theme)}_{partner}_{dataset}",
                 uri=_uri(theme, f"landing/{partner}/{dataset}"), group="ptp",
                 watchers=[AssetWatcher(name=f"{themed('ptp_watch', theme)}_{partner}_{dataset}", trigger=trigger)])


def _runtime(theme: str | None) -> Any:
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import theme_settings

    return Runtime(theme_settings(theme))


def failure_recorder(theme: str | None) -> Any:
    """The ingest DAG's failure callback for `theme` (a callback gets only the context, so the theme is bound here)."""

    def record_failure(context: Any) -> None:
        _record_failure(context, theme)

    return record_failure


def _record_failure(context: Any, theme: str | None) -> None:
    """Task failure callback: each extract the task failed on is marked failed in the ledger (unless
    refused) and the audit log says why; a task that failed before taking a file gets one audit entry."""
    from ptp_pipeline import pipeline
    from ptp_pipeline.ingest_task import Failed, failed_extracts

    ti = context["ti"]
    tries = int(getattr(ti, "try_number", 1) or 1)
    try:
        rt = _runtime(theme)
        try:
            for failed in failed_extracts(ti) or [Failed(ti.task_id, "")]:
                where = f"{ti.dag_id}.{ti.task_id}" + (f" ({failed.stage})" if failed.stage != ti.task_id else "")
                pipeline.record_failure(rt, where, context.get("exception"), extract_id=failed.extract_id,
                                        file_name=failed.file_name or None, tries=tries)
        finally:
            rt.close()
    except Exception as exc:  # the warehouse may be the thing that is down: say so, never mask the failure
        log.warning("could not record the failure of %s in the ledger: %s", ti.task_id, type(exc).__name__)


def _tags(theme: str | None, *tags: str) -> list[str]:
    return ["ptp", *tags, *([f"theme:{theme}"] if theme else [])]


def _of(theme: str | None) -> str:
    """The end of a DAG's description: which theme it works for (nothing for the default theme)."""
    return f" of theme `{theme}`." if theme else "."


def build_ingest_dag(protocol: Protocol, theme: str | None = None) -> DAG:
    """One DAG per approved protocol, one task per run: receive → check → pseudonymise → validate → merge.

    One task, not one per stage: each task costs seconds of scheduling and start-up (see
    `ptp_pipeline.ingest_task`), and a file should be merged seconds after it lands. The theme is an
    argument of the task (shown in its rendered op_kwargs), never read from the worker's environment.
    """
    partner, dataset = protocol.partner.id, protocol.dataset
    landing = f"landing/{partner}/{dataset}/" if theme is None else f"themes/{theme}/landing/{partner}/{dataset}/"

    @dag(dag_id=ingest_dag_id(partner, dataset, theme), schedule=pull_schedule(protocol), start_date=START,
         catchup=False, max_active_runs=8, tags=_tags(theme, "ingest", partner),
         default_args={**DEFAULT_ARGS, "on_failure_callback": [failure_recorder(theme), *_notifiers(protocol)]},
         doc_md=f"Ingest extracts of **{protocol.title}** under protocol `{protocol.id}` v{protocol.version}"
                f"{f' (theme `{theme}`)' if theme else ''}. Started by `{themed('ptp_dispatch', theme)}` when a "
                f"file lands in `{landing}` (one run per file), or by hand with conf `{{\"path\": ...}}` (without "
                "it: every file waiting in landing).")
    def ingest() -> None:
        @task(pool=WRITER_POOL, outlets=[dataset_asset(protocol, theme), pathways_input(theme)])
        def ingest_files(theme: str | None) -> list[str]:
            """The run's file(s) through every stage; the task log has one line per stage with counts and seconds."""
            from ptp_pipeline import ingest_task

            context = get_current_context()
            run = context["dag_run"]
            conf_path = (run.conf or {}).get("path")  # type: ignore[union-attr]
            paths = ingest_task.run_files(run.run_id, conf_path, partner, dataset, theme)  # type: ignore[union-attr]
            merged = ingest_task.ingest_files(context["ti"], paths, partner, dataset, theme)
            ingest_task.forget_run(run.run_id, conf_path, partner, dataset, theme)  # type: ignore[union-attr]
            return merged

        add_pull_task(protocol, ingest_files(theme=theme), theme)  # stage 0: pull first when the protocol has a source

    return ingest()


def build_dispatch_dag(protocols: list[Protocol], home: Path, poke_interval: float, theme: str | None = None) -> DAG:
    """Start one ingest run per landed file of the theme: run id `file__<sha256[:32]>`, so a file never runs twice."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    watched = [landing_asset(p, home, poke_interval, theme) for p in protocols]
    targets = [(p.partner.id, p.dataset) for p in protocols]

    @dag(dag_id=themed("ptp_dispatch", theme), start_date=START, catchup=False, default_args=_ops_args(),
         is_paused_upon_creation=False, max_active_runs=1,
         schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
                                      assets=AssetAny(*watched)),
         tags=_tags(theme, "dispatch"),
         doc_md="Takes every file the landing watchers claimed (and any file left in a landing folder for a "
                "minute or more) and starts one ingest run per file" + _of(theme))
    def dispatch() -> None:
        @task
        def take_pending(theme: str | None) -> list[dict[str, Any]]:
            from ptp_pipeline import intake
            from ptp_pipeline.settings import theme_settings

            settings = theme_settings(theme)
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
                    runs.append({"trigger_dag_id": ingest_dag_id(partner, dataset, theme),
                                 "trigger_run_id": taken.run_id, "conf": {"path": taken.path}})
            return runs

        TriggerDagRunOperator.partial(task_id="start_ingest", skip_when_already_exists=True,
                                      wait_for_completion=False).expand_kwargs(take_pending(theme=theme))

    return dispatch()


def build_pathways_dag(theme: str | None = None) -> DAG:
    """Rebuild the theme's headline figures when any of its ingests merged, or nightly, whichever comes first."""

    @dag(dag_id=themed("ptp_pathways", theme), start_date=START, catchup=False, default_args=_ops_args(),
         is_paused_upon_creation=False,
         schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
                                      assets=[pathways_input(theme)]),
         tags=_tags(theme, "pathways"),
         doc_md="Rebuild pathway tables from the warehouse state" + _of(theme))
    def pathways() -> None:
        @task(pool=WRITER_POOL)
        def rebuild(theme: str | None) -> dict[str, float]:
            from ptp_pipeline.pathways import headline, rebuild

            rt = _runtime(theme)
            try:
                rebuild(rt)
                h = headline(rt.warehouse, rt.project.top_share)
            finally:
                rt.close()
            return {"persons": h.persons, "persons_multi_agency": h.persons_multi_agency,
                    "top_cost_share": round(h.top_cost_share, 4)}

        rebuild(theme=theme)

    return pathways()


def build_housekeeping_dag(theme: str | None = None, *, themed_work: bool = True, airflow_wide: bool = True) -> DAG:
    """Nightly: raw-extract retention, protocols expiring within 30 days, late or missing extracts (by each
    protocol's `delivery`), audit-chain verification (the theme's work), old Airflow task logs deleted
    (`PTP_TASK_LOG_DAYS`, default 90) and Airflow metadata cleaned (`PTP_AIRFLOW_DB_DAYS`, default 90): the
    Airflow-wide work, done once per Airflow, in `ptp_housekeeping`."""
    work = "Retention purge, protocol expiry and late-extract alerts, the audit-chain check" if themed_work else ""
    wide = "the clean-up of old Airflow task logs and metadata" if airflow_wide else ""
    what = ", and ".join(filter(None, [work, wide]))

    @dag(dag_id=themed("ptp_housekeeping", theme), start_date=START, catchup=False, default_args=_ops_args(),
         is_paused_upon_creation=False,
         schedule=CronTriggerTimetable("30 3 * * *", timezone="UTC"), tags=_tags(theme, "housekeeping"),
         doc_md=what[:1].upper() + what[1:] + _of(theme))
    def housekeeping() -> None:
        if themed_work:
            _theme_housekeeping_tasks(theme)
        if airflow_wide:
            _airflow_housekeeping_tasks()

    return housekeeping()


def housekeeping_dags() -> dict[str, DAG]:
    """`ptp_housekeeping` (the default theme's work, if there is one, and the Airflow-wide clean-up), and
    `ptp_housekeeping_<theme>` for each named theme."""
    from ptp_pipeline.settings import served_themes

    served = served_themes(protocols_dir())
    built = [build_housekeeping_dag(None, themed_work=None in served)]
    built += [build_housekeeping_dag(theme, airflow_wide=False) for theme in served if theme is not None]
    return {d.dag_id: d for d in built}


def _theme_housekeeping_tasks(theme: str | None) -> None:
    @task(pool=WRITER_POOL)
    def purge_retention(theme: str | None) -> dict[str, Any]:
        return _housekeeping("purge_retention", theme)

    @task
    def expiring_protocols(theme: str | None) -> list[dict[str, object]]:
        return _housekeeping_alerts("expiry", theme)

    @task(pool=WRITER_POOL)
    def verify_audit_chain(theme: str | None) -> int:
        return int(_housekeeping("verify_audit", theme)["entries_checked"])

    @task
    def late_deliveries(theme: str | None) -> list[dict[str, object]]:
        return _housekeeping_alerts("late", theme)

    purge_retention(theme=theme) >> verify_audit_chain(theme=theme)
    expiring_protocols(theme=theme)
    late_deliveries(theme=theme)


def _airflow_housekeeping_tasks() -> None:
    @task
    def purge_task_logs() -> dict[str, int]:
        from airflow.configuration import conf

        from ptp_pipeline import housekeeping as hk

        done = hk.purge_task_logs(Path(conf.get("logging", "base_log_folder")), _run_time())
        return {"files": done.files, "bytes": done.bytes}

    @task
    def clean_airflow_metadata() -> dict[str, object]:
        return _clean_airflow_metadata()

    purge_task_logs()
    clean_airflow_metadata()


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


def _housekeeping_alerts(alert: str, theme: str | None) -> list[dict[str, object]]:
    """Protocols expiring soon, or extracts late: found in the warehouse, e-mailed (ptp_pipeline.alerts)."""
    from ptp_pipeline import housekeeping as hk

    rt = _runtime(theme)
    try:
        today = _run_time().date()
        if alert == "expiry":
            return hk.alert_expiring(rt, today, get_current_context())
        return hk.alert_late(rt, today, get_current_context())
    finally:
        rt.close()


def _housekeeping(what: str, theme: str | None) -> dict[str, Any]:
    import importlib

    from airflow.sdk.exceptions import AirflowFailException

    from ptp_pipeline import housekeeping as hk

    rt = _runtime(theme)
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
# `ptp airflow dag-files`), one per theme and protocol file when the deployment has named themes;
# dispatch, pathways and housekeeping live in files of their own too (one DAG per theme in each).

DAG_FILE_PREFIX = "ptp_protocol_"
DAG_FILE_MARK = "Written by `ptp airflow dag-files`"
DAG_FILE_TEMPLATE = '''"""Airflow DAG file for the protocol file `{name}` (in PTP_PROTOCOLS_DIR): its ingest DAG only.

{mark}; do not edit. One file per protocol file, so a broken protocol
breaks only this file's DAG (see ptp_pipeline/dag_factory.py).
"""

from ptp_pipeline.dag_factory import protocol_file_dags

globals().update(protocol_file_dags({literal}))
'''
THEMED_DAG_FILE_TEMPLATE = '''"""Airflow DAG file for the protocol file `{name}` of theme `{theme}`
(in PTP_PROTOCOLS_DIR/{theme}): its ingest DAG only.

{mark}; do not edit. One file per theme and protocol file, so a broken
protocol breaks only this file's DAG (see ptp_pipeline/dag_factory.py).
"""

from ptp_pipeline.dag_factory import protocol_file_dags

globals().update(protocol_file_dags({literal}, theme={theme_literal}))
'''


def dag_file_name(protocol_file: str | Path, theme: str | None = None) -> str:
    """`police_incidents.yaml` -> `ptp_protocol_police_incidents.py`, of theme `neet` ->
    `ptp_protocol_neet_police_incidents.py` (a valid module name)."""
    stem = Path(protocol_file).name.removesuffix(".yaml")
    stem = f"{theme}_{stem}" if theme else stem
    return DAG_FILE_PREFIX + "".join(c if c.isalnum() else "_" for c in stem) + ".py"


def render_dag_file(protocol_file: str | Path, theme: str | None = None) -> str:
    import json

    name = Path(protocol_file).name
    if theme is None:
        return DAG_FILE_TEMPLATE.format(name=name, literal=json.dumps(name), mark=DAG_FILE_MARK)
    return THEMED_DAG_FILE_TEMPLATE.format(name=name, literal=json.dumps(name), mark=DAG_FILE_MARK, theme=theme,
                                           theme_literal=json.dumps(theme))


def theme_folder(protocols: Path, theme: str | None) -> Path:
    """The protocols folder of a theme: the deployment's folder itself for the default theme."""
    return protocols / theme if theme else protocols


def wanted_dag_files(protocols: Path) -> dict[str, str]:
    """Name -> text of every thin DAG file the deployment needs: one per theme and protocol file.

    Two protocol files whose DAG files would share a name (theme `a` with `b_c.yaml`, theme `a_b` with
    `c.yaml`) are refused: one would silently replace the other's DAG.
    """
    from ptp_pipeline.errors import ConfigError
    from ptp_pipeline.protocol.load import protocol_paths
    from ptp_pipeline.settings import served_themes

    wanted: dict[str, str] = {}
    source: dict[str, Path] = {}
    for theme in served_themes(protocols):
        for path in protocol_paths(theme_folder(protocols, theme)):
            name = dag_file_name(path, theme)
            if name in source:
                raise ConfigError(f"{path} and {source[name]} would both need the DAG file {name}",
                                  hint="Rename one of the protocol files (or the theme's folder).")
            source[name], wanted[name] = path, render_dag_file(path, theme)
    return wanted


def write_dag_files(dags_dir: Path, protocols: Path) -> tuple[list[Path], list[Path]]:
    """Make `dags_dir` hold one thin DAG file per theme and protocol file; returns (written, removed).

    Files are rewritten only when their text differs; generated files whose protocol file is gone
    are removed (a file without the generated mark is never touched).
    """
    wanted = wanted_dag_files(protocols)
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


def protocol_file_dags(file_name: str, theme: str | None = None) -> dict[str, DAG]:
    """The DAG of one protocol file of `theme` (called by its thin file in dags/).

    Approved and first for its dataset: the ingest DAG. Draft, withdrawn, or a later version of a
    dataset whose DAG another file builds: nothing. Broken (bad YAML, failed check, a clash with
    another file's id and version): a placeholder the cluster policy rejects, so this file, and only
    this file, shows an import error naming the protocol file and the problem.
    """
    from ptp_pipeline.protocol.load import load_protocol, protocol_paths, protocol_set_problems

    folder = theme_folder(protocols_dir(), theme)
    path = folder / file_name
    if not path.is_file():
        log.warning("protocol file %s is gone: no DAG; run `ptp airflow dag-files` to remove %s", path,
                    dag_file_name(file_name, theme))
        return {}
    placeholder_id = f"ptp_broken_protocol_{dag_file_name(file_name, theme).removeprefix(DAG_FILE_PREFIX)[:-3]}"
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
        built = build_ingest_dag(protocol, theme)
    except Exception as exc:
        return {placeholder_id: broken_placeholder(placeholder_id, {str(path): _broken_message(path, exc)})}
    return {built.dag_id: built}


def watched_protocols(dags_dir: Path, theme: str | None = None) -> list[Protocol]:
    """Approved protocols of the theme whose ingest DAG exists: loaded, first for their dataset, with a DAG file."""
    from ptp_pipeline.protocol.load import protocol_paths

    paths = protocol_paths(theme_folder(protocols_dir(), theme))
    out, seen = [], set()
    for path in paths:
        protocol = _loaded(path)
        if protocol is None or protocol.status is not Status.approved or protocol.key in seen:
            continue
        seen.add(protocol.key)
        if (dags_dir / dag_file_name(path, theme)).is_file() and owner_of(paths, protocol.key) == path:
            out.append(protocol)
    return out


def dispatch_dags(dags_dir: Path) -> dict[str, DAG]:
    """One dispatcher per theme (`ptp_dispatch`, `ptp_dispatch_<theme>`), watching the landing folders (in
    the theme's home) of every protocol in its `watched_protocols`."""
    from ptp_pipeline.settings import served_themes, theme_settings

    built = []
    for theme in served_themes(protocols_dir()):
        settings = theme_settings(theme)
        built.append(build_dispatch_dag(watched_protocols(dags_dir, theme), settings.home.resolve(),
                                        settings.watch_interval, theme))
    return {d.dag_id: d for d in built}


def pathways_dags() -> dict[str, DAG]:
    """One pathways DAG per theme (`ptp_pathways`, `ptp_pathways_<theme>`), each on its own theme's merges."""
    from ptp_pipeline.settings import served_themes

    built = [build_pathways_dag(theme) for theme in served_themes(protocols_dir())]
    return {d.dag_id: d for d in built}


def missing_dag_files_dags(dags_dir: Path) -> dict[str, DAG]:
    """A placeholder (an import error of its own file) when protocol files of any theme have no DAG file yet."""
    from ptp_pipeline.protocol.load import protocol_paths
    from ptp_pipeline.settings import served_themes

    missing = {str(p): f"{p}: no DAG file {dags_dir / dag_file_name(p, theme)}: run `ptp airflow dag-files` and "
                       "deploy the file with the protocol"
               for theme in served_themes(protocols_dir())
               for p in protocol_paths(theme_folder(protocols_dir(), theme))
               if not (dags_dir / dag_file_name(p, theme)).is_file()}
    return {BROKEN_DAG_ID: broken_placeholder(BROKEN_DAG_ID, missing)} if missing else {}


def protocols_dir() -> Path:
    from ptp_pipeline.settings import REPO_PROTOCOLS

    return Path(os.environ.get("PTP_PROTOCOLS_DIR", REPO_PROTOCOLS))
