"""Stage 0, pull: fetch extracts from partners (SFTP, partner databases, HTTPS APIs) into landing.

Exactly once and atomically: see `land.py` (temporary name, size and checksum, one rename) and
`records.py` (pull records and SQL watermarks, settled with the ledger outcome). Exports are lazy so
that the warehouse can import `records` without pulling the whole stage in.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PullResult", "RetryPolicy", "SourceError", "pull"]


def __getattr__(name: str) -> Any:
    if name in ("pull", "PullResult"):
        from ptp_pipeline.pull import run

        return getattr(run, name)
    if name == "RetryPolicy":
        from ptp_pipeline.pull.retry import RetryPolicy

        return RetryPolicy
    if name == "SourceError":
        from ptp_pipeline.pull.errors import SourceError

        return SourceError
    raise AttributeError(name)
