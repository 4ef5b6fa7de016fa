"""The pathways SQL gives the same derived tables on PostgreSQL as on DuckDB.

Runs on a fresh PostgreSQL database made for the test (the `pg_database` fixture fails, with how to
start the server, if PostgreSQL is not reachable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ptp_pipeline.outputs import SHARED_ORDER, Outputs
from ptp_pipeline.pathways import DERIVED_TABLES, apply_unit_costs, rebuild_tables
from ptp_pipeline.protocol.costs import load_costs
from ptp_pipeline.report import report_data
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.warehouse import open_warehouse


def comparable(column: pd.Series) -> pd.Series:
    """Numbers as floats, dates as ISO text, the rest as text: drivers differ in the Python types they return."""
    if column.name in ("event_date", "month", "first_seen", "last_seen"):
        return pd.to_datetime(column).dt.strftime("%Y-%m-%d")
    try:
        return pd.to_numeric(column).astype(float)
    except (TypeError, ValueError):
        return column.astype(str)


def test_derived_tables_and_report_are_the_same_on_postgres(pathways_env: dict[str, str], pg_database: str) -> None:
    pg = open_warehouse(pg_database, migrate=False)
    rt = Runtime(load_settings(pathways_env))
    try:
        for schema in ("shared", "ops", "restricted"):
            pg.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        pg.migrate()
        for table in ("shared.person", "shared.pathway_event", "ops.extract_ledger"):
            pg.insert_frame(table, rt.warehouse.query(f"SELECT * FROM {table}"))
        apply_unit_costs(pg, load_costs(rt.settings.protocols_dir))
        rebuild_tables(pg, rt.project.top_share)
        duck_out, pg_out = Outputs(rt.warehouse, "shared"), Outputs(pg, "shared")
        for name in (*DERIVED_TABLES, "event_cost", "person_cost", "unit_cost"):
            a, b = duck_out.table(name), pg_out.table(name)
            assert len(a) == len(b) > 0, name
            for col in a.columns:
                x, y = comparable(a[col]), comparable(b[col])
                if x.dtype.kind == "f":
                    assert np.allclose(x, y.astype(float), equal_nan=True), (name, col)
                else:
                    assert x.tolist() == y.tolist(), (name, col, SHARED_ORDER[name])
        on_pg, on_duck = report_data(pg, rt.project), report_data(rt.warehouse, rt.project)
        assert on_pg.headline == on_duck.headline
        pd.testing.assert_frame_equal(on_pg.overlap, on_duck.overlap)
        pd.testing.assert_frame_equal(on_pg.monthly.table, on_duck.monthly.table)
    finally:
        rt.close()
        pg.close()
