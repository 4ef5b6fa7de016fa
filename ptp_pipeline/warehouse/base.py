"""The small backend interface every warehouse implements (DuckDB embedded, PostgreSQL production)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa


class Warehouse(ABC):
    """SQL is written with `?` placeholders; each backend adapts it.

    `dialect` names the SQL dialect where portable SQL is not enough (see `merge.PERSON_SQL`).
    """

    url: str
    dialect: str = "duckdb"

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    @abstractmethod
    def insert_frame(self, table: str, frame: pd.DataFrame) -> None:
        """Bulk-append a DataFrame whose columns match (a subset of) the table's columns."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: commit on success, roll back on any error."""

    @abstractmethod
    def close(self) -> None: ...

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The result in Arrow batches, so a large table streams through flat memory."""
        table = pa.Table.from_pandas(self.query(sql), preserve_index=False)
        yield from table.to_batches(max_chunksize=rows)

    def lock(self, name: str) -> None:
        """Serialise writers on `name` until the current transaction ends.

        The default suits an embedded database that admits one writer at a time: nothing to do.
        """
        del name

    def checkpoint(self) -> None:
        """Backends with a write-ahead log of their own fold it in after a large write (DuckDB)."""
        return None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        frame = self.query(sql, params)
        return None if frame.empty else frame.iat[0, 0]

    def migrate(self) -> int:
        """Apply pending migrations; safe to call at every start."""
        from ptp_pipeline.warehouse.schema import MIGRATIONS

        self.execute("CREATE SCHEMA IF NOT EXISTS ops")
        self.execute(
            "CREATE TABLE IF NOT EXISTS ops.schema_version (version INTEGER PRIMARY KEY, description VARCHAR)"
        )
        done = set(self.query("SELECT version FROM ops.schema_version")["version"].astype(int))
        applied = 0
        for version, description, statements in sorted(MIGRATIONS):
            if version in done:
                continue
            with self.transaction():
                for statement in statements:
                    sql = statement if isinstance(statement, str) else statement.get(self.dialect)
                    if sql:
                        self.execute(sql)
                self.execute("INSERT INTO ops.schema_version VALUES (?, ?)", (version, description))
            applied += 1
        return applied

    def tables(self) -> list[tuple[str, str]]:
        frame = self.query(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('shared', 'ops', 'restricted') ORDER BY 1, 2"
        )
        return list(frame.itertuples(index=False, name=None))
