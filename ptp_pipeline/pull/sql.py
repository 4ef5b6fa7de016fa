"""Pull rows from a partner database (MySQL/MariaDB, PostgreSQL) through Airflow's DbApiHook subclasses.

Minimisation at source: the statement selects exactly the protocol's field names, never `*`.
Incremental: rows with watermark in (last recorded watermark, current maximum] form one extract; the
watermark advances only when that extract has its ledger outcome (see records.settle). Rows stream
through a server-side cursor in chunks, so memory stays flat whatever the table size.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
from datetime import date, datetime
from typing import Any

from ptp_pipeline.protocol.model import FieldSpec, FieldType, Protocol
from ptp_pipeline.protocol.source import SqlSource
from ptp_pipeline.pull import records
from ptp_pipeline.pull.connection import get_connection, refused
from ptp_pipeline.pull.errors import SourceError, TransferChanged
from ptp_pipeline.pull.land import Pulled, commit, incoming, safe_name
from ptp_pipeline.pull.retry import Transient
from ptp_pipeline.runtime import Runtime

EXCEL_EPOCH = date(1899, 12, 30)
MYSQL_REFUSED = {1044, 1045, 1698, 1227}
MYSQL_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 1040, 1205, 1213}
PG_REFUSED_TEXT = ("authentication failed", "no pg_hba.conf entry", "role \"")
PG_UNREACHABLE_TEXT = ("connection refused", "timeout", "timed out", "could not connect", "server closed",
                       "could not translate host", "the database system is starting up", "too many clients")


class Dialect:
    """Identifier quoting and the driver's parameter placeholder (from the hook)."""

    def __init__(self, conn_type: str, placeholder: str = "%s") -> None:
        self.quote_char = "`" if conn_type in ("mysql", "mariadb") else '"'
        self.p = placeholder

    def quote(self, name: str) -> str:
        return ".".join(f"{self.quote_char}{part}{self.quote_char}" for part in name.split("."))


def _classify(exc: Exception, conn_id: str) -> Exception:
    """A driver error as a pipeline error. Driver messages are not passed on: they may quote values."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc).lower()
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if code in MYSQL_REFUSED or (sqlstate or "").startswith("28") or any(t in text for t in PG_REFUSED_TEXT):
        return refused(conn_id, "the partner database")
    if code in MYSQL_UNREACHABLE or any(t in text for t in PG_UNREACHABLE_TEXT):
        return Transient(f"cannot reach the partner database ({type(exc).__name__})")
    if code in (1142, 1143) or sqlstate == "42501":
        return SourceError(f"the user of connection '{conn_id}' may not read a column the protocol asks for",
                           hint="Ask the partner to grant SELECT on exactly the protocol's fields.")
    if code in (1049,) or sqlstate == "3D000" or ("database" in text and "does not exist" in text):
        return SourceError(f"the database named in connection '{conn_id}' does not exist",
                           hint=f"Operations: check the schema/database of connection '{conn_id}'.")
    if code in (1054, 1146) or sqlstate in ("42703", "42P01"):
        return SourceError(f"the partner database behind connection '{conn_id}' has no such table or column "
                           f"({'MySQL error ' + str(code) if code else 'SQLSTATE ' + str(sqlstate)})",
                           hint="Check source.table in the protocol, and that every protocol field is a column "
                                "with exactly that name in the partner's table.")
    label = f"error {code}" if code else f"SQLSTATE {sqlstate}" if sqlstate else type(exc).__name__
    return SourceError(f"the partner database behind connection '{conn_id}' failed the pull ({label})",
                       hint="Pull again; if it fails the same way, ask the partner's DBA with this error code.")


def _driver_errors() -> tuple[type[Exception], ...]:
    found: list[type[Exception]] = []
    for module in ("MySQLdb", "psycopg", "psycopg2", "mysql.connector"):
        try:
            mod = __import__(module, fromlist=["Error"])
            found.append(mod.Error)
        except ImportError:
            continue
    return tuple(found)


def _server_cursor(conn: Any, chunk: int) -> Any:
    """A cursor that streams rows from the server instead of loading the whole result."""
    module = type(conn).__module__
    if module.startswith("MySQLdb"):
        import MySQLdb.cursors

        return conn.cursor(MySQLdb.cursors.SSCursor)
    if module.startswith(("psycopg", "psycopg2")):
        cur = conn.cursor(name="ptp_pull")
        cur.itersize = chunk
        return cur
    return conn.cursor()  # mysql-connector-python: unbuffered by default


def _formatter(spec: FieldSpec) -> Any:
    """Render a database value as the protocol's text form (dates in the partner's declared format)."""
    if spec.type in (FieldType.date, FieldType.datetime):
        formats = spec.formats or ["%Y-%m-%d"]
        fmt = next((f for f in formats if "%" in f), None)

        def as_date(v: Any) -> str:
            if v is None:
                return ""
            if isinstance(v, date | datetime):
                if fmt is None:
                    return str(((v.date() if isinstance(v, datetime) else v) - EXCEL_EPOCH).days)
                return v.strftime(fmt)
            return str(v)

        return as_date
    return lambda v: "" if v is None else str(v)


def watermark_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def pull_sql(rt: Runtime, protocol: Protocol, src: SqlSource, *, dry_run: bool = False) -> Pulled:
    """Pull the next watermark range (or the whole table) into landing as one CSV extract."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    connection = get_connection(src.conn_id)
    hook = connection.get_hook()
    if not isinstance(hook, DbApiHook):
        raise SourceError(f"connection '{src.conn_id}' is of type '{connection.conn_type}', not a database",
                          hint="Operations: use a mysql or postgres connection for a sql source.")
    dialect = Dialect(str(connection.conn_type), str(getattr(hook, "placeholder", "%s")))
    errors = _driver_errors()
    try:
        conn = hook.get_conn()
    except errors as exc:
        raise _classify(exc, src.conn_id) from None
    try:
        return _pull(rt, protocol, src, conn, dialect, dry_run)
    except errors as exc:
        raise _classify(exc, src.conn_id) from None
    finally:
        with contextlib.suppress(Exception):  # closing a broken connection must not hide the real error
            conn.close()


def _pull(rt: Runtime, protocol: Protocol, src: SqlSource, conn: Any, dialect: Dialect, dry_run: bool) -> Pulled:
    partner, dataset = protocol.key
    result = Pulled()
    q = dialect.quote
    columns = ", ".join(q(f.name) for f in protocol.fields)
    origin = q(src.table) if src.table else f"({src.query}) AS ptp_source"
    remote = src.table or src.query or ""
    wm = q(src.watermark)
    lo = records.watermark(rt.warehouse, partner, dataset)
    p = dialect.p
    after, params = (f" WHERE {wm} > {p}", [lo]) if lo is not None else ("", [])
    cur = conn.cursor()
    cur.execute(f"SELECT max({wm}), count(*) FROM {origin}{after}", params)
    hi_value, expected = cur.fetchone()
    cur.close()
    if not expected or hi_value is None:
        result.skipped.append(f"{remote}: no rows after watermark {lo or '(none yet)'}")
        return result
    hi = watermark_text(hi_value)
    where = f"{after} AND {wm} <= {p}" if after else f" WHERE {wm} <= {p}"
    params = [*params, hi]
    label = f"{remote} ({lo or '-inf'}, {hi}]"
    if dry_run:
        result.planned.append(f"{label}: {expected:,} rows, columns {', '.join(f.name for f in protocol.fields)}")
        return result
    statement = f"SELECT {columns} FROM {origin}{where} ORDER BY {wm}"
    formatters = [_formatter(f) for f in protocol.fields]
    rows = 0
    with incoming(rt, partner, dataset) as inc:
        # Bytes go through `inc` so they are counted and hashed: text is encoded once per chunk.
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=protocol.file.delimiter, lineterminator="\n")
        writer.writerow([f.name for f in protocol.fields])
        cur = _server_cursor(conn, src.chunk_rows)
        cur.execute(statement, params)
        while batch := cur.fetchmany(src.chunk_rows):
            writer.writerows([fmt(v) for fmt, v in zip(formatters, row, strict=True)] for row in batch)
            rows += len(batch)
            inc.write(buffer.getvalue().encode(protocol.file.encoding))
            buffer.seek(0)
            buffer.truncate()
        inc.write(buffer.getvalue().encode(protocol.file.encoding))
        cur.close()
        if rows != expected:
            raise TransferChanged(f"{label} through connection '{src.conn_id}': {rows:,} rows arrived but the "
                                  f"database counted {expected:,} a moment before; nothing was landed",
                                  hint="Rows in the range changed during the pull: pull again.")
        digest = hashlib.sha256(remote.encode()).hexdigest()[:8]
        name = f"{dataset}-sql-{safe_name(hi)}-{digest}.csv"
        rec = records.PullRecord(pull_id=f"sql-{inc.sha256[:16]}-{digest}", partner=partner, dataset=dataset,
                                 kind="sql", conn_id=src.conn_id, remote=remote, file_name=name, sha256=inc.sha256,
                                 watermark_from=lo, watermark_to=hi, rows_pulled=rows)
        result.landed.append(commit(rt, inc, rec, expected_size=None))
    return result
