"""Shared pieces of the `ptp` command line: the app, consoles and the runtime builder."""

from __future__ import annotations

import shutil

import typer
from rich.console import Console

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="ptp-pipeline: lawful, pseudonymised data sharing for customer pathways.")
_WIDTH = max(shutil.get_terminal_size((200, 40)).columns, 120)
out = Console(highlight=False, width=_WIDTH, soft_wrap=True)
err = Console(stderr=True, highlight=False, width=_WIDTH, soft_wrap=True)


def runtime() -> Runtime:
    """Settings are read once, here at the edge, and passed down."""
    return Runtime(load_settings())
