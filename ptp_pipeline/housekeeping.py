"""Nightly housekeeping (raw-extract retention, protocols about to expire, audit-chain check) and the
operator's runbook actions (re-process a refused extract, back up the DuckDB warehouse).

Each housekeeping function is one Airflow task of the `ptp_housekeeping` DAG (and callable from anywhere
else); the runbook actions are behind `ptp reprocess` and `ptp backup`.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ptp_pipeline import intake
from ptp_pipeline.errors import ConfigError, PtpUserError
from ptp_pipeline.protocol.model import Status
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import audit

log = logging.getLogger(__name__)
EXPIRY_WARNING_DAYS = 30
RAW_FILES = ("raw",)


@dataclass(frozen=True)
class RawPurge:
    extracts: int  # extracts whose raw copies were deleted
    files: int


def purge_raw(rt: Runtime, now: datetime) -> RawPurge:
    """Delete raw copies older than their protocol's `retention.raw_extract_days`.

    Raw copies are the work area's `raw` file and the taken landing file (`claimed/.../.taken/<sha>/`).
    Only settled extracts (merged or refused) are purged; the ledger row and counts stay. The age is
    counted from the receipt recorded in the ledger. An extract whose protocol is unknown keeps its
    raw copy (the purge never guesses).
    """
    days = {(p.id, p.version): p.retention.raw_extract_days for p in rt.protocols}
    rows = rt.warehouse.query(
        "SELECT extract_id, partner, dataset, protocol_id, protocol_version, sha256, received_at "
        "FROM ops.extract_ledger WHERE status IN ('merged', 'refused') AND protocol_id IS NOT NULL")
    extracts = files = 0
    for r in rows.itertuples(index=False):
        keep = days.get((r.protocol_id, int(r.protocol_version)))
        received = r.received_at.to_pydatetime() if hasattr(r.received_at, "to_pydatetime") else r.received_at
        if keep is None or received + timedelta(days=keep) > now:
            continue
        removed = 0
        for name in RAW_FILES:
            raw = rt.settings.work_dir / r.extract_id / name
            if raw.exists():
                raw.unlink()
                removed += 1
        taken = rt.settings.claimed_dir / r.partner / r.dataset / ".taken" / r.sha256[:32]
        if taken.is_dir():
            removed += sum(1 for p in taken.iterdir() if p.is_file())
            shutil.rmtree(taken)
        if removed:
            extracts += 1
            files += removed
            audit.append(rt.warehouse, "purge_raw", actor="housekeeping", extract_id=r.extract_id,
                         detail=f"{removed} raw file(s) older than {keep} days deleted")
    return RawPurge(extracts, files)


def unprocessed_files(rt: Runtime, now: datetime, older_than: timedelta = timedelta(days=1)) -> dict[str, int]:
    """Files claimed from landing but not settled in the ledger for longer than `older_than`, per dataset.

    They are kept (never purged: nothing is lost) and reported, so an operator can rerun their ingest
    runs. Only counts per `partner/dataset` are returned and logged, never file names.
    """
    root = rt.settings.claimed_dir
    if not root.is_dir():
        return {}
    settled = {str(s)[:32] for s in rt.warehouse.query(
        "SELECT sha256 FROM ops.extract_ledger WHERE status IN ('merged', 'refused')")["sha256"]}
    cutoff = (now - older_than).replace(tzinfo=UTC).timestamp()  # `now` is naive UTC, as in the ledger
    found: dict[str, int] = {}
    for path in root.rglob("*"):
        if not path.is_file() or path.stat().st_mtime > cutoff:
            continue
        parts = path.relative_to(root).parts  # partner/dataset/file or partner/dataset/.taken/sha/file
        if len(parts) >= 3 and parts[2] == intake.RETRY:
            continue  # a re-process marker, not a file
        if len(parts) < 3 or (parts[2] == ".taken" and len(parts) == 5 and parts[3] in settled):
            continue
        key = f"{parts[0]}/{parts[1]}"
        found[key] = found.get(key, 0) + 1
    for key, n in sorted(found.items()):
        log.warning("%d file(s) for %s claimed more than %s ago are not ingested yet: rerun or clear their "
                    "ingest runs", n, key, older_than)
    return found


def expiring_protocols(rt: Runtime, today: date, within_days: int = EXPIRY_WARNING_DAYS) -> list[dict[str, object]]:
    """Approved protocols whose `valid_to` falls within the next `within_days` days (or has passed)."""
    soon = []
    for p in rt.protocols:
        if p.status is not Status.approved:
            continue
        left = (p.valid_to - today).days
        if left <= within_days:
            soon.append({"protocol": p.id, "version": p.version, "partner": p.partner.id, "dataset": p.dataset,
                         "valid_to": p.valid_to.isoformat(), "days_left": left})
            log.warning("protocol %s v%d (%s/%s) %s on %s: renew it with the partner or stop the feed",
                        p.id, p.version, p.partner.id, p.dataset, "expires" if left >= 0 else "expired",
                        p.valid_to.isoformat())
    return soon


def _as_datetime(value: object) -> datetime | None:
    """A ledger timestamp from either backend (datetime, pandas Timestamp, NULL/NaT) as a naive datetime."""
    if value is None or str(value) in ("NaT", "None", "nan"):
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def late_deliveries(rt: Runtime, today: date) -> list[dict[str, object]]:
    """Approved protocols in force with a `delivery` schedule whose extract for this period is overdue.

    From the day after `by_day` + `grace_days`, a dataset with nothing received since the period began is
    `late`; with nothing since the previous period began either (or never), `missing`. Counts and dates only.
    """
    late: list[dict[str, object]] = []
    for p in rt.protocols:
        schedule = p.delivery
        if schedule is None or p.status is not Status.approved or not p.valid_from <= today <= p.valid_to:
            continue
        if not schedule.overdue(today):
            continue
        last = rt.warehouse.scalar("SELECT max(received_at) FROM ops.extract_ledger WHERE partner = ? AND dataset = ?",
                                   (p.partner.id, p.dataset))
        last_at = _as_datetime(last)
        if last_at is not None and last_at.date() >= schedule.period_start(today):
            continue
        missing = last_at is None or last_at.date() < schedule.previous_start(today)
        late.append({"protocol": p.id, "version": p.version, "partner": p.partner.id, "dataset": p.dataset,
                     "status": "missing" if missing else "late", "due": schedule.due(today).isoformat(),
                     "last_received": None if last_at is None else last_at.date().isoformat()})
        log.warning("no %s/%s extract received this period (due by %s; last received: %s): ask the partner",
                    p.partner.id, p.dataset, schedule.due(today).isoformat(),
                    "never" if last_at is None else last_at.date().isoformat())
    return late


def alert_late(rt: Runtime, today: date, context: object = None) -> list[dict[str, object]]:
    """`late_deliveries`, each e-mailed to operations and the protocol's contacts (`late` alerts)."""
    from ptp_pipeline import alerts

    late = late_deliveries(rt, today)
    for item in late:
        protocol = rt.protocol(str(item["protocol"]), int(str(item["version"])))
        where = f"{item['partner']}/{item['dataset']}"
        schedule = protocol.delivery.describe() if protocol.delivery else ""
        alerts.send(f"{where}: this period's extract is {item['status']}", [
            f"Nothing received for {where} this period; it was due by {item['due']} ({schedule}).",
            f"Last extract received: {item['last_received'] or 'never'}.",
            "Ask the partner to send it (landing folder or SFTP)."], alerts.recipients(protocol, "late"), context)
    return late


def alert_expiring(rt: Runtime, today: date, context: object = None) -> list[dict[str, object]]:
    """`expiring_protocols`: one e-mail to operations listing them all, and one to each protocol's contacts
    (`expiry` alerts) about theirs."""
    from ptp_pipeline import alerts

    soon = expiring_protocols(rt, today)

    def line(p: dict[str, object]) -> str:
        ends = "expires" if int(str(p["days_left"])) >= 0 else "expired"
        return f"{p['protocol']} v{p['version']} ({p['partner']}/{p['dataset']}): {ends} on {p['valid_to']}"

    if soon:
        alerts.send(f"{len(soon)} protocol(s) expire within {EXPIRY_WARNING_DAYS} days",
                    [line(p) for p in soon] + ["Renew each with its partner, or stop the feed."],
                    alerts.operations(), context)
    for p in soon:
        protocol = rt.protocol(str(p["protocol"]), int(str(p["version"])))
        contacts = [a for a in alerts.recipients(protocol, "expiry") if a not in alerts.operations()]
        alerts.send(f"protocol {p['protocol']} v{p['version']} expires on {p['valid_to']}",
                    [line(p), "Renew it with the council, or the feed stops on that day."], contacts, context)
    return soon


TASK_LOG_DAYS_ENV = "PTP_TASK_LOG_DAYS"
TASK_LOG_DAYS = 90


@dataclass(frozen=True)
class LogPurge:
    files: int
    bytes: int


def purge_task_logs(folder: Path, now: datetime, keep_days: int | None = None) -> LogPurge:
    """Delete Airflow task log files not written to for `keep_days` (default `PTP_TASK_LOG_DAYS`, 90;
    `off` keeps them), then the folders left empty. Task logs hold ids and counts, never row values;
    the audit log and the ledger are the lasting record."""
    import os

    if keep_days is None:
        value = os.environ.get(TASK_LOG_DAYS_ENV, str(TASK_LOG_DAYS)).strip().lower()
        if value in ("off", "none", ""):
            return LogPurge(0, 0)
        keep_days = int(value)
    if not folder.is_dir():
        return LogPurge(0, 0)
    cutoff = (now - timedelta(days=keep_days)).replace(tzinfo=UTC).timestamp()  # `now` is naive UTC
    files = size = 0
    for path in sorted(folder.rglob("*"), reverse=True):  # children before their folders
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                size += path.stat().st_size
                path.unlink()
                files += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        except FileNotFoundError:  # a concurrent purge or rotation got there first
            continue
    if files:
        log.info("deleted %d task log file(s), %d bytes, older than %d days", files, size, keep_days)
    return LogPurge(files, size)


AIRFLOW_DB_DAYS_ENV = "PTP_AIRFLOW_DB_DAYS"
AIRFLOW_DB_DAYS = 90
AIRFLOW_DB_CONN_ENV = "PTP_AIRFLOW_DB_CONN_ID"
AIRFLOW_DB_CONN = "airflow_metadata"


@dataclass(frozen=True)
class MetadataClean:
    before: str | None  # rows older than this were deleted (None: not run)
    rows: int  # rows deleted, all tables together
    skipped: str | None = None  # why nothing was done


def airflow_db_days() -> int | None:
    """Days of Airflow metadata to keep (`PTP_AIRFLOW_DB_DAYS`, default 90, at least 1); None for `off`."""
    value = os.environ.get(AIRFLOW_DB_DAYS_ENV, str(AIRFLOW_DB_DAYS)).strip().lower()
    if value in ("off", "none", ""):
        return None
    days = int(value)
    if days < 1:
        raise ConfigError(f"{AIRFLOW_DB_DAYS_ENV}={value}: keep at least 1 day (or `off`)")
    return days


def clean_airflow_metadata(url: str, now: datetime, keep_days: int, timeout: float = 3600) -> MetadataClean:
    """`airflow db clean` of runs, task instances, XComs, logs, jobs ... older than `keep_days` before `now`
    (naive UTC; never later than the wall clock, so the run doing this is never its own victim).

    Runs the CLI in a process of its own against `url`, the metadata database's SQLAlchemy URL: Airflow 3
    blocks database access from task code, and the CLI is Airflow's own supported clean-up. No archive
    tables are kept (`--skip-archive`): the extract ledger and the audit log are the lasting record.
    """
    import re
    import subprocess
    import sys

    wall = datetime.now(UTC).replace(tzinfo=None)
    before = (min(now, wall) - timedelta(days=keep_days)).replace(microsecond=0)
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp",
                           before.isoformat() + "+00:00", "--skip-archive", "--yes"],
                          env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        tail = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][-1:]
        raise ConfigError(f"airflow db clean failed (exit {done.returncode}): {tail[0] if tail else 'no output'}",
                          hint=f"Check the `{AIRFLOW_DB_CONN}` connection's sql_alchemy_conn, and that this "
                               "Airflow version can reach its metadata database.")
    rows = sum(int(n) for n in re.findall(r"Found (\d+) rows meeting deletion criteria", done.stdout))
    log.info("airflow db clean: %d row(s) older than %s deleted", rows, before.isoformat())
    return MetadataClean(before.isoformat(), rows)


def verify_audit(rt: Runtime) -> list[str]:
    """Problems in the audit chain (empty when intact)."""
    return audit.verify(rt.warehouse)


# -- runbook -------------------------------------------------------------------------------------
REPROCESSABLE = ("refused", "failed")


@dataclass(frozen=True)
class Reprocess:
    extract_id: str
    file_name: str
    partner: str
    dataset: str
    attempt: int  # the ingest run for it is `file__<sha256[:32]>__attempt<N>`
    file: Path | None  # where the kept file now is, or None: no longer kept, the partner must re-send it
    requeued: bool  # the file was put back in its landing folder (for the Airflow watcher)


def reprocess(rt: Runtime, extract_id: str, actor: str, requeue: bool = True) -> Reprocess:
    """Clear the way for a refused (or failed) extract to be ingested again once its cause is fixed.

    What blocks it: under Airflow, one run per content (run id `file__<sha256[:32]>`), so the same file
    re-sent is skipped. This allows one more run for that content (a new attempt number, hence a new run
    id) and, while the file is still kept (the taken landing copy, within `raw_extract_days`), moves it
    back into its landing folder so the watcher picks it up at once (`requeue=False` leaves it where it
    is, for a caller that ingests it itself); otherwise the partner re-sends it. The ledger keeps the
    refusal until the new run receives the file. Audited (`reprocess`).
    """
    row = rt.warehouse.query("SELECT partner, dataset, file_name, sha256, status FROM ops.extract_ledger "
                             "WHERE extract_id = ?", (extract_id,))
    if row.empty:
        raise PtpUserError(f"no extract {extract_id} in the ledger",
                           hint="Run `ptp status` to see extract ids.")
    r = row.iloc[0]
    partner, dataset, name, sha, status = (str(r["partner"]), str(r["dataset"]), str(r["file_name"]),
                                           str(r["sha256"]), str(r["status"]))
    if status not in REPROCESSABLE:
        raise PtpUserError(f"extract {extract_id} is {status}: only a refused or failed extract is re-processed",
                           hint="A merged extract needs nothing; to replace its rows send a correction "
                                "(`ptp ingest --corrects`).")
    claimed = rt.settings.claimed_dir / partner / dataset
    kept = claimed / intake.TAKEN / sha[:32]
    sources = sorted(p for p in kept.iterdir() if p.is_file()) if kept.is_dir() else []
    number = intake.allow_another_attempt(claimed, sha)
    file = sources[0] if sources else None
    if file is not None and requeue:
        landing = rt.settings.landing_dir / partner / dataset
        landing.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = landing / file.name
        if target.exists():
            target = landing / f"reprocess{number}_{file.name}"
        os.rename(file, target)  # same filesystem: atomic; the watcher claims it when stable
        file = target
    where = ("put back in landing" if file is not None and requeue else "kept for a direct ingest" if file is not None
             else "no longer kept: the partner re-sends it")
    audit.append(rt.warehouse, "reprocess", actor=actor, extract_id=extract_id,
                 detail=f"{status} extract cleared for attempt {number}; file {name} {where}")
    log.info("extract %s cleared for attempt %d (%s)", extract_id, number, where)
    return Reprocess(extract_id, name, partner, dataset, number, file, file is not None and requeue)


@dataclass(frozen=True)
class Backup:
    path: Path
    tables: int
    rows: int
    seconds: float


def backup_duckdb(rt: Runtime, dest: Path, actor: str) -> Backup:
    """A consistent copy of the DuckDB warehouse in a new file readable by its owner only (0600).

    One transaction (`COPY FROM DATABASE`), so the copy is a snapshot even while nothing else can write
    (DuckDB has one writer: run it when no Airflow task holds the warehouse). Audited (`backup`).
    The project key is not in the warehouse: back it up separately, with the key custodian.
    """
    import time

    if rt.warehouse.dialect != "duckdb":
        raise ConfigError("`ptp backup` copies the DuckDB warehouse; this installation uses PostgreSQL",
                          hint="Back PostgreSQL up with pg_dump (see the README, 'Backups').")
    dest = dest.expanduser().resolve()
    if dest.exists():
        raise PtpUserError(f"{dest} exists: a backup never overwrites a file", hint="Choose a new file name.")
    if not dest.parent.is_dir():
        raise PtpUserError(f"{dest.parent}: no such folder", hint="Create it (owner-only, e.g. mode 0700) first.")
    started = time.perf_counter()
    wh = rt.warehouse
    source = str(wh.query("SELECT current_database() AS db").iat[0, 0])
    old = os.umask(0o077)
    try:
        wh.execute("CHECKPOINT")
        literal = str(dest).replace("'", "''")
        wh.execute(f"ATTACH '{literal}' AS ptp_backup")
        try:
            wh.execute(f'COPY FROM DATABASE "{source}" TO ptp_backup')
            tables = wh.query("SELECT schema_name, table_name, estimated_size FROM duckdb_tables() "
                              "WHERE database_name = 'ptp_backup'")
        finally:
            wh.execute("DETACH ptp_backup")
    finally:
        os.umask(old)
    for leftover in (dest, dest.with_name(dest.name + ".wal")):
        if leftover.exists():
            os.chmod(leftover, 0o600)
    rows = int(tables["estimated_size"].sum()) if len(tables) else 0
    seconds = time.perf_counter() - started
    audit.append(wh, "backup", actor=actor,
                 detail=f"DuckDB warehouse copied to {dest.name}: {len(tables)} tables, {rows} rows")
    return Backup(dest, len(tables), rows, seconds)
