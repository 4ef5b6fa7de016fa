"""Parquet exports of the shared tables for analysts (never `ops` or `restricted`)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.warehouse.arrow_types import arrow_schema, typed
from ptp_pipeline.warehouse.base import Warehouse

FORMATS = ("parquet",)


def export(wh: Warehouse, directory: Path, fmt: str = "parquet") -> list[tuple[str, int, Path]]:
    """Write one file per shared table, each atomically (a reader never sees half a file).

    Tables stream through in Arrow batches, so memory stays flat however large they grow.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"export format '{fmt}' is not supported", hint="Use --format parquet.")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, int, Path]] = []
    for schema, table in wh.tables():
        if schema != "shared":
            continue
        target = directory / f"{table}.parquet"
        partial = directory / f".{table}.parquet.partial"
        rows = 0
        target_schema = arrow_schema(wh, schema, table)  # dates as dates, money as floats, on either backend
        writer = pq.ParquetWriter(partial, target_schema)
        try:
            for batch in wh.batches(f"SELECT * FROM shared.{table}"):
                writer.write_batch(typed(batch, target_schema))
                rows += batch.num_rows
        finally:
            writer.close()  # an empty table still gets its file, with its columns
        os.replace(partial, target)
        written.append((table, rows, target))
    return written
