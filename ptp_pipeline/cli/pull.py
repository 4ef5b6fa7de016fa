"""`ptp pull`: fetch new extracts from a partner's source, then ingest them."""

from __future__ import annotations

from typing import Annotated

import typer

from ptp_pipeline.cli.common import app, err, out, runtime


@app.command()
def pull(partner: Annotated[str, typer.Argument(help="Partner id, as in the protocol.")],
         dataset: Annotated[str, typer.Argument(help="Dataset id, as in the protocol.")],
         dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be pulled; land nothing.")] = False,
         ) -> None:
    """Pull what is new from the protocol's source (SFTP, partner database, HTTPS API) and ingest it.

    Credentials come from the Airflow connection the protocol names (for the CLI, an
    AIRFLOW_CONN_<ID> environment variable works without an Airflow database).
    """
    from ptp_pipeline.cli.operations import _outcome_table
    from ptp_pipeline.pull import pull as run

    rt = runtime()
    try:
        result = run(rt, partner, dataset, dry_run=dry_run)
    finally:
        rt.close()
    source = f"{result.kind} connection '{result.conn_id}'"
    if dry_run:
        out.print(f"Dry run: nothing landed. From {source} a pull would take:")
        for line in result.planned or ["nothing new"]:
            out.print(f"  {line}")
        for line in result.skipped:
            out.print(f"  nothing new: {line}")
        return
    out.print(f"Pulled {len(result.landed)} new extract(s) from {source}"
              + (f"; {len(result.skipped)} already pulled" if result.skipped else "") + ".")
    if result.outcomes:
        out.print(_outcome_table(result.outcomes, "Pulled extracts"))  # type: ignore[arg-type]
    refused = [o for o in result.outcomes if getattr(o, "status", "") == "refused"]
    for o in refused:
        err.print(f"Refused: {o.file_name}: {o.reason}")  # type: ignore[attr-defined]
    if refused:
        raise typer.Exit(4)
