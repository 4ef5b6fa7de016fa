"""Arrow types for exported tables, from the warehouse's own column types, so a Parquet file says what each
column is on either backend: DATE stays a date (Parquet DATE), money (DECIMAL/NUMERIC) becomes a float
(pandas reads float64, not Python Decimal objects), whole numbers keep their width."""

from __future__ import annotations

import pyarrow as pa

from ptp_pipeline.warehouse.base import Warehouse

COLUMNS_SQL = ("SELECT column_name, data_type FROM information_schema.columns "
               "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position")
# information_schema's data_type, lower case, by prefix: DuckDB and PostgreSQL spellings.
_TYPES: list[tuple[str, pa.DataType]] = [
    ("date", pa.date32()), ("timestamp", pa.timestamp("us")), ("decimal", pa.float64()), ("numeric", pa.float64()),
    ("double", pa.float64()), ("real", pa.float32()), ("float", pa.float64()), ("bigint", pa.int64()),
    ("integer", pa.int32()), ("smallint", pa.int16()), ("boolean", pa.bool_()), ("character", pa.string()),
    ("varchar", pa.string()), ("text", pa.string()),
]


def arrow_schema(wh: Warehouse, schema: str, table: str) -> pa.Schema:
    """The export schema of `schema.table` (unknown types are kept as text)."""
    columns = wh.query(COLUMNS_SQL, (schema, table))
    fields = []
    for name, data_type in zip(columns["column_name"], columns["data_type"].str.lower(), strict=True):
        arrow = next((t for prefix, t in _TYPES if data_type.startswith(prefix)), pa.string())
        fields.append(pa.field(str(name), arrow))
    return pa.schema(fields)


def typed(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """`batch` cast to the export schema (a timestamp that is a date becomes a date; decimals floats)."""
    return pa.RecordBatch.from_arrays([batch.column(i).cast(target.field(i).type) for i in range(batch.num_columns)],
                                      schema=target)
