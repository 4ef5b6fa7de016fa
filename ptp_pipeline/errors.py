"""One error hierarchy, written for data officers.

A `PtpUserError` is shown without a traceback: it says where (file, line/row, field), what was
expected and what to do. Messages never carry an identifier value, a key or a token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Where:
    """Where a problem sits, in terms a data officer can open and look at."""

    file: str | None = None
    line: int | None = None
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(self.file + (f":{self.line}" if self.line else ""))
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)


class PtpError(Exception):
    """Base of every error raised on purpose by ptp-pipeline."""

    code = "PTP000"
    exit_code = 1


class PtpUserError(PtpError):
    """A problem the user can fix; the CLI shows it without a traceback."""

    code = "PTP100"
    title = "Problem"
    hint = "Check the input and try again."

    def __init__(self, message: str, *, where: Where | None = None, hint: str | None = None) -> None:
        self.message = message
        self.where = where
        if hint is not None:
            self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        prefix = f"{self.where}: " if self.where and str(self.where) else ""
        return f"[{self.code}] {self.title}: {prefix}{self.message}\n  What to do: {self.hint}"


class ConfigError(PtpUserError):
    code = "PTP200"
    title = "Configuration problem"
    hint = "Check the PTP_* environment settings and protocols/project.yaml."
    exit_code = 2


class ProtocolError(PtpUserError):
    code = "PTP300"
    title = "Protocol problem"
    hint = "Correct the protocol file, then run `ptp protocol validate`."
    exit_code = 3


class ExtractError(PtpUserError):
    """The whole extract is refused: nothing of it is merged."""

    code = "PTP400"
    title = "Extract refused"
    hint = "Ask the partner for a corrected extract, or correct the protocol if it is out of date."
    exit_code = 4
    extract_id: str | None = None


class KeyMaterialError(PtpUserError):
    code = "PTP500"
    title = "Key problem"
    hint = (
        "Set PTP_KEY_FILE to the path of the project key file (or PTP_KEY), as issued by the "
        "partnership's key custodian. Never paste a key into a protocol, a log or a ticket."
    )
    exit_code = 5


class WarehouseError(PtpUserError):
    code = "PTP600"
    title = "Warehouse problem"
    hint = "Check PTP_WAREHOUSE and that the database is reachable, then rerun: merges are all-or-nothing."
    exit_code = 6
