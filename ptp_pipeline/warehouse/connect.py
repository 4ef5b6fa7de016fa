"""Pick the backend from one URL setting."""

from __future__ import annotations

from pathlib import Path

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.warehouse.base import Warehouse


def open_warehouse(url: str, *, migrate: bool = True, read_only: bool = False) -> Warehouse:
    """`duckdb:///path/ptp.duckdb` (default) or `postgresql://...` (production).

    `read_only` applies to DuckDB; on PostgreSQL what a connection may do is decided by its role.
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
    if migrate and not read_only:
        wh.migrate()
    return wh
