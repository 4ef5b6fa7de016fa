"""Pick the backend from one URL setting."""

from __future__ import annotations

import re
from pathlib import Path

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.warehouse.base import Warehouse


def open_warehouse(url: str, *, migrate: bool | None = None, read_only: bool = False) -> Warehouse:
    """`duckdb:///path/ptp.duckdb` (default) or `postgresql://...` (production).

    `read_only` applies to DuckDB; on PostgreSQL what a connection may do is decided by its role.
    `migrate`: True applies pending migrations (`ptp migrate`, the admin login); False neither migrates nor
    checks; None (default) lets an embedded DuckDB migrate itself and otherwise only checks the schema
    version, refusing with "run `ptp migrate`" when it is behind: no other command changes a server schema.
    """
    if url.startswith("duckdb:///"):
        from ptp_pipeline.warehouse.duckdb_backend import DuckDBWarehouse

        wh: Warehouse = DuckDBWarehouse(Path(url.removeprefix("duckdb:///")), read_only=read_only)
    elif url.startswith(("postgresql://", "postgres://")):
        from ptp_pipeline.warehouse.postgres_backend import PostgresWarehouse

        wh = PostgresWarehouse(url)
    else:
        scheme = url.split(":", 1)[0]
        raise ConfigError(
            f"warehouse URL scheme '{scheme}' is not supported",
            hint="Set PTP_WAREHOUSE to duckdb:///path/ptp.duckdb or postgresql://user@host:5432/database.",
        )
    if read_only or migrate is False:
        return wh
    try:
        if migrate or wh.self_migrating:
            wh.migrate()
        else:
            wh.check_schema()
    except BaseException:
        wh.close()
        raise
    return wh


def mask_url(url: str) -> str:
    """The URL with any password (user:password@ or ?password=) replaced by `***`: for every message."""
    url = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", url)
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)
