"""Re-identification: the audited route from a person id back to identifiers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ptp_pipeline.cli.common import app, err, out, runtime
from ptp_pipeline.cli.keys import key_app

if TYPE_CHECKING:
    import pandas as pd


def _show(result: pd.DataFrame, title: str) -> None:
    """Print re-identified records: the lawful output of an audited act, nothing else prints identifiers."""
    table = Table(title=title)
    for col in result.columns:
        table.add_column(str(col))
    for row in result.astype(str).itertuples(index=False):
        table.add_row(*row)
    out.print(table)


@app.command()
def reidentify(person_id: Annotated[int, typer.Argument(help="person_id from shared.person.")],
               purpose: Annotated[str, typer.Option(help="Why: recorded in the audit log.")] = "",
               by: Annotated[str | None, typer.Option(
                   help="A stated name, recorded beside your login (the audit log names the login).")] = None,
               ) -> None:
    """Show one person's identifiers, for a stated purpose, with the re-identification key. Audited."""
    from ptp_pipeline.privacy.reidentify import reidentify as run

    rt = runtime()
    try:
        result = run(rt.warehouse, person_id, purpose=purpose, officer=by or "",
                     private_key_file=rt.settings.reid_key_file)
    finally:
        rt.close()
    _show(result, f"Person {person_id} (this act is recorded in the audit log)")


@app.command("reidentify-family")
def reidentify_family(household_id: Annotated[int, typer.Argument(help="From shared.cohort_priority_families.")],
                      purpose: Annotated[str, typer.Option(help="Why: recorded in the audit log.")] = "",
                      by: Annotated[str | None, typer.Option(
                          help="A stated name, recorded beside your login (the audit log names the login).")] = None,
                      ) -> None:
    """Show a priority family's identifiers and addresses for its lead professional. Audited per person."""
    from ptp_pipeline.privacy.reidentify import reidentify_family as run

    rt = runtime()
    try:
        result = run(rt.warehouse, household_id, purpose=purpose, officer=by or "",
                     private_key_file=rt.settings.reid_key_file)
    finally:
        rt.close()
    _show(result, f"Household {household_id} (each person's re-identification is in the audit log)")


@key_app.command("new-reid")
def key_new_reid(private: Annotated[Path, typer.Argument(help="Private key file for the re-identifier (0600).")],
                 public: Annotated[Path, typer.Argument(help="Public key file for the pipeline.")]) -> None:
    """Create the re-identification key pair: the pipeline seals with the public half only."""
    from ptp_pipeline.privacy.vault import new_reid_keypair

    new_reid_keypair(private, public)
    out.print(f"Wrote {private} (0600, for the named re-identifier only) and {public} (for the pipeline: "
              "PTP_REID_PUBLIC_KEY_FILE).")


@key_app.command("rotate")
def key_rotate(new_key_file: Annotated[Path, typer.Option(help="The new project key file (from `ptp key new`).")]
               ) -> None:
    """Re-make every match-key token under a new project key (needs PTP_REID_KEY_FILE). See docs/privacy.md."""
    from ptp_pipeline.privacy.keys import load_key
    from ptp_pipeline.privacy.rotation import rotate_key

    rt = runtime()
    try:
        new_key = load_key(rt.project.project.id, key_file=new_key_file)
        result = rotate_key(rt, new_key, rt.settings.reid_key_file)
    finally:
        rt.close()
    out.print(f"Rotated: key {result.old_key_id} -> {result.new_key_id}; {result.extracts} extracts, "
              f"{result.tokens:,} match-key tokens, {result.address_tokens:,} address tokens and "
              f"{result.optout_tokens:,} opt-out tokens re-made. Now point PTP_KEY_FILE at {new_key_file} and destroy "
              "the old key.")
    if result.optout_lost:
        err.print(f"{result.optout_lost:,} opt-out entries were never sealed and match no one in the warehouse, so "
                  "they could not be re-made: add the current national data opt-out list again now "
                  "(`ptp optout add FILE`).")



privacy_app = typer.Typer(no_args_is_help=True, help="Privacy measures of the tiers others read.")
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("risk")
def privacy_risk() -> None:
    """Quasi-identifier risk: persons alone on (birth year, sex, area, agencies, first-seen month), and the
    k-anonymity k, on the exact values and on the research tier as published (after generalisation)."""
    from ptp_pipeline.privacy.disclosure_risk import TIERS, measure

    rt = runtime()
    try:
        wh = rt.warehouse
        risks = [measure(wh, tier) for tier, (table, _) in TIERS.items() if wh.can_read(table)]
    finally:
        rt.close()
    table = Table(title="Quasi-identifier risk (birth year, sex, area, agencies, first-seen month)")
    for col in ("tier", "persons", "unique persons", "share unique", "k"):
        table.add_column(col)
    labels = {"exact": "exact values (before generalisation)", "research": "research tier as published"}
    for r in risks:
        table.add_row(labels[r.tier], f"{r.persons:,}", f"{r.unique_persons:,}", f"{r.share_unique:.1%}", str(r.k))
    out.print(table)
