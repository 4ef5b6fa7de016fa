"""DuckDB: the embedded default, one file, no server."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from ptp_pipeline.errors import WarehouseError
from ptp_pipeline.warehouse.base import Warehouse

#: A write-ahead log below this is left for DuckDB to fold (its `checkpoint_threshold` is 16 MB).
WAL_FOLD_BYTES = 16 * 1024 * 1024


def _owner_only(path: Path) -> None:
    """The database file holds `restricted`: 0600 (its write-ahead log too), whatever umask made it."""
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except PermissionError:
            pass


def _arrow_text(t: pa.DataType) -> pd.StringDtype | None:
    return pd.StringDtype("pyarrow") if t in (pa.string(), pa.large_string()) else None


def memory_limit() -> str:
    """DuckDB's memory bound for the warehouse and for scratch work (PTP_DUCKDB_MEMORY_LIMIT, default 1GB)."""
    return os.environ.get("PTP_DUCKDB_MEMORY_LIMIT", "1GB")


@contextmanager
def scratch_duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB for tokens (never raw values) bounded like the warehouse, spilling into a
    private temporary folder (not DuckDB's default, the working directory) removed afterwards."""
    spill = tempfile.mkdtemp(prefix="ptp-spill-")  # mode 0700
    con = duckdb.connect(config={"memory_limit": memory_limit(), "temp_directory": spill})
    try:
        yield con
    except Exception as exc:
        if "Out of Memory" not in str(exc):  # DuckDB's own, or Splink's wrapping of it
            raise
        raise WarehouseError(
            f"this step needs more memory than PTP_DUCKDB_MEMORY_LIMIT ({memory_limit()}) allows",
            hint="Raise PTP_DUCKDB_MEMORY_LIMIT (e.g. 2GB) and rerun: nothing was half-done.") from None
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.url = f"duckdb:///{path}"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _owner_only(path)
        try:
            self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise WarehouseError(
                f"cannot open the DuckDB warehouse {path}: {str(exc).splitlines()[0]}",
                hint="Another process (an Airflow task or a `ptp` command) may be writing to it: wait and retry.",
            ) from None
        self._depth = 0
        self._wal = Path(f"{path}.wal")
        self.read_only = read_only
        if not read_only:
            _owner_only(path)
        # Memory bounded by batch size, not by what the warehouse holds: DuckDB spills past this.
        if not read_only:
            self.con.execute(f"SET memory_limit = '{memory_limit()}'")
            self.con.execute("SET preserve_insertion_order = false")
            self.con.execute(f"SET temp_directory = '{path.parent / 'duckdb-spill'}'")
            # Every task closes the warehouse, and a close would checkpoint: rewrite every row group and index
            # a change touched (0.8 s after a 10k-row increment into 5M events, most of it waiting on the disk).
            # The write-ahead log is durable at commit; DuckDB folds it once it passes 16 MB (`checkpoint`).
            self.con.execute("PRAGMA disable_checkpoint_on_shutdown")

    def checkpoint(self) -> None:
        """Fold a large write-ahead log into the file, so the next process does not replay it in memory.

        A small log is left for DuckDB, which folds it at a commit that takes it past its own threshold (16 MB):
        a nightly increment's few megabytes replay in milliseconds, while a checkpoint rewrites every row group
        and index the merge touched (0.8 s of a 10k-row increment's 2.9 s into 5M events, bench/growth.py).
        """
        with contextlib.suppress(OSError):
            if self._wal.stat().st_size < WAL_FOLD_BYTES:
                return
        self.con.execute("CHECKPOINT")

    def can_write(self, table: str) -> bool:
        del table
        return not self.read_only

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.con.execute(sql, list(params)).df()

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        yield from self.con.sql(sql).to_arrow_reader(rows)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        if not data.num_rows:
            return
        # Through a relation, not `register`: a registered table is a temporary view, and inside a transaction
        # the dropped view (with the Arrow table it holds) stays in the catalog's undo log until commit, so a
        # merge kept every batch it inserted: 1M-row merge +1 GB, peak 2,217 MB (bench/ingest.py). (A pandas
        # frame goes in as Arrow too: DuckDB reads pandas object columns a Python object at a time.)
        cols = ", ".join(f'"{c}"' for c in data.column_names)
        self.con.from_arrow(data).query("_ptp_frame", f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _ptp_frame")

    def query_frame_each(self, name: str, frame: pd.DataFrame, columns: str, sqls: Sequence[str]
                         ) -> Iterator[pd.DataFrame]:
        """Each of `sqls` reading `frame` where it lies (in Arrow), as the table `name`, when asked for; `columns`
        is not needed.

        A temporary table emptied inside a transaction keeps every row it held until commit (DuckDB versions
        deleted rows for the transaction): the merge's 701,339 identities of a 3M-row extract staged for the
        candidate search held 0.4 GB of the warehouse's memory to the end of the merge."""
        del columns
        data = pa.Table.from_pandas(frame, preserve_index=False)
        for sql in sqls:
            result = self.con.from_arrow(data).query(name, sql)
            assert result is not None  # a SELECT always has a result
            # Text stays in Arrow: a second large extract's candidates are 221,000 stored identities of 31 tokens
            # each, and a Python string per token was most of the merge's memory.
            yield result.to_arrow_table().to_pandas(types_mapper=_arrow_text)

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
