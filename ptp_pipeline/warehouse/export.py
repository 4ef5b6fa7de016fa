"""Parquet exports of the shared tables for analysts (never `ops` or `restricted`)."""

from __future__ import annotations

import os
from pathlib import Path

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.warehouse.base import Warehouse

FORMATS = ("parquet",)


def export(wh: Warehouse, directory: Path, fmt: str = "parquet") -> list[tuple[str, int, Path]]:
    """Write one file per shared table, each atomically (a reader never sees half a file)."""
    if fmt not in FORMATS:
        raise ConfigError(f"export format '{fmt}' is not supported", hint="Use --format parquet.")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, int, Path]] = []
    for schema, table in wh.tables():
        if schema != "shared":
            continue
        frame = wh.query(f"SELECT * FROM shared.{table}")
        target = directory / f"{table}.parquet"
        partial = directory / f".{table}.parquet.partial"
        frame.to_parquet(partial, index=False)
        os.replace(partial, target)
        written.append((table, len(frame), target))
    return written
