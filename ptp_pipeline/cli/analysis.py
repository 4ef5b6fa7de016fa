"""Analyst commands: rebuild the pathway tables, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ptp_pipeline.cli.common import app, out, runtime
from ptp_pipeline.errors import ConfigError

if TYPE_CHECKING:
    from ptp_pipeline.warehouse.base import Warehouse


@app.command()
def pathways() -> None:
    """Rebuild the derived pathway tables in `shared`, then the research and published tiers made from them."""
    from ptp_pipeline.pathways import rebuild

    rt = runtime()
    try:
        result = rebuild(rt)
    finally:
        rt.close()
    for table, rows in result.rows.items():
        out.print(f"{table}: {rows:,} rows")


@app.command()
def report(out_file: Annotated[Path | None, typer.Option("--out", help="Where to write the HTML report "
                                                          "(default: $PTP_HOME/reports/pathways.html).")] = None,
           rebuild_first: Annotated[bool, typer.Option("--rebuild/--no-rebuild",
                                                       help="Rebuild the pathway tables first.")] = True,
           tables: Annotated[Path | None, typer.Option("--tables", help="Also write the published tables "
                                                       "as CSV files into this folder.")] = None) -> None:
    """Write the self-contained HTML pathways report; every figure in it passes disclosure control.

    The pipeline's login renders it from the tables (rebuilding, which also publishes, unless --no-rebuild);
    an analyst's login reads the published tier only, so it writes the report and tables the pipeline last
    published.
    """
    from ptp_pipeline.pathways import rebuild
    from ptp_pipeline.pathways.published import stored_report
    from ptp_pipeline.report import write_report
    from ptp_pipeline.warehouse.export import write_text_atomic

    rt = runtime()
    target = out_file or rt.settings.home / "reports" / "pathways.html"
    if target.exists() and target.is_dir():
        raise ConfigError(f"{target} is a folder", hint="Give --out a file name, e.g. --out report.html.")
    try:
        wh = rt.warehouse
        if not wh.can_read("shared.person"):  # an analyst: the published tier only
            html = stored_report(wh)
            if html is None:
                raise ConfigError("no report has been published yet, so there is nothing to write",
                                  hint="Ask the pipeline's operator to run `ptp pathways` after the next ingest.")
            try:
                write_text_atomic(target, html)
                if tables is not None:
                    _write_published_csv(wh, tables)
            except OSError as exc:
                raise ConfigError(f"cannot write the report to {target}: {exc.strerror}",
                                  hint="Choose a folder you can write to with --out (and --tables).") from None
        else:
            if rebuild_first and wh.can_write("shared.person"):
                rebuild(rt)
            persons = int(wh.scalar("SELECT count(*) FROM shared.person") or 0)
            if persons == 0:
                raise ConfigError("the warehouse holds no persons yet, so there is nothing to report",
                                  hint="Ingest partner extracts first (`ptp ingest` or `ptp demo`), then rerun.")
            try:
                write_report(wh, rt.project, target, tables_dir=tables)
            except OSError as exc:
                raise ConfigError(f"cannot write the report to {target}: {exc.strerror}",
                                  hint="Choose a folder you can write to with --out.") from None
    finally:
        rt.close()
    out.print(f"Wrote the pathways report to {target} (self-contained HTML; small numbers suppressed).")
    if tables is not None:
        out.print(f"Wrote its protected tables as CSV files to {tables}.")


def _write_published_csv(wh: Warehouse, folder: Path) -> None:
    """The published tables as CSV; withheld entries say "withheld", never an empty cell that reads as 0."""
    from ptp_pipeline.outputs import Outputs
    from ptp_pipeline.pathways.published import PUBLISHED_TABLES
    from ptp_pipeline.report.export import WITHHELD

    folder.mkdir(parents=True, exist_ok=True)
    published = Outputs(wh)
    for name in PUBLISHED_TABLES:
        frame = published.table(name)
        frame.astype(object).where(frame.notna(), WITHHELD).to_csv(folder / f"{name}.csv", index=False,
                                                                   lineterminator="\n")
