"""`ptp`: the command line for operators and data officers. Thin: parse, call the library, render."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.pipeline import Outcome
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="ptp-pipeline: lawful, pseudonymised data sharing for customer pathways.")
key_app = typer.Typer(no_args_is_help=True, help="Project key management.")
protocol_app = typer.Typer(no_args_is_help=True, help="Data-sharing protocols.")
app.add_typer(key_app, name="key")
app.add_typer(protocol_app, name="protocol")
_WIDTH = max(shutil.get_terminal_size((200, 40)).columns, 120)
out = Console(highlight=False, width=_WIDTH, soft_wrap=True)
err = Console(stderr=True, highlight=False, width=_WIDTH, soft_wrap=True)


def _runtime() -> Runtime:
    return Runtime(load_settings())


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

    rt = _runtime()
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
        out.print(f"Warehouse: {rt.settings.warehouse_url}")
        if result.docs_index:
            out.print(f"Data Docs: file://{result.docs_index}")
    finally:
        rt.close()


@app.command()
def ingest(file: Annotated[Path, typer.Argument(help="The partner's extract file.")],
           partner: Annotated[str, typer.Option(help="Partner id, as in the protocol.")],
           dataset: Annotated[str, typer.Option(help="Dataset id, as in the protocol.")]) -> None:
    """Run every stage for one extract: receive, check, pseudonymise, validate, merge."""
    from ptp_pipeline.pipeline import ingest as run

    rt = _runtime()
    try:
        result = run(rt, file, partner, dataset)
    finally:
        rt.close()
    out.print(_outcome_table([result], "Extract"))
    if result.status == "refused":
        err.print(f"Refused: {result.reason}")
        raise typer.Exit(4)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """The extract ledger: every file received, its outcome and row counts."""
    from ptp_pipeline.warehouse.ledger import status_table

    rt = _runtime()
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
                      str(r["reason"] or ""))
    out.print(table)
    docs = next((r["docs_url"] for r in reversed(rows) if r.get("docs_url")), None)
    if docs:
        out.print(f"Data Docs: {docs}")


@key_app.command("new")
def key_new(path: Annotated[Path, typer.Argument(help="Where to write the new key file (must not exist).")]) -> None:
    """Create a new 256-bit project key file, readable by its owner only."""
    from ptp_pipeline.privacy.keys import new_key_file

    try:
        new_key_file(path)
    except FileExistsError:
        err.print(f"{path} already exists: a key is never overwritten. Choose another path.")
        raise typer.Exit(5) from None
    out.print(f"Wrote a new project key to {path} (0600). Give it to the pipeline only.")


@protocol_app.command("validate")
def protocol_validate(paths: Annotated[list[Path] | None, typer.Argument(help="Protocol files.")] = None) -> None:
    """Check protocol files; lists every problem with file:line. Exit code 3 on any error."""
    from ptp_pipeline.protocol import load_protocol, protocol_paths

    settings = load_settings()
    files = paths or protocol_paths(settings.protocols_dir)
    failed = 0
    for path in files:
        try:
            p = load_protocol(path)
            out.print(f"ok   {path}  ({p.id} v{p.version}, {p.status.value})")
        except PtpUserError as exc:
            failed += 1
            err.print(exc.render())
    if failed:
        raise typer.Exit(3)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print without a traceback; anything else says how to get detail."""
    debug = os.environ.get("PTP_DEBUG") == "1"
    try:
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int):
            return result
    except PtpUserError as exc:
        err.print(exc.render())
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 1
        if debug:
            raise
        err.print(f"Internal error ({type(exc).__name__}). Nothing was half-merged: merges are all-or-nothing. "
                  "Rerun with PTP_DEBUG=1 for detail, and report it without pasting any data.")
        return 70
    return 0


if __name__ == "__main__":
    sys.exit(main())
