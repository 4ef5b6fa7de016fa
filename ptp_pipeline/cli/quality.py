"""Data quality commands: feedback reports for partners."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ptp_pipeline.cli.common import app, out, runtime


@app.command()
def feedback(extract_id: Annotated[str, typer.Argument(help="The extract id, as `ptp status` lists it.")],
             out_dir: Annotated[Path | None, typer.Option(
                 "--out", help="Folder for the report (default: $PTP_HOME/feedback/<partner>).")] = None) -> None:
    """Write a report for the supplying partner (CSV and HTML): row, line, field, problem, how to fix.

    It covers that one extract only and holds no values from the file.
    """
    from ptp_pipeline.quality.feedback import write_feedback

    rt = runtime()
    try:
        partner = extract_id.split(".", 1)[0]
        result = write_feedback(rt.warehouse, extract_id, out_dir or rt.settings.home / "feedback" / partner)
    finally:
        rt.close()
    out.print(f"Feedback for extract {extract_id}: {result.rows} row(s) with problems.")
    out.print(f"  CSV:  {result.csv}")
    out.print(f"  HTML: {result.html}")
    out.print("Send both to the partner who supplied the extract; they hold no other partner's data and no values.")
