"""PostgreSQL bulk loads: a merge large beside a table drops its secondary indexes and rebuilds exactly them before
commit; a failed merge leaves them as they were; a small merge into a big table keeps them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from helpers import write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.warehouse import merge as merge_module
from ptp_pipeline.warehouse import open_warehouse, postgres_backend
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.postgres_backend import PostgresWarehouse, takes_bulk_path

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]
ROWS = [["Smith", "John", "32874", "LS6 2AB", "M", "", "01/05/2024", "arrest", "500.00"],
        ["Jones", "Mary", "31000", "LS1 1AA", "F", "943 476 5919", "03/07/2024", "incident", "100"]]
INDEXES = ("SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes "
           "WHERE schemaname IN ('shared', 'restricted', 'ops') ORDER BY indexname")


def index_set(wh: Warehouse) -> pd.DataFrame:
    return wh.query(INDEXES)


@pytest.fixture
def pg_rt(env: dict[str, str], pg_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("PTP_WAREHOUSE", pg_database)
    runtime = Runtime(load_settings({**env, "PTP_WAREHOUSE": pg_database}))
    yield runtime
    runtime.close()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], pd.DataFrame]]:
    """Every bulk load's tables and the index set seen inside it; test extracts count as large."""
    monkeypatch.setattr(postgres_backend, "BULK_MIN_ROWS", 1)
    seen: list[tuple[list[str], pd.DataFrame]] = []
    real = PostgresWarehouse.bulk_load

    @contextmanager
    def watched(self: PostgresWarehouse, rows: dict[str, int]) -> Iterator[list[str]]:
        with real(self, rows) as taken:
            seen.append((list(taken), index_set(self)))
            yield taken

    monkeypatch.setattr(PostgresWarehouse, "bulk_load", watched)
    return seen


def test_a_bulk_merge_into_an_empty_warehouse_ends_with_the_same_indexes(
        pg_rt: Runtime, spy: list[tuple[list[str], pd.DataFrame]], tmp_path: Path) -> None:
    before = index_set(pg_rt.warehouse)
    assert {"link_identity_nhs", "link_record_ident", "pathway_event_id"} <= set(before.indexname)
    result = pipeline.ingest(pg_rt, write_csv(tmp_path / "p.csv", POLICE, ROWS), "police", "incidents")
    assert result.status == "merged"
    (taken, during), = spy
    assert {"restricted.link_identity", "restricted.link_record", "shared.pathway_event"} <= set(taken)
    assert not set(during.indexname) & {"link_identity_nhs", "link_record_ident", "pathway_event_id"}
    assert set(during.indexname) >= {"link_identity_pkey"}  # primary keys stay
    pd.testing.assert_frame_equal(index_set(pg_rt.warehouse), before)
    assert pg_rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 2
    # Statistics for the next merge's candidate search: the rebuilt tables were analysed.
    assert pg_rt.warehouse.scalar("SELECT reltuples FROM pg_class WHERE oid = 'shared.pathway_event'::regclass") == 2


def test_a_merge_failing_after_the_drop_leaves_indexes_and_rows_as_they_were(
        pg_rt: Runtime, spy: list[tuple[list[str], pd.DataFrame]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = index_set(pg_rt.warehouse)

    def broken(*args: object, **kwargs: object) -> pd.DataFrame:
        raise RuntimeError("location columns unreadable")

    monkeypatch.setattr(merge_module, "location_records", broken)
    with pytest.raises(RuntimeError, match="location columns"):
        pipeline.ingest(pg_rt, write_csv(tmp_path / "p.csv", POLICE, ROWS), "police", "incidents")
    (taken, during), = spy
    assert "shared.pathway_event" in taken and "pathway_event_id" not in set(during.indexname)
    pd.testing.assert_frame_equal(index_set(pg_rt.warehouse), before)
    for table in ("shared.pathway_event", "restricted.link_record", "restricted.link_identity", "ops.bulk_index"):
        assert pg_rt.warehouse.scalar(f"SELECT count(*) FROM {table}") == 0, table
    assert pg_rt.warehouse.scalar("SELECT count(*) FROM ops.extract_ledger WHERE status = 'merged'") == 0


def test_a_transaction_that_dropped_an_index_cannot_commit_without_it(pg_database: str) -> None:
    wh = open_warehouse(pg_database)
    try:
        before = index_set(wh)
        with pytest.raises(Exception, match="dropped for a bulk load and not rebuilt"), wh.transaction():
            wh.execute("SELECT ops.bulk_drop_indexes('shared.pathway_event')")
        pd.testing.assert_frame_equal(index_set(wh), before)
        with pytest.raises(Exception, match="not a table merges bulk-load"), wh.transaction():
            wh.execute("SELECT ops.bulk_drop_indexes('ops.audit_log')")
    finally:
        wh.close()


def test_a_small_load_into_a_big_table_keeps_its_indexes(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_backend, "BULK_MIN_ROWS", 100)
    wh = open_warehouse(pg_database)
    assert isinstance(wh, PostgresWarehouse)
    try:
        wh.execute("INSERT INTO shared.pathway_event (event_id, agency, dataset, event_type, event_date, extract_id) "
                   "SELECT 'e' || i, 'health', 'a', 'visit', DATE '2024-01-01', 'x' FROM generate_series(1, 4000) i")
        assert wh.stored_rows("shared.pathway_event") == 4000  # never analysed: counted
        before = index_set(wh)
        with wh.transaction():
            with wh.bulk_load({"shared.pathway_event": 200}) as taken:  # 5% of the table
                assert taken == []
                pd.testing.assert_frame_equal(index_set(wh), before)
            with wh.bulk_load({"shared.pathway_event": 4000}) as taken:  # doubles it
                assert taken == ["shared.pathway_event"]
                assert "pathway_event_id" not in set(index_set(wh).indexname)
        pd.testing.assert_frame_equal(index_set(wh), before)
    finally:
        wh.close()
    assert not takes_bulk_path(10_000, 1_000_000)  # a nightly increment
    assert takes_bulk_path(1_000_000, 0)  # an initial load
    assert not takes_bulk_path(10, 0)  # a handful of rows: not worth a dozen index builds


def test_bulk_load_needs_a_transaction(pg_database: str) -> None:
    wh = open_warehouse(pg_database)
    try:
        with pytest.raises(RuntimeError, match="inside transaction"), wh.bulk_load({"shared.pathway_event": 1}):
            pass
    finally:
        wh.close()



def test_a_table_locked_by_another_session_keeps_its_indexes(pg_database: str, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A merge waiting on the merge lock holds a lock on these tables: waiting for it would deadlock."""
    import psycopg

    monkeypatch.setattr(postgres_backend, "BULK_MIN_ROWS", 1)
    caplog.set_level("INFO", logger=postgres_backend.__name__)
    wh = open_warehouse(pg_database)
    try:
        before = index_set(wh)
        with psycopg.connect(pg_database) as other:  # not autocommit: its lock lasts until it ends
            other.execute("DELETE FROM shared.pathway_event WHERE extract_id = 'x'")
            with wh.transaction():
                with wh.bulk_load({"shared.pathway_event": 10}) as taken:
                    assert taken == []
                    pd.testing.assert_frame_equal(index_set(wh), before)
                assert wh.scalar("SELECT current_setting('lock_timeout')") == "0"
            other.rollback()
        said = [r.getMessage() for r in caplog.records if "bulk load" in r.getMessage()]
        assert said and "shared.pathway_event" in said[-1] and "indexes are kept" in said[-1]
        pd.testing.assert_frame_equal(index_set(wh), before)
    finally:
        wh.close()
