"""Data officer commands for protocols."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ptp_pipeline.cli.common import app, err, out
from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.settings import load_settings

protocol_app = typer.Typer(no_args_is_help=True, help="Data-sharing protocols: validate, list, draft, render.")
app.add_typer(protocol_app, name="protocol")


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
