"""The pathways SQL gives the same derived tables on PostgreSQL as on DuckDB.

Runs when TEST_POSTGRES_URL names a scratch PostgreSQL database (its shared/ops/restricted schemas are
dropped and recreated) and the PostgreSQL backend is available; skipped otherwise.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from ptp_pipeline.errors import ConfigError
from ptp_pipeline.outputs import ORDER, Outputs
from ptp_pipeline.pathways import DERIVED_TABLES, rebuild_tables
from ptp_pipeline.report import report_data
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.warehouse import open_warehouse

URL = os.environ.get("TEST_POSTGRES_URL")


def comparable(column: pd.Series) -> pd.Series:
    """Numbers as floats, dates as ISO text, the rest as text: drivers differ in the Python types they return."""
    if column.name in ("event_date", "month", "first_seen", "last_seen"):
        return pd.to_datetime(column).dt.strftime("%Y-%m-%d")
    try:
        return pd.to_numeric(column).astype(float)
    except (TypeError, ValueError):
        return column.astype(str)


@pytest.mark.skipif(not URL, reason="set TEST_POSTGRES_URL to a scratch PostgreSQL database to run")
def test_derived_tables_and_report_are_the_same_on_postgres(pathways_env: dict[str, str]) -> None:
    assert URL is not None
    try:
        pg = open_warehouse(URL, migrate=False)
    except ConfigError:
        pytest.skip("this build has no PostgreSQL backend")
    rt = Runtime(load_settings(pathways_env))
    try:
        for schema in ("shared", "ops", "restricted"):
            pg.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        pg.migrate()
        for table in ("shared.person", "shared.pathway_event", "ops.extract_ledger"):
            pg.insert_frame(table, rt.warehouse.query(f"SELECT * FROM {table}"))
        rebuild_tables(pg, rt.project.top_share)
        duck_out, pg_out = Outputs(rt.warehouse), Outputs(pg)
        for name in DERIVED_TABLES:
            a, b = duck_out.table(name), pg_out.table(name)
            assert len(a) == len(b) > 0, name
            for col in a.columns:
                x, y = comparable(a[col]), comparable(b[col])
                if x.dtype.kind == "f":
                    assert np.allclose(x, y.astype(float), equal_nan=True), (name, col)
                else:
                    assert x.tolist() == y.tolist(), (name, col, ORDER[name])
        on_pg, on_duck = report_data(pg, rt.project), report_data(rt.warehouse, rt.project)
        assert on_pg.headline == on_duck.headline
        pd.testing.assert_frame_equal(on_pg.overlap, on_duck.overlap)
        pd.testing.assert_frame_equal(on_pg.monthly.table, on_duck.monthly.table)
    finally:
        rt.close()
        pg.close()
