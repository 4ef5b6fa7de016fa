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


BIAS = Annotated[bool, typer.Option(
    "--bias", help="Also show link rates by agency, sex, age band and area (linkage bias).")]


@linkage_app.callback()
def linkage(ctx: typer.Context, bias: BIAS = False) -> None:
    """Linkage report: identities per pass, match probabilities, review band, persons by agencies."""
    if ctx.invoked_subcommand is None:
        _print_report(bias)


@linkage_app.command("report")
def report(bias: BIAS = False, html: Annotated[Path | None, typer.Option(
        "--html", help="Write the report for data officers as one self-contained HTML file (no network needed), "
                       "with charts, link rates by agency pair and group, and the model's match weights.")] = None,
           ) -> None:
    """Linkage report in the terminal, or as a self-contained HTML file (--html FILE). Counts only,
    under disclosure control: no identifier, token or person id."""
    if html is None:
        _print_report(bias)
        return
    from ptp_pipeline.report.linkage import write_linkage_report

    rt = runtime()
    try:
        write_linkage_report(rt.warehouse, rt.project, html)
    finally:
        rt.close()
    out.print(f"linkage report written to {html}")


def _print_report(bias: bool) -> None:
    from ptp_pipeline.linkage.store import review_pairs
    from ptp_pipeline.privacy.linkage_report import linkage_bias, linkage_report, probability_histogram

    rt = runtime()
    try:
        keys, agencies = linkage_report(rt.warehouse, rt.project)
        hist = probability_histogram(rt.warehouse)
        review = len(review_pairs(rt.warehouse))  # the same open pairs `review list` shows
        groups = linkage_bias(rt.warehouse) if bias else {}
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
    for name, frame in groups.items():
        bias_table = Table(title=f"Linkage by {name} (records linked to another identity; records of persons known "
                                 "to 2+ agencies)")
        for col in (name, "records", "linked", "known to 2+ agencies"):
            bias_table.add_column(col)
        for g in frame.itertuples(index=False):
            bias_table.add_row(str(g.grp), f"{g.records:,}", f"{g.linked_share:.1%}", f"{g.multi_agency_share:.1%}")
        out.print(bias_table)


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


review_app = typer.Typer(help="Clerical review of pairs between the review threshold and the link threshold.",
                         no_args_is_help=True)
linkage_app.add_typer(review_app, name="review")


@review_app.command("list")
def review_list(limit: Annotated[int, typer.Option(help="Show at most this many pairs.")] = 50) -> None:
    """Open pairs, most probable first, with the two person ids to open through `ptp reidentify` (audited)."""
    from ptp_pipeline.linkage.store import review_pairs

    rt = runtime()
    try:
        pairs = review_pairs(rt.warehouse)
    finally:
        rt.close()
    table = Table(title=f"{len(pairs):,} pairs awaiting review")
    for col in ("pair", "match probability", "person A", "person B"):
        table.add_column(col)
    for r in pairs.head(limit).itertuples(index=False):
        table.add_row(str(r.review_id), f"{r.match_probability:.3f}", str(r.person_a), str(r.person_b))
    out.print(table)


@review_app.command("decide")
def review_decide(
    pair: Annotated[int, typer.Argument(help="Pair number from `ptp linkage review list`.")],
    decision: Annotated[str, typer.Argument(help="accept (the two are one person) or reject (they are not).")],
    by: Annotated[str | None, typer.Option(
        "--by", help="A stated name, recorded beside your login (the decision names the database login).")] = None,
) -> None:
    """Record a decision under your database login (audited): accept joins the two persons now; reject
    keeps them apart for good."""
    from ptp_pipeline.errors import ConfigError
    from ptp_pipeline.linkage.store import decide

    if decision not in ("accept", "reject"):
        raise ConfigError("the decision must be accept or reject", hint="e.g. `ptp linkage review decide 12 reject`")
    rt = runtime()
    try:
        merges = decide(rt.warehouse, pair, decision, by or "")
    finally:
        rt.close()
    joined = f"; person {merges.absorbed.iloc[0]} joined person {merges.kept.iloc[0]}" if len(merges) else ""
    out.print(f"pair {pair}: {decision}ed{joined}")


@linkage_app.command("relink")
def relink_cmd() -> None:
    """Re-cluster every identity from scratch (after `ptp key rotate` or a change of threshold).

    Person ids stay where they can (each cluster keeps the id most of its records had); every move
    is counted in the audit log. Runs over the whole warehouse: a maintenance job, not a nightly one.
    """
    from ptp_pipeline.linkage.engine import config_from
    from ptp_pipeline.linkage.store import full_relink

    rt = runtime()
    try:
        result = full_relink(rt.warehouse, config_from(rt.project))
    finally:
        rt.close()
    out.print(f"{result['identities']:,} identities re-clustered: persons {result['persons_before']:,} -> "
              f"{result['persons_after']:,}; {result['changed']:,} identities moved to another person")
