"""Where a dataset comes from: the protocol's `source:` block.

`landing` (the default) means the partner drops files into landing/<partner>/<dataset>/. The other
kinds are pulled by the pipeline through an Airflow connection named by `conn_id`. A protocol never
holds a credential: a password, token or private key written here is refused with a message saying
where it belongs (the Airflow connection, set by operations).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CONN_ID = r"^[A-Za-z][A-Za-z0-9_\-]*$"
SQL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
CRON = r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|private[_-]?key|key[_-]?file|credential|"
    r"authori[sz]ation|bearer|cookie",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|://[^/@\s]*:[^/@\s]*@|[?&](access_)?token=|"
                           r"[?&](api_?key|password|secret)=", re.IGNORECASE)
WHERE_SECRETS = ("credentials never go in a protocol: operations keep them in the Airflow connection "
                 "named by conn_id (see README, 'Pulling extracts from partners')")


def redact_secrets(line: str) -> str:
    """A protocol line fit to quote in an error message: a line that may hold a credential is withheld."""
    keyed = re.search(rf"(^|[\s{{,])[\"']?[\w-]*({_SECRET_KEY.pattern})[\w-]*[\"']?\s*:", line, re.IGNORECASE)
    if keyed or _SECRET_VALUE.search(line):
        return line[: len(line) - len(line.lstrip())] + "(line not shown: it may hold a credential)"
    return line


def _secret_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths of keys or values inside `value` that look like a credential."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if _SECRET_KEY.search(str(k)) and v not in (None, ""):
                found.append(here)
            else:
                found.extend(_secret_paths(v, here))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(_secret_paths(v, f"{path}[{i}]"))
    elif isinstance(value, str) and _SECRET_VALUE.search(value):
        found.append(path or "value")
    return found


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str | None = Field(default=None, pattern=CRON,
                                 description='When to pull, as cron in UTC ("0 3 * * *"); none: by hand only.')

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        found = _secret_paths(data) if isinstance(data, dict) else []
        if found:
            raise ValueError(f"source.{', source.'.join(found)}: {WHERE_SECRETS}, so remove it from this file")
        return data


class LandingSource(_Source):
    """The partner drops files into landing/<partner>/<dataset>/ (nothing is pulled)."""

    kind: Literal["landing"] = "landing"


class _Pulled(_Source):
    conn_id: str = Field(pattern=CONN_ID, description="Airflow connection id; operations hold the credentials.")


class SftpSource(_Pulled):
    """Files on the partner's SFTP server."""

    kind: Literal["sftp"]
    folder: str = Field(min_length=1, description="Remote folder, e.g. /outbox/contacts.")
    pattern: str = Field(default="*.csv", description="File name pattern (shell style).")
    after: Literal["leave", "move", "delete"] = "leave"
    move_to: str | None = Field(default=None, description="Remote folder for after: move.")

    @model_validator(mode="after")
    def _move_needs_folder(self) -> SftpSource:
        if self.after == "move" and not self.move_to:
            raise ValueError("source.after is 'move' but source.move_to names no folder: add it")
        if self.after != "move" and self.move_to:
            raise ValueError("source.move_to is set but source.after is not 'move': remove one")
        return self


class SqlSource(_Pulled):
    """A table or query in the partner's database, pulled incrementally by a watermark column."""

    kind: Literal["sql"]
    table: str | None = Field(default=None, pattern=SQL_NAME, description="schema.table or table.")
    query: str | None = Field(default=None, description="A SELECT; the pipeline selects only protocol fields from it.")
    watermark: str = Field(pattern=SQL_NAME, description="A column that only grows (an insert timestamp, an id).")
    chunk_rows: int = Field(default=50_000, ge=100, le=1_000_000)

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("source needs exactly one of 'table' or 'query'")
        if self.query is not None and not re.match(r"^\s*(select|with)\b", self.query, re.IGNORECASE):
            raise ValueError("source.query must be a SELECT (or WITH ... SELECT) statement")
        return self


class Pagination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    param: str = Field(default="page", description="Query parameter holding the page number.")
    start: int = Field(default=1, ge=0)
    size_param: str | None = Field(default=None, description="Query parameter holding the page size.")
    size: int = Field(default=1000, ge=1)
    max_pages: int = Field(default=10_000, ge=1)


class HttpSource(_Pulled):
    """An HTTPS API; pages are fetched until one comes back empty."""

    kind: Literal["http"]
    endpoint: str = Field(min_length=1, description="Path under the connection's base URL, e.g. /api/v1/contacts.")
    format: Literal["csv", "json"] = "csv"
    records: str | None = Field(default=None, description="JSON: key holding the list of records (else a list).")
    params: dict[str, str] = {}
    pagination: Pagination | None = None


Source = Annotated[LandingSource | SftpSource | SqlSource | HttpSource, Field(discriminator="kind")]
PulledSource = SftpSource | SqlSource | HttpSource


def source_problems(source: LandingSource | PulledSource, field_names: list[str], file_format: str) -> list[str]:
    """Rules that need the whole protocol (called by Protocol's validator)."""
    problems: list[str] = []
    if isinstance(source, SqlSource):
        if source.watermark not in field_names:
            problems.append(f"source.watermark '{source.watermark}' is not one of the protocol's fields: the "
                            "pipeline selects only protocol fields, so add it to fields (treatment: drop if it "
                            "should not be kept)")
        bad = [n for n in field_names if not re.fullmatch(SQL_NAME, n) or "." in n]
        if bad:
            problems.append(f"a sql source needs plain column names; field(s) {', '.join(bad)} are not")
    if not isinstance(source, LandingSource | SftpSource) and file_format != "csv":
        problems.append(f"a {source.kind} source lands CSV: set file.format to csv")
    return problems
