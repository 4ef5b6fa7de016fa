"""`ptp linkage`: how persons were linked, clerical review, and scoring the linkage on any CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ptp_pipeline.cli.common import app, out, runtime
from ptp_pipeline.errors import ExtractError, Where

linkage_app = typer.Typer(help="Linkage: report, clerical review, scoring on your own data.", no_args_is_help=False,
                          invoke_without_command=True)
app.add_typer(linkage_app, name="linkage")


@linkage_app.callback()
def report(ctx: typer.Context) -> None:
    """Linkage report: identities per pass, match probabilities, review band, persons by agencies."""
    if ctx.invoked_subcommand is not None:
        return
    from ptp_pipeline.privacy.linkage_report import linkage_report, probability_histogram, review_band

    rt = runtime()
    try:
        keys, agencies = linkage_report(rt.warehouse, rt.project)
        hist = probability_histogram(rt.warehouse)
        review = review_band(rt.warehouse)
    finally:
        rt.close()
    table = Table(title="How identities were placed (cascade keys strictest first, then Splink)")
    for col in ("pass", "identities", "records", "share of records"):
        table.add_column(col)
    for r in keys.itertuples(index=False):
        table.add_row(r.key_type, f"{r.identities:,}", f"{r.records_with_key:,}", f"{r.share_of_records:.1%}")
    out.print(table)
    for r in hist.itertuples(index=False):
        out.print(f"probabilistic links with match probability {r.band:.1f}-{r.band + 0.1:.1f}: {r.identities:,}")
    out.print(f"pairs awaiting clerical review: {review:,}")
    for r in agencies.itertuples(index=False):
        out.print(f"persons known to {r.n_agencies} agenc{'y' if r.n_agencies == 1 else 'ies'}: {r.persons:,}")


@linkage_app.command()
def score(
    file: Annotated[Path, typer.Argument(help="CSV with one record per row; columns named by identifier kind.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write record,person_id,...")] = Path(
        "linked.csv"),
) -> None:
    """Link the records of FILE with the pipeline's own linkage (no warehouse, no protocol).

    Columns: record (optional), forename, surname, date_of_birth, postcode, sex, nhs_number, ni_number,
    uln, shared_ref, local_id, source. A fresh random key is used: nothing written can be joined to
    anything else.
    """
    import secrets

    import pandas as pd

    from ptp_pipeline.linkage import link_frame

    if not file.is_file():
        raise ExtractError("the file does not exist", where=Where(file=file.name),
                           hint="Give the path of a CSV file with a header line.")
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExtractError("the file is not a readable CSV (UTF-8, comma-separated, with a header line)",
                           where=Where(file=file.name), hint="Save it as UTF-8 CSV and run the command again.") from exc
    known = {"record", "forename", "surname", "date_of_birth", "postcode", "sex", "nhs_number", "ni_number", "uln",
             "shared_ref", "local_id", "source"}
    columns = [c for c in frame.columns if c in known]
    if not any(c in columns for c in ("forename", "surname", "date_of_birth", "nhs_number", "local_id")):
        raise ExtractError(f"none of the {len(frame.columns)} columns is an identifier kind this command knows",
                           where=Where(file=file.name),
                           hint="Name the columns forename, surname, date_of_birth, postcode, sex, nhs_number ...")
    result = link_frame(frame[columns], secrets.token_bytes(32))
    result.to_csv(output, index=False)
    out.print(f"{len(result):,} records -> {result.person_id.nunique():,} persons; written to {output}")
