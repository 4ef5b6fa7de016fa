"""The priority-families panel: the cohort to work through, and batches for named lead professionals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ptp_pipeline.cli.common import app, out, runtime

families_app = typer.Typer(no_args_is_help=True, help="Priority-families panel: cohort list and batches.")
app.add_typer(families_app, name="families")


@families_app.command("list")
def families_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per household.")] = False,
) -> None:
    """The cohort: pseudonymous household ids, size band, area, agencies and £ band (no identifier)."""
    from ptp_pipeline.pathways.panel import priority_families

    rt = runtime()
    try:
        cohort = priority_families(rt.warehouse)
    finally:
        rt.close()
    if as_json:
        out.print_json(json.dumps(cohort.to_dict(orient="records")))
        return
    table = Table(title=f"Priority families: {len(cohort):,} households (ids belong to the last pathways rebuild)")
    for col in cohort.columns:
        table.add_column(col.replace("_", " "))
    for row in cohort.astype(str).itertuples(index=False):
        table.add_row(*row)
    out.print(table)


@families_app.command("export")
def families_export(
    out_file: Annotated[Path, typer.Option("--out", help="The batch file to write (new).")],
    lead: Annotated[str, typer.Option(help="The named lead professional receiving the batch.")],
    recipient_key: Annotated[Path, typer.Option(help="The lead professional's public key (PEM).")],
    purpose: Annotated[str, typer.Option(help="Why: recorded in the audit log.")] = "",
    household: Annotated[
        list[int] | None,
        typer.Option(help="A household id from `ptp families list`; repeat it. Default: the whole cohort."),
    ] = None,
) -> None:
    """Re-identify the cohort (or chosen households) for a lead professional, into one file sealed to their key.

    Every person opened is audited; nothing identifying is printed."""
    from ptp_pipeline.privacy.panel_export import export_families

    rt = runtime()
    try:
        batch = export_families(
            rt.warehouse,
            out_file,
            lead=lead,
            recipient_key=recipient_key,
            purpose=purpose,
            private_key_file=rt.settings.reid_key_file,
            household_ids=household or None,
        )
    finally:
        rt.close()
    out.print(
        f"Wrote batch {batch.batch_id} to {batch.path}: {batch.households:,} households, {batch.persons:,} "
        f"persons, {batch.records:,} records, sealed to {recipient_key.name}. SHA-256 {batch.sha256}. Each "
        "person opened is in the audit log (`ptp audit list --kind reidentify`)."
    )


@families_app.command("open")
def families_open(
    batch_file: Annotated[Path, typer.Argument(help="The batch file you were sent.")],
    key: Annotated[Path, typer.Option(help="Your private key (the pair of the public key you gave).")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the records as CSV (new).")],
) -> None:
    """For the lead professional: decrypt a batch into a CSV file readable by you only (never the terminal)."""
    import os

    from ptp_pipeline.errors import ConfigError
    from ptp_pipeline.privacy.panel_export import open_batch

    if out_file.exists():
        raise ConfigError(f"{out_file} already exists", hint="Choose a new file name.")
    frame = open_batch(batch_file, key)
    fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=False, lineterminator="\n")
    out.print(f"Wrote {len(frame):,} records to {out_file} (readable by you only).")


@families_app.command("keypair")
def families_keypair(
    private: Annotated[Path, typer.Argument(help="Your private key file (0600, keep it).")],
    public: Annotated[Path, typer.Argument(help="The public key file to give the panel.")],
) -> None:
    """For a lead professional: make the key pair batches are sealed to."""
    from ptp_pipeline.privacy.vault import new_reid_keypair

    new_reid_keypair(private, public)
    out.print(f"Wrote {private} (0600: yours only) and {public} (give this one to the panel's re-identifier).")
