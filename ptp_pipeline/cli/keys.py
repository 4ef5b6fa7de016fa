"""Key management commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ptp_pipeline.cli.common import app, err, out

key_app = typer.Typer(no_args_is_help=True, help="Project key management.")
app.add_typer(key_app, name="key")


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
