"""Analyst commands: rebuild the pathway tables, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ptp_pipeline.cli.common import app, out, runtime
from ptp_pipeline.errors import ConfigError


@app.command()
def pathways() -> None:
    """Rebuild the derived pathway tables in `shared` (person_pathway, transitions, cost_concentration, ...)."""
    from ptp_pipeline.pathways import rebuild

    rt = runtime()
    try:
        result = rebuild(rt)
    finally:
        rt.close()
    for table, rows in result.rows.items():
        out.print(f"shared.{table}: {rows:,} rows")


@app.command()
def report(out_file: Annotated[Path | None, typer.Option("--out", help="Where to write the HTML report "
                                                          "(default: $PTP_HOME/reports/pathways.html).")] = None,
           rebuild_first: Annotated[bool, typer.Option("--rebuild/--no-rebuild",
                                                       help="Rebuild the pathway tables first.")] = True,
           tables: Annotated[Path | None, typer.Option("--tables", help="Also write the report's protected tables "
                                                       "as CSV files into this folder.")] = None) -> None:
    """Write the self-contained HTML pathways report; every figure in it passes disclosure control."""
    from ptp_pipeline.pathways import rebuild
    from ptp_pipeline.report import write_report

    rt = runtime()
    target = out_file or rt.settings.home / "reports" / "pathways.html"
    if target.exists() and target.is_dir():
        raise ConfigError(f"{target} is a folder", hint="Give --out a file name, e.g. --out report.html.")
    try:
        if rebuild_first and rt.warehouse.can_write("shared.person"):
            rebuild(rt)
        elif rebuild_first:  # an analyst's login reads the tables as the pipeline last rebuilt them
            out.print("This login may not rebuild the pathway tables: reporting them as the pipeline last built them.")
        persons = int(rt.warehouse.scalar("SELECT count(*) FROM shared.person") or 0)
        if persons == 0:
            raise ConfigError("the warehouse holds no persons yet, so there is nothing to report",
                              hint="Ingest partner extracts first (`ptp ingest` or `ptp demo`), then rerun.")
        try:
            path = write_report(rt.warehouse, rt.project, target, tables_dir=tables)
        except OSError as exc:
            raise ConfigError(f"cannot write the report to {target}: {exc.strerror}",
                              hint="Choose a folder you can write to with --out.") from None
    finally:
        rt.close()
    out.print(f"Wrote the pathways report to {path} (self-contained HTML; small numbers suppressed).")
    if tables is not None:
        out.print(f"Wrote its protected tables as CSV files to {tables}.")
