"""Parquet exports of the shared tables for analysts (never `ops` or `restricted`)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ptp_pipeline.errors import ConfigError
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
        writer: pq.ParquetWriter | None = None
        try:
            for batch in wh.batches(f"SELECT * FROM shared.{table}"):
                if writer is None:
                    writer = pq.ParquetWriter(partial, batch.schema)
                writer.write_batch(batch)
                rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # an empty table still gets its file, with its columns
            pq.write_table(pa.Table.from_pandas(wh.query(f"SELECT * FROM shared.{table}"), preserve_index=False),
                           partial)
        os.replace(partial, target)
        written.append((table, rows, target))
    return written
