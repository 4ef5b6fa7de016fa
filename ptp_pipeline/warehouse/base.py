"""The small backend interface every warehouse implements (DuckDB embedded, PostgreSQL production)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa


class Warehouse(ABC):
    """SQL is written with `?` placeholders; each backend adapts it.

    `dialect` names the SQL dialect where portable SQL is not enough (see `persons.PERSON_SQL`).
    """

    url: str
    dialect: str = "duckdb"
    #: An embedded file database has no logins: whoever may write the file is its admin, so it applies
    #: its own migrations when opened for writing. A server database never does (`ptp migrate`).
    self_migrating: bool = True
    #: Signs audit entries (see `warehouse.audit`); set at the edge from the project key, never stored.
    audit_key: Callable[[], bytes] | None = None

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    def insert_frame(self, table: str, frame: pd.DataFrame) -> None:
        """Bulk-append a DataFrame whose columns match (a subset of) the table's columns."""
        if not frame.empty:
            self.insert_arrow(table, pa.Table.from_pandas(frame, preserve_index=False))

    @abstractmethod
    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Bulk-append an Arrow table whose columns match (a subset of) the table's columns (no pandas round
        trip: the merge builds its rows in Arrow)."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: commit on success, roll back on any error."""

    @abstractmethod
    def close(self) -> None: ...

    def query_frame(self, name: str, frame: pd.DataFrame, columns: str, sql: str) -> pd.DataFrame:
        """`sql` reading `frame` as the table `name` (`columns`: its column definitions, as in CREATE TABLE)."""
        return next(iter(self.query_frame_each(name, frame, columns, [sql])))

    def query_frame_each(self, name: str, frame: pd.DataFrame, columns: str, sqls: Sequence[str]
                         ) -> Iterator[pd.DataFrame]:
        """Each of `sqls` reading `frame` as the table `name`, the frame staged once; each result is run when
        asked for, so a caller can drop one before the next is made.

        Here through a temporary table, emptied and filled once per call: a server reads rows on its side."""
        self.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns})")
        self.execute(f"DELETE FROM {name}")
        self.insert_frame(name, frame)
        for sql in sqls:
            yield self.query(sql)

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The result in Arrow batches, so a large table streams through flat memory."""
        table = pa.Table.from_pandas(self.query(sql), preserve_index=False)
        yield from table.to_batches(max_chunksize=rows)

    def lock(self, name: str) -> None:
        """Serialise writers on `name` until the current transaction ends.

        The default suits an embedded database that admits one writer at a time: nothing to do.
        """
        del name

    @contextmanager
    def bulk_load(self, rows: Mapping[str, int]) -> Iterator[list[str]]:
        """Around a large append of `rows[table]` rows to each table, inside a transaction; yields the tables
        given the bulk path. On a server this may rebuild indexes once after the load instead of row by row
        (PostgreSQL); here (DuckDB) there is nothing to do."""
        del rows
        yield []

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

    def schema_version(self) -> set[int] | None:
        """Migrations applied, or None when this login may not read them (read-only roles)."""
        frame = self.query("SELECT version FROM ops.schema_version")
        return set(frame["version"].astype(int))

    def check_schema(self) -> None:
        """Refuse to run against a schema older than this release needs; never changes it."""
        from ptp_pipeline.errors import WarehouseError
        from ptp_pipeline.warehouse.schema import MIGRATIONS

        try:
            done = self.schema_version()
        except Exception:  # no ops.schema_version at all: never migrated
            done = set()
        if done is None:
            return
        missing = sorted(v for v, _, _ in MIGRATIONS if v not in done)
        if missing:
            raise WarehouseError(
                f"the warehouse schema lacks {len(missing)} migration(s) this release of ptp needs "
                f"(versions {', '.join(map(str, missing[:8]))}{' ...' if len(missing) > 8 else ''})",
                hint="Run `ptp migrate` as the admin login (the login that owns the warehouse schemas), then rerun. "
                     "The pipeline, analyst and re-identifier logins never change the schema.")

    def login(self) -> str:
        """Who is acting, as the database knows them: the login on a server, the OS account on a file."""
        import getpass

        return getpass.getuser()

    def can_write(self, table: str) -> bool:
        """Whether this connection may insert into `table` (roles on PostgreSQL, read-only files on DuckDB)."""
        del table
        return True

    def can_read(self, table: str) -> bool:
        del table
        return True

    def tables(self) -> list[tuple[str, str]]:
        frame = self.query(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('shared', 'ops', 'restricted', 'published', 'research') ORDER BY 1, 2"
        )
        return list(frame.itertuples(index=False, name=None))
