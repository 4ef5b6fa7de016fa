"""Operations commands: demo, ingest, status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ptp_pipeline.cli.common import app, err, out, runtime
from ptp_pipeline.pipeline import Outcome
from ptp_pipeline.warehouse.connect import mask_url


def _outcome_table(outcomes: list[Outcome], title: str) -> Table:
    table = Table(title=title)
    for col in ("extract", "file", "status", "received", "accepted", "quarantined"):
        table.add_column(col, no_wrap=True)
    for o in outcomes:
        table.add_row(o.extract_id or "-", o.file_name, o.status,
                      *("-" if v is None else f"{v:,}" for v in (o.rows_received, o.rows_accepted,
                                                                  o.rows_quarantined)))
    return table


@app.command()
def demo(persons: Annotated[int, typer.Option(help="Synthetic persons to generate.")] = 5000,
         seed: Annotated[int, typer.Option(help="Random seed: same seed, same extracts.")] = 42) -> None:
    """Generate synthetic extracts from three partners and run every stage on the embedded DuckDB warehouse."""
    from ptp_pipeline.demo import run_demo

    rt = runtime()
    try:
        result = run_demo(rt, persons, seed, progress=lambda m: err.print(f"ingesting {m}"))
        if result.key_created:
            out.print(f"Created a local demo key at {result.key_created} (owner-only, 0600). "
                      "In production the key custodian issues the key; never commit or share it.")
        out.print(_outcome_table(list(result.outcomes), "Extracts"))
        for o in result.outcomes:
            if o.reason:
                out.print(f"{o.file_name}: {o.reason}")
        h = result.headline
        out.print(f"Persons: {h.persons:,}")
        out.print(f"Persons known to 2 or more agencies: {h.persons_multi_agency:,}")
        out.print(f"Events: {h.events:,}; total cost £{h.total_cost:,.0f}")
        out.print(f"Share of cost carried by the top {h.top_share:.0%} of persons: {h.top_cost_share:.1%}")
        from ptp_pipeline.pathways import families_section

        fam = families_section(rt.warehouse, rt.project)
        share = "withheld" if fam.priority_cost_share is None else f"{fam.priority_cost_share:.1%}"
        out.print(f"Households: {fam.households}; priority families (top {h.top_share:.0%} of households by "
                  f"combined cost) carry {share} of household cost")
        out.print(f"Warehouse: {mask_url(rt.settings.warehouse_url)}")
        if result.docs_index:
            out.print(f"Data Docs: file://{result.docs_index}")
        for o in result.outcomes:
            if o.docs_url:
                out.print(f"  validation of {o.file_name}: {o.docs_url}")
        if result.report:
            out.print(f"Pathways report: file://{result.report}")
    finally:
        rt.close()


@app.command()
def ingest(file: Annotated[Path, typer.Argument(help="The partner's extract file.")],
           partner: Annotated[str, typer.Option(help="Partner id, as in the protocol.")],
           dataset: Annotated[str, typer.Option(help="Dataset id, as in the protocol.")],
           corrects: Annotated[str | None, typer.Option(
               help="Extract id this file corrects: it supersedes that extract's rows.")] = None) -> None:
    """Run every stage for one extract: receive, check, pseudonymise, validate, merge."""
    from ptp_pipeline.pipeline import ingest as run

    rt = runtime()
    try:
        result = run(rt, file, partner, dataset, corrects=corrects)
    finally:
        rt.close()
    out.print(_outcome_table([result], "Extract"))
    if result.docs_url:
        out.print(f"Data Docs: {result.docs_url}")
    if result.status != "refused" and result.reason:
        out.print(f"Note: {result.reason}")
    if result.status == "refused":
        err.print(f"Refused: {result.file_name}: {result.reason}"
                  + (f"\n  What to do: {result.hint}" if result.hint else ""))
        raise typer.Exit(4)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """The extract ledger: every file received, its outcome and row counts."""
    from ptp_pipeline.warehouse.ledger import status_table

    rt = runtime()
    try:
        rows = status_table(rt.warehouse)
    finally:
        rt.close()
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    table = Table(title="Extract ledger")
    for col in ("extract", "partner/dataset", "protocol", "received", "status", "rows in", "accepted",
                "quarantined", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["extract_id"]), f"{r['partner']}/{r['dataset']}",
                      f"{r['protocol_id']} v{r['protocol_version']}" if r["protocol_id"] else "-",
                      str(r["received_at"]), str(r["status"]),
                      *("-" if r[k] is None else str(r[k]) for k in ("rows_received", "rows_accepted",
                                                                       "rows_quarantined")),
                      "; ".join(t for t in (str(r["reason"] or ""),
                                            f"corrects {r['corrects']}" if r.get("corrects") else "",
                                            f"superseded by {r['superseded_by']}" if r.get("superseded_by") else "")
                                if t))
    out.print(table)
    for r in rows:
        if r.get("docs_url"):
            out.print(f"Data Docs for {r['extract_id']}: {r['docs_url']}")


airflow_app = typer.Typer(no_args_is_help=True, help="Airflow deployment: the per-protocol DAG files.")
app.add_typer(airflow_app, name="airflow")


def _default_dags_folder() -> Path:
    import os

    configured = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "dags"


@airflow_app.command("dag-files")
def dag_files(dags_folder: Annotated[Path | None, typer.Option(
                  help="Airflow's DAG folder (default: $AIRFLOW__CORE__DAGS_FOLDER, else dags/).")] = None,
              check: Annotated[bool, typer.Option(
                  "--check", help="Change nothing; exit 1 if a DAG file is missing or out of date.")] = False) -> None:
    """Write one thin DAG file per protocol file (dags/ptp_protocol_<file>.py, or ptp_protocol_<theme>_<file>.py
    for a named theme), remove those of deleted files.

    Each protocol's ingest DAG lives in a file of its own, so a broken protocol file stops only its own
    DAG. One Airflow serves every theme, so this covers every theme of the deployment (--theme is not
    needed). Run after adding or removing a protocol file, and deploy the DAG file with it.
    """
    import tempfile

    from ptp_pipeline.dag_factory import write_dag_files
    from ptp_pipeline.settings import Settings

    folder = dags_folder or _default_dags_folder()
    if not folder.is_dir():
        err.print(f"{folder}: no such DAG folder. What to do: pass --dags-folder, or set AIRFLOW__CORE__DAGS_FOLDER.")
        raise typer.Exit(2)
    protocols = Settings(theme=None).protocols_dir  # the deployment's folder, holding every theme
    if check:
        import shutil

        with tempfile.TemporaryDirectory() as tmp:
            for existing in folder.glob("ptp_protocol_*.py"):
                shutil.copyfile(existing, Path(tmp) / existing.name)
            written, removed = write_dag_files(Path(tmp), protocols)
        for path in written:
            err.print(f"{folder / path.name}: missing or out of date for {protocols}")
        for path in removed:
            err.print(f"{folder / path.name}: its protocol file is gone from {protocols}")
        if written or removed:
            err.print("What to do: run `ptp airflow dag-files` and deploy the DAG files with the protocols.")
            raise typer.Exit(1)
        out.print(f"{folder}: one DAG file per protocol file in {protocols}, all up to date")
        return
    written, removed = write_dag_files(folder, protocols)
    for path in written:
        out.print(f"wrote {path}")
    for path in removed:
        out.print(f"removed {path} (its protocol file is gone)")
    if not written and not removed:
        out.print(f"{folder}: every protocol file in {protocols} has its DAG file")


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@app.command()
def reprocess(extract_id: Annotated[str, typer.Argument(help="The refused (or failed) extract, as in `ptp status`.")],
              now: Annotated[bool, typer.Option(
                  "--now", help="Ingest the kept file here and now instead of handing it back to Airflow.")] = False
              ) -> None:
    """Re-process a refused extract once its cause is fixed (e.g. the protocol was corrected).

    Clears what blocks it: under Airflow one content starts one ingest run, so this allows one more
    (run id `file__<sha>__attempt<N>`) and puts the kept file back in its landing folder; if the file is
    no longer kept, the partner re-sends it. Recorded in the audit log.
    """
    from ptp_pipeline import housekeeping

    rt = runtime()
    try:
        done = housekeeping.reprocess(rt, extract_id, _actor(), requeue=not now)
        if now and done.file is not None:
            from ptp_pipeline.pipeline import ingest as run

            result = run(rt, done.file, done.partner, done.dataset)
            out.print(_outcome_table([result], "Extract"))
            if result.status == "refused":
                err.print(f"Refused again: {result.reason}")
                raise typer.Exit(4)
            return
    finally:
        rt.close()
    if done.requeued:
        out.print(f"{extract_id}: {done.file_name} is back in {done.file.parent if done.file else 'landing'}; "
                  f"Airflow ingests it as run file__…__attempt{done.attempt} (see `ptp status`).")
    else:
        out.print(f"{extract_id}: cleared for attempt {done.attempt}, but {done.file_name} is no longer kept "
                  "(retention): ask the partner to send it again; it will be ingested, not skipped.")


@app.command()
def backup(dest: Annotated[Path, typer.Argument(help="New file for the copy (never overwritten), e.g. "
                                                     "/backups/ptp-2026-12-06.duckdb.")]) -> None:
    """Back up the DuckDB warehouse: a consistent copy in a new file readable by its owner only (0600).

    Run it while no Airflow task writes (DuckDB has one writer). The project key is not in the
    warehouse: back it up separately, with the key custodian. PostgreSQL: use pg_dump (README).
    """
    from ptp_pipeline import housekeeping

    rt = runtime()
    try:
        done = housekeeping.backup_duckdb(rt, dest, _actor())
    finally:
        rt.close()
    out.print(f"Backed up {done.tables} tables ({done.rows:,} rows) to {done.path} (0600) in {done.seconds:.1f} s. "
              "The project key is not in it: keep the key's own backup with the key custodian.")
