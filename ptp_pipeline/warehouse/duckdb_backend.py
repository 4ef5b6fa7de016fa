"""DuckDB: the embedded default, one file, no server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from ptp_pipeline.errors import WarehouseError
from ptp_pipeline.warehouse.base import Warehouse


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.url = f"duckdb:///{path}"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise WarehouseError(
                f"cannot open the DuckDB warehouse {path}: {str(exc).splitlines()[0]}",
                hint="Another process (an Airflow task or a `ptp` command) may be writing to it: wait and retry.",
            ) from None
        self._depth = 0
        self.read_only = read_only

    def can_write(self, table: str) -> bool:
        del table
        return not self.read_only

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.con.execute(sql, list(params)).df()

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        yield from self.con.sql(sql).to_arrow_reader(rows)

    def insert_frame(self, table: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self.con.register("_ptp_frame", frame)
        try:
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _ptp_frame")
        finally:
            self.con.unregister("_ptp_frame")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._depth = 0

    def close(self) -> None:
        self.con.close()
