"""A person's birth year, sex and area come from their records by rules that break ties the same way on both
backends and on every run: the most common value (a tie: the lowest), the district of the latest event that has
one (a tie: the highest record id). PostgreSQL took a missing district when the latest record had none."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from ptp_pipeline.warehouse import open_warehouse
from ptp_pipeline.warehouse.persons import refresh_persons, touch

D1, D2 = dt.date(2024, 5, 1), dt.date(2024, 6, 1)
# person 1: sexes F/M tied, birth years 1980/1979 tied, two districts on the latest date (record r4 wins: LS6)
# person 2: the latest event's record (r9, highest id on that date) has no district: r8's LS3
RECORDS = [
    (1, "r1", 1980, "M", "LS1", D1), (1, "r2", 1979, "F", "LS2", D1), (1, "r3", 1980, "F", "LS9", D2),
    (1, "r4", 1979, "M", "LS6", D2),
    (2, "r8", 1990, "F", "LS3", D2), (2, "r9", 1990, "F", None, D2), (2, "r7", 1990, "F", "LS4", D1),
    (2, "r99", 1990, "F", "LS7", None),  # no date: never the latest (DuckDB ranks a NULL in a struct highest)
]


def _persons(url: str) -> pd.DataFrame:
    wh = open_warehouse(url, migrate=url.startswith("duckdb"))
    try:
        frame = pd.DataFrame(RECORDS, columns=["person_id", "record_id", "birth_year", "sex", "district", "event_date"])
        with wh.transaction():
            wh.insert_frame("restricted.link_record", frame.assign(extract_id="x1", source_row=range(len(frame)),
                                                                    partner="police"))
            wh.insert_frame("shared.pathway_event", pd.DataFrame({
                "event_id": frame.record_id, "person_id": frame.person_id, "agency": "police", "dataset": "incidents",
                "event_type": "arrest", "event_date": frame.event_date.fillna(D1), "cost": 10.0, "extract_id": "x1"}))
            touch(wh, frame=frame[["person_id"]].drop_duplicates())
            refresh_persons(wh)
        return wh.query("SELECT person_id, birth_year, sex, area FROM shared.person ORDER BY person_id")
    finally:
        wh.close()


def test_ties_are_broken_alike_on_both_backends(tmp_path: Path, pg_database: str) -> None:
    expected = [(1, 1979, "F", "LS6"), (2, 1990, "F", "LS3")]
    duck = _persons(f"duckdb:///{tmp_path / 'a.duckdb'}")
    pg = _persons(pg_database)
    for got in (duck, pg):
        rows = [(int(p), int(b), s, None if pd.isna(a) else a) for p, b, s, a in got.itertuples(index=False)]
        assert rows == expected


def test_persons_rebuilt_a_part_at_a_time_are_the_persons_rebuilt_at_once(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from ptp_pipeline.warehouse import persons

    at_once = _persons(f"duckdb:///{tmp_path / 'a.duckdb'}")
    monkeypatch.setattr(persons, "PERSONS_AT_ONCE", 1)  # each person its own part
    in_parts = _persons(f"duckdb:///{tmp_path / 'b.duckdb'}")
    assert len(in_parts) == 2
    pd.testing.assert_frame_equal(in_parts, at_once)
