"""`ptp`: the command line for operators and data officers. Thin: parse, call the library, render.

Each command group lives in its own module and registers itself on the shared app.
"""

from __future__ import annotations

import os
import sys

import typer

from ptp_pipeline.cli import analysis, keys, linkage, operations, privacy, protocols  # noqa: F401  (registers commands)
from ptp_pipeline.cli import panel as _panel  # noqa: F401  (registers `ptp families`)
from ptp_pipeline.cli import pull as _pull  # noqa: F401  (registers `ptp pull`)
from ptp_pipeline.cli import quality as _quality  # noqa: F401  (registers `ptp feedback`)
from ptp_pipeline.cli import release as _release  # noqa: F401  (registers `ptp release`)
from ptp_pipeline.cli import warehouse as _warehouse  # noqa: F401  (audit, optout, export, purge)
from ptp_pipeline.cli.common import app, err
from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.memory import one_malloc_arena

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print without a traceback; anything else says how to get detail."""
    one_malloc_arena()  # before any thread: a stage's worker threads then share one arena (see the function)
    debug = os.environ.get("PTP_DEBUG") == "1"
    theme = os.environ.get("PTP_THEME")  # `--theme` sets it for this command only
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

        if type(exc).__name__ == "InsufficientPrivilege":  # the warehouse refused this login (PostgreSQL roles)
            err.print("[PTP610] Refused by the warehouse: this login's role does not allow this command. Analysts "
                      "read the published tier (`ptp export`, `ptp report`); researchers the research tier "
                      "(`ptp export --tier research --purpose ...`); the pipeline's login ingests; only the "
                      "admin login runs `ptp migrate`. Nothing was changed.")
            return 6

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
    finally:
        if theme is None:
            os.environ.pop("PTP_THEME", None)
        else:
            os.environ["PTP_THEME"] = theme
    return 0


if __name__ == "__main__":
    sys.exit(main())
