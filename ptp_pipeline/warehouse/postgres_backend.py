"""PostgreSQL: the production backend. Bulk loads use COPY; one transaction per merge; real roles.

The connection runs in autocommit outside `transaction()`, so a statement outside a transaction
commits on its own, as on DuckDB. Concurrent writers serialise only where they must, through
transaction-scoped row locks on `ops.merge_lock` (`lock`), which only the pipeline's login can take.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg.types.numeric import FloatLoader

from ptp_pipeline.errors import WarehouseError
from ptp_pipeline.warehouse.base import Warehouse

# `?` outside quoted literals becomes `%s`; every `%` becomes `%%` (psycopg's escaping, which
# applies inside literals too).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%")
_COPY_BATCH_ROWS = 200_000
log = logging.getLogger(__name__)
_DATE_OIDS = {1082, 1114, 1184}  # date, timestamp, timestamptz: returned as datetime64, like DuckDB


#: A bulk load rebuilds a table's secondary indexes after its COPY when it adds at least this many rows and at
#: least BULK_SHARE of the rows the table holds (see `takes_bulk_path`).
BULK_MIN_ROWS = 50_000
BULK_SHARE = 0.75


def takes_bulk_path(incoming: int, stored: int) -> bool:
    """Whether appending `incoming` rows to a table of `stored` rows is cheaper with its indexes built afterwards.

    Maintaining an index costs a descent per new row; building it sorts every row once, the stored ones again
    too, so it wins only when the load is large beside them (an initial load above all). Measured on the 1M-row
    bench warehouse (insert, then ANALYZE; rolled back): link_identity, 233,554 rows and 17 indexes, adding 10% of
    its rows 3.0 s with indexes / 9.8 s dropped and rebuilt, 25% 8.3 / 12.1 s, 50% 14.6 / 16.1 s, 100% 28.2 /
    20.4 s; link_record (964,735 rows, 4 indexes) 50% 9.9 / 9.0 s, 100% 23.4 / 14.5 s. Break-even lies between
    half and all of the stored rows, hence 0.75. Below BULK_MIN_ROWS the gain is a second or two, not worth a lock
    that makes the table's readers wait (a 10k-row nightly increment never takes this path)."""
    return incoming >= BULK_MIN_ROWS and incoming >= BULK_SHARE * stored


def to_psycopg(sql: str) -> str:
    def swap(m: re.Match[str]) -> str:
        tok = m.group(0)
        return "%s" if tok == "?" else tok.replace("%", "%%")

    return _TOKENS.sub(swap, sql)


def _safe_reason(exc: Exception, url: str = "") -> str:
    """First line of a connection error, with any password masked (libpq quotes a malformed URL whole)."""
    from ptp_pipeline.warehouse.connect import mask_url

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if url:
        text = text.replace(url, mask_url(url))
        for secret in re.findall(r"://[^:/@?#\[]*:([^@/?#]+)@|password=([^&\s#]+)", url):
            for value in secret:
                if value:
                    text = text.replace(value, "***")
    return text


class PostgresWarehouse(Warehouse):
    dialect = "postgresql"
    self_migrating = False

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.con = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise WarehouseError(
                f"cannot connect to the PostgreSQL warehouse: {_safe_reason(exc, url)}",
                hint="Check PTP_WAREHOUSE (postgresql://user@host:port/database) and that the server is running, "
                "e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`.",
            ) from None
        self.con.adapters.register_loader("numeric", FloatLoader)
        # No JIT: the planner's cost of the merge's candidate search (one join per blocking rule) passes JIT's
        # thresholds, and compiling its 362 functions took 9.6 s of a 13.6 s search that runs in 3.6 s without.
        # The warehouse's queries are joins over indexed tokens, not the long scans JIT pays back on.
        self.con.execute("SET jit = off")
        self._tx: list[Any] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(to_psycopg(sql) if params else sql, list(params) or None)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        cur = self.con.execute(to_psycopg(sql) if params else sql, list(params) or None)
        if cur.description is None:
            return pd.DataFrame()
        names = [d.name for d in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=names)
        for d in cur.description:
            if d.type_code in _DATE_OIDS:
                frame[d.name] = pd.to_datetime(frame[d.name])
        return frame

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """A server-side cursor, fetched `rows` at a time (the result never sits whole in memory)."""
        with self.transaction(), self.con.cursor(name="ptp_batches") as cur:
            cur.execute(sql)
            names = [d.name for d in cur.description or []]
            while chunk := cur.fetchmany(rows):
                frame = pd.DataFrame(chunk, columns=names)
                for d in cur.description or []:
                    if d.type_code in _DATE_OIDS:
                        frame[d.name] = pd.to_datetime(frame[d.name])
                yield pa.RecordBatch.from_pandas(frame, preserve_index=False)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """COPY in CSV batches written by Arrow (vectorised; no per-row Python)."""
        if not data.num_rows:
            return
        cols = ", ".join(f'"{c}"' for c in data.column_names)
        options = pacsv.WriteOptions(include_header=False)
        with self.transaction(), self.con.cursor() as cur, \
                cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
            for batch in data.to_batches(max_chunksize=_COPY_BATCH_ROWS):
                buf = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([batch]), buf, write_options=options)
                copy.write(buf.getbuffer())

    def stored_rows(self, table: str) -> int:
        """The table's rows as the planner estimates them (its last statistics scaled to its size now), or
        counted when it has never been analysed."""
        tuples, pages, pages_now = self.con.execute(
            "SELECT c.reltuples, c.relpages, pg_relation_size(c.oid) / current_setting('block_size')::int "
            "FROM pg_class c WHERE c.oid = %s::regclass", [table]).fetchone() or (0, 0, 0)
        if not pages_now:
            return 0
        if tuples >= 0 and pages > 0:
            return int(tuples / pages * pages_now)
        return int(self.scalar(f"SELECT count(*) FROM {table}") or 0)

    @contextmanager
    def bulk_load(self, rows: Mapping[str, int]) -> Iterator[list[str]]:
        """Drop the secondary indexes of each table this load is large for (`takes_bulk_path`), and rebuild
        exactly them (read from the catalogue before the drop, by `ops.bulk_drop_indexes`) and ANALYZE the
        table when the block ends, inside the caller's transaction.

        1M-row extract into an empty warehouse (bench/ingest.py): the COPYs into the five tables took 52 s with
        their indexes; 9 s without them plus 13 s to build them and ANALYZE. The builds run at the server's
        settings: maintenance_work_mem 64 -> 256MB and 0 -> 2 parallel workers changed nothing measurable here
        (16.6-17.4 s for all 26 indexes either way, 2 cores; the largest sort, 1M record ids, fits in 64MB).
        DDL is transactional: a merge that fails or is killed rolls back to the indexes as they were, and
        `ops.bulk_index`'s deferred trigger refuses to commit while one is missing. Primary keys and unique
        constraints stay: they keep the data whole during the load.

        The drop holds an ACCESS EXCLUSIVE lock on the table until commit, so its readers (re-identifiers,
        derive) wait for the merge rather than read the rows it is replacing; only a large load relative to
        the table takes this path. The lock is asked for with a timeout below `deadlock_timeout`: a waiting
        merge holds a weaker lock on these tables, and waiting on it would deadlock, so on a timeout the
        load just keeps its indexes.
        """
        if not self._tx:
            raise RuntimeError("bulk_load() rebuilds indexes before commit: call it inside transaction()")
        wanted = [t for t, n in rows.items() if n and takes_bulk_path(n, self.stored_rows(t))]
        taken = wanted
        if wanted:
            deadlock_ms = int(self.scalar("SELECT setting FROM pg_settings WHERE name = 'deadlock_timeout'") or 1000)
            before = self.scalar("SELECT current_setting('lock_timeout')")
            try:
                with self.con.transaction():  # a savepoint: a timed-out drop leaves the merge as it was
                    self.execute(f"SET LOCAL lock_timeout = {max(deadlock_ms // 2, 1)}")
                    for table in taken:
                        self.execute("SELECT ops.bulk_drop_indexes(?)", (table,))
            except psycopg.errors.LockNotAvailable:
                taken = []
            self.execute("SELECT set_config('lock_timeout', ?, true)", (before,))
            if taken:
                log.info("bulk load: indexes of %s rebuilt after the load (%s)", ", ".join(taken),
                         ", ".join(f"{t} {rows[t]} rows" for t in taken))
            else:
                log.info("bulk load: another session holds a lock on %s (a waiting merge or a reader); "
                         "their indexes are kept during the load", ", ".join(wanted))
        yield taken
        for table in taken:
            self.execute("SELECT ops.bulk_rebuild_indexes(?)", (table,))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._tx:
            yield
            return
        with self.con.transaction() as tx:
            self._tx.append(tx)
            try:
                yield
            finally:
                self._tx.pop()

    def lock(self, name: str) -> None:
        """A row lock on `ops.merge_lock` until the transaction ends.

        Only logins that may update that table (the pipeline's) can take it, so an analyst cannot
        hold it and stall every merge (a public advisory-lock key could be taken by any login).
        """
        if not self._tx:
            raise RuntimeError("lock() is transaction-scoped: call it inside transaction()")
        table = "ops.audit_lock" if name == "ptp.audit" else "ops.merge_lock"  # re-identifiers append audit only
        self.con.execute(f"INSERT INTO {table} (name) VALUES (%s) "
                         "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name", [name])

    def login(self) -> str:
        return str(self.scalar("SELECT session_user"))

    def migrate(self) -> int:
        """DDL and grants: run by the admin login only (`ptp migrate`), never by the pipeline's."""
        try:
            # Concurrent first starts must not race to create the schema. The lock table may not exist
            # yet, so migrations serialise on an advisory key (only the admin login runs them).
            with self.transaction():
                self.con.execute("SELECT pg_advisory_xact_lock(hashtext('ptp.migrate'))")
                applied = super().migrate()
                self.grant_roles()
        except psycopg.errors.InsufficientPrivilege:
            raise WarehouseError(
                "this login may not change the warehouse schema, so `ptp migrate` cannot run as it",
                hint="Run `ptp migrate` as the admin login (the owner of the warehouse database, with CREATEROLE), "
                     "e.g. PTP_WAREHOUSE=postgresql://ptp_admin@host/db ptp migrate.") from None
        return applied

    def schema_version(self) -> set[int] | None:
        try:
            return super().schema_version()
        except psycopg.errors.InsufficientPrivilege:
            return None  # a read-only role (analyst, re-identifier): it cannot see ops and never migrates

    def can_write(self, table: str) -> bool:
        return bool(self.scalar("SELECT has_table_privilege(?, 'INSERT')", (table,)))

    def can_read(self, table: str) -> bool:
        schema = table.split(".", 1)[0]
        return bool(self.scalar("SELECT has_schema_privilege(?, 'USAGE') AND has_table_privilege(?, 'SELECT')",
                                (schema, table)))

    def grant_roles(self) -> None:
        """Re-grant on every table, so tables added by later migrations are covered too."""
        from ptp_pipeline.warehouse.roles import GRANTS, GRANTS_AFTER_MIGRATIONS

        for statement in [*GRANTS, *GRANTS_AFTER_MIGRATIONS]:
            self.execute(statement)

    def close(self) -> None:
        self.con.close()
