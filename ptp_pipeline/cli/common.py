"""Shared pieces of the `ptp` command line: the app, consoles and the runtime builder."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer
from rich.console import Console

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="ptp-pipeline: lawful, pseudonymised data sharing for customer pathways.")
_WIDTH = max(shutil.get_terminal_size((200, 40)).columns, 120)
out = Console(highlight=False, width=_WIDTH, soft_wrap=True)
err = Console(stderr=True, highlight=False, width=_WIDTH, soft_wrap=True)


@app.callback()
def _deployment(theme: Annotated[str | None, typer.Option(
        "--theme", help="The theme to work on: protocols/<theme>/ with its own project.yaml, population, key "
                        "derivation, warehouse and report (default: PTP_THEME, else the protocols folder itself).")]
                = None) -> None:
    """ptp-pipeline: lawful, pseudonymised data sharing for customer pathways."""
    if theme is not None:
        os.environ["PTP_THEME"] = theme  # read by load_settings, here and in any process a command starts


def runtime() -> Runtime:
    """Settings are read once, here at the edge, and passed down."""
    return Runtime(load_settings())
