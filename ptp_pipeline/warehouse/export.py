"""Parquet exports of one tier: `published` for partner analysts (aggregates that passed disclosure control,
plus the report), `research` for a named researcher who states a purpose. Never `shared`, `ops` or
`restricted`."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.warehouse.arrow_types import arrow_schema, typed
from ptp_pipeline.warehouse.base import Warehouse

FORMATS = ("parquet",)
TIERS = ("published", "research")


def export(wh: Warehouse, directory: Path, fmt: str = "parquet", tier: str = "published",
           purpose: str = "") -> list[tuple[str, int, Path]]:
    """Write one file per table of the tier, each atomically (a reader never sees half a file).

    Tables stream through in Arrow batches, so memory stays flat however large they grow. The research
    tier first records the purpose (`research_access.declare_purpose`).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"export format '{fmt}' is not supported", hint="Use --format parquet.")
    if tier not in TIERS:
        raise ConfigError(f"'{tier}' is not a tier others may export", hint=f"Use --tier {' or --tier '.join(TIERS)}.")
    if tier == "research":
        from ptp_pipeline.warehouse.research_access import declare_purpose

        declare_purpose(wh, purpose)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, int, Path]] = []
    for schema, table in wh.tables():
        if schema != tier or (schema, table) == ("published", "report"):
            continue
        written.append(_write_table(wh, schema, table, directory / f"{table}.parquet"))
    if tier == "published":
        from ptp_pipeline.pathways.published import stored_report

        html = stored_report(wh)
        if html is not None:
            target = directory / "pathways.html"
            write_text_atomic(target, html)
            written.append(("report", 1, target))
    return written


def _write_table(wh: Warehouse, schema: str, table: str, target: Path) -> tuple[str, int, Path]:
    partial = target.with_name(f".{target.name}.partial")
    rows = 0
    target_schema = arrow_schema(wh, schema, table)  # dates as dates, money as floats, on either backend
    writer = pq.ParquetWriter(partial, target_schema)
    try:
        for batch in wh.batches(f"SELECT * FROM {schema}.{table}"):
            writer.write_batch(typed(batch, target_schema))
            rows += batch.num_rows
    finally:
        writer.close()  # an empty table still gets its file, with its columns
    os.replace(partial, target)
    return f"{schema}.{table}", rows, target


def write_text_atomic(target: Path, text: str) -> None:
    """A reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)
