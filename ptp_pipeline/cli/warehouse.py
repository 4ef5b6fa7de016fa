"""Warehouse commands: migrate (admin login), audit verify, national data opt-out, Parquet export, retention purge."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from ptp_pipeline.cli.common import app, err, out, runtime
from ptp_pipeline.errors import ConfigError

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log in ops.audit_log.")
optout_app = typer.Typer(no_args_is_help=True, help="National data opt-out: health events of opted-out persons.")
app.add_typer(audit_app, name="audit")
app.add_typer(optout_app, name="optout")


@app.command("migrate")
def migrate_cmd(warehouse: Annotated[str | None, typer.Option(
        "--warehouse", help="The admin login's warehouse URL (default: PTP_WAREHOUSE). Prefer ~/.pgpass to a "
                            "password in the URL.")] = None) -> None:
    """Create or upgrade the warehouse schema and refresh the roles' grants: run by the admin login only.

    No other command changes the schema: on PostgreSQL the pipeline, analyst and re-identifier logins own
    nothing and only check that the schema is current.
    """
    from ptp_pipeline.settings import load_settings
    from ptp_pipeline.warehouse import mask_url, open_warehouse

    url = warehouse or load_settings().warehouse_url
    wh = open_warehouse(url, migrate=False)
    try:
        applied = wh.migrate()
        version = max(wh.schema_version() or {0})
    finally:
        wh.close()
    out.print(f"Warehouse {mask_url(url)}: {applied} migration(s) applied; schema at version {version}"
              + ("; roles and grants refreshed." if wh.dialect == "postgresql" else "."))


@audit_app.command("verify")
def audit_verify(head: Annotated[str | None, typer.Option(
        help="A head hash recorded earlier: also proves no entry was cut from the end.")] = None,
                 unsigned_until: Annotated[int, typer.Option(
        help="Accept entries up to this number without a signature (written before entries were signed).")] = 0,
                 ) -> None:
    """Check every entry's hash, signature and link to the one before, and that the last recorded head is still
    there; exit code 6 if any entry was edited, forged or deleted. An intact log's head is recorded."""
    from ptp_pipeline.warehouse import audit

    rt = runtime()
    try:
        problems = audit.verify(rt.warehouse, expect_head=head, unsigned_until=unsigned_until)
        seq, digest = audit.head(rt.warehouse)
    finally:
        rt.close()
    if problems:
        for p in problems:
            err.print(f"audit log: {p}")
        err.print("The audit log was altered. Do not run further merges; tell the partnership's information "
                  "governance lead and restore ops.audit_log from backup.")
        raise typer.Exit(6)
    out.print(f"Audit log intact: {seq} entries. Head {digest} (record it; pass it to --head next time).")


@audit_app.command("list")
def audit_list(kind: Annotated[str | None, typer.Option(
        help="Only actions starting with this, e.g. reidentify (openings, batches, refusals).")] = None,
               since: Annotated[str | None, typer.Option(help="Only entries from this day on (YYYY-MM-DD).")] = None,
               as_json: Annotated[bool, typer.Option("--json", help="One JSON object per entry.")] = False) -> None:
    """Review the audit log: who did what, when, for what purpose (entries hold ids and counts, no identifier)."""
    import json

    from rich.table import Table

    from ptp_pipeline.warehouse import audit

    day = _day(since, "--since")
    rt = runtime()
    try:
        rows = audit.entries(rt.warehouse, kind, datetime.combine(day, datetime.min.time()) if day else None)
    finally:
        rt.close()
    rows["logged_at"] = rows["logged_at"].astype(str)
    if as_json:
        out.print_json(json.dumps(rows.to_dict(orient="records"), default=str))
        return
    table = Table(title=f"Audit log: {len(rows):,} entries" + (f" of kind {kind}" if kind else ""))
    for col in ("seq", "logged_at", "actor", "action", "detail"):
        table.add_column(col)
    for r in rows.itertuples(index=False):
        table.add_row(str(r.seq), r.logged_at, str(r.actor), str(r.action), str(r.detail or ""))
    out.print(table)


@optout_app.command("add")
def optout_add(file: Annotated[Path, typer.Argument(help="NHS numbers, one a line (header `nhs_number` optional).")]
               ) -> None:
    """Add the file's NHS numbers to the opt-out list (stored as keyed tokens) and remove their health events."""
    from ptp_pipeline.warehouse.optout import add

    rt = runtime()
    try:
        result = add(rt, file)
    finally:
        rt.close()
    out.print(f"{result.numbers:,} NHS numbers read; {result.added:,} added to the opt-out list "
              f"({result.numbers - result.added:,} already on it); {result.events_removed:,} health events removed. "
              "Later ingests keep their health events out. You may now delete the file.")


@optout_app.command("count")
def optout_count() -> None:
    """How many NHS numbers are on the opt-out list."""
    from ptp_pipeline.warehouse.optout import count

    rt = runtime()
    try:
        n = count(rt.warehouse)
    finally:
        rt.close()
    out.print(f"{n:,} NHS numbers on the national data opt-out list.")


@app.command("export")
def export_cmd(directory: Annotated[Path, typer.Argument(help="Where to write one file per table of the tier.")],
               fmt: Annotated[str, typer.Option("--format", help="File format: parquet.")] = "parquet",
               tier: Annotated[str, typer.Option(help="published (partner analysts: protected aggregates and the "
                                                      "report) or research (a named researcher: generalised "
                                                      "record-level tables; needs --purpose).")] = "published",
               purpose: Annotated[str, typer.Option(help="Research tier only: why, recorded with your login.")] = "",
               ) -> None:
    """Write one tier's tables (never shared, ops or restricted): published for analysts, research for researchers."""
    from ptp_pipeline.warehouse.export import export

    rt = runtime()
    try:
        written = export(rt.warehouse, directory, fmt, tier, purpose)
    finally:
        rt.close()
    for table, rows, path in written:
        out.print(f"{table}: {rows:,} rows -> {path}")


def _day(text: str | None, option: str = "--as-of") -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ConfigError(f"{option} '{text}' is not a date",
                          hint="Give the day as YYYY-MM-DD, e.g. 2030-01-31.") from None


@app.command("purge")
def purge_cmd(as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Apply retention as on this day (YYYY-MM-DD), for a rehearsal; default today.")] = None
              ) -> None:
    """Apply each protocol's retention: shared data after shared_data_years, raw copies after raw_extract_days."""
    from ptp_pipeline.warehouse.retention import purge

    rt = runtime()
    try:
        result = purge(rt, _day(as_of))
    finally:
        rt.close()
    for partner, dataset, cutoff, n in result.per_dataset:
        out.print(f"{partner}/{dataset}: {n:,} events dated before {cutoff} removed")
    out.print(f"{result.events_purged:,} events purged; {result.work_folders_deleted:,} raw work folders deleted.")
