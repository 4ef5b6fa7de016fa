"""Errors of the pull stage: they name the connection id, never a host's secret or a row value."""

from __future__ import annotations

from ptp_pipeline.errors import PtpUserError


class SourceError(PtpUserError):
    """The partner's source could not be read; nothing was landed."""

    code = "PTP700"
    title = "Source problem"
    hint = "Check the Airflow connection and the protocol's source block, then pull again: nothing half-landed."
    exit_code = 7


class LoginRefused(SourceError):
    """The source refused the credentials: retrying cannot help."""

    code = "PTP701"
    title = "Login refused"


class SourceUnreachable(SourceError):
    """The source did not answer after every retry."""

    code = "PTP702"
    title = "Source unreachable"


class TransferChanged(SourceError):
    """The remote file changed or vanished while it was fetched: nothing was landed."""

    code = "PTP703"
    title = "Source changed during transfer"
