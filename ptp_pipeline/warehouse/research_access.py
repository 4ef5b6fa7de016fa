"""A researcher's declared purpose: recorded as the login before any research row is visible.

On PostgreSQL the research tables have row-level security: a `ptp_researcher` login sees no row until it
has called `research.declare_purpose` (SECURITY DEFINER: the purpose, login and time go to
`ops.research_purpose`, which no researcher can read or change) within the last 30 days. On DuckDB (no
logins) the declaration is recorded with the OS account, and the research export needs one each time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.warehouse.base import Warehouse

MIN_PURPOSE_CHARS = 10


def declare_purpose(wh: Warehouse, purpose: str) -> None:
    purpose = (purpose or "").strip()
    if len(purpose) < MIN_PURPOSE_CHARS:
        raise ConfigError(
            "the research tables open only for a stated purpose",
            hint='State why, e.g. --purpose "Evaluation of the alcohol pathway, ethics ref 2025-07".',
        )
    if wh.dialect == "postgresql":
        wh.execute("SELECT research.declare_purpose(?)", (purpose,))
    else:
        wh.execute(
            "INSERT INTO ops.research_purpose (login, declared_at, purpose) VALUES (?, ?, ?)",
            (wh.login(), datetime.now(UTC).replace(tzinfo=None, microsecond=0), purpose),
        )
