"""`ptp release`: request an output's release, approve it as a second person, list requests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ptp_pipeline.cli.common import app, err, out, runtime

release_app = typer.Typer(no_args_is_help=True, help="Release review: checked outputs leave on a second approval.")
app.add_typer(release_app, name="release")


@release_app.command("request")
def release_request(
    file: Annotated[Path, typer.Argument(help="The report, CSV table or export to release.")],
    by: Annotated[str, typer.Option(help="Your name: the requester cannot also approve.")],
) -> None:
    """Run the disclosure checks on an output and ask for its release; exit code 5 if a check fails."""
    from ptp_pipeline.release import request

    rt = runtime()
    try:
        made = request(rt.warehouse, file, by=by, rule=rt.project.suppression, home=rt.settings.home)
    finally:
        rt.close()
    for c in made.checks:
        (out if c.passed else err).print(f"{'pass' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
    if not made.passed:
        err.print(
            f"Release request {made.request_id} recorded, but its checks failed: it cannot be approved. "
            "Correct the output and request again."
        )
        raise typer.Exit(5)
    out.print(
        f"Release request {made.request_id} for {made.file_name} (SHA-256 {made.sha256}): checks passed. "
        f"A second person approves it with `ptp release approve {made.request_id} --by NAME`."
    )


@release_app.command("approve")
def release_approve(
    request_id: Annotated[int, typer.Argument(help="The request number.")],
    by: Annotated[str, typer.Option(help="Your name: not the requester's.")],
) -> None:
    """Approve a request as a second person: the checked copy is released and its SHA-256 audited."""
    from ptp_pipeline.release import approve

    rt = runtime()
    try:
        path = approve(rt.warehouse, request_id, by=by, home=rt.settings.home)
    finally:
        rt.close()
    out.print(f"Released request {request_id}: {path}")


@release_app.command("list")
def release_list() -> None:
    """Every release request with its status, requester and approver."""
    from ptp_pipeline.release import requests

    rt = runtime()
    try:
        rows = requests(rt.warehouse)
    finally:
        rt.close()
    table = Table(title=f"Release requests: {len(rows):,}")
    for col in rows.columns:
        table.add_column(str(col).replace("_", " "))
    for r in rows.astype(str).itertuples(index=False):
        table.add_row(*r)
    out.print(table)
