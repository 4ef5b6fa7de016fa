"""Issue 19.5: Parquet exports carry proper types on both backends (dates as dates, costs as floats), and the
read-only DuckDB snippet in docs/analysts.md works on a demo-style warehouse."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse.export import export

DOC = Path(__file__).resolve().parents[3] / "docs" / "analysts.md"


def test_parquet_export_types_dates_and_costs(wh_rt: Runtime, tmp_path: Path) -> None:
    wh = wh_rt.warehouse
    wh.insert_frame(
        "shared.pathway_event",
        pd.DataFrame(
            {
                "event_id": ["e1", "e2", "e3"],
                "person_id": [1, 1, None],
                "agency": "police",
                "dataset": "incidents",
                "event_type": "arrest",
                "event_date": [date(2024, 1, 1), date(2024, 2, 29), date(2024, 3, 3)],
                "cost": [12.5, None, 1000.25],
                "extract_id": "x",
            }
        ),
    )
    wh.insert_frame(
        "shared.person",
        pd.DataFrame(
            {
                "person_id": [1],
                "birth_year": [1980],
                "first_seen": [date(2024, 1, 1)],
                "last_seen": [date(2024, 2, 29)],
                "agencies": ["police"],
                "n_agencies": [1],
                "n_events": [2],
                "total_cost": [12.5],
            }
        ),
    )
    export(wh, tmp_path / "out")
    events = pq.read_table(tmp_path / "out" / "pathway_event.parquet")
    assert events.schema.field("event_date").type == pa.date32()
    assert events.schema.field("cost").type == pa.float64()
    assert events.schema.field("person_id").type == pa.int64()
    frame = pd.read_parquet(tmp_path / "out" / "pathway_event.parquet").sort_values("event_id")
    assert frame["cost"].dtype == "float64" and frame["cost"].isna().tolist() == [False, True, False]
    assert frame["cost"].dropna().tolist() == [12.5, 1000.25]
    typed = pd.read_parquet(tmp_path / "out" / "pathway_event.parquet", dtype_backend="pyarrow")
    assert str(typed["event_date"].dtype) == "date32[day][pyarrow]"
    assert sorted(typed["event_date"].astype(str)) == ["2024-01-01", "2024-02-29", "2024-03-03"]
    person = pq.read_table(tmp_path / "out" / "person.parquet").schema
    assert (person.field("first_seen").type, person.field("total_cost").type) == (pa.date32(), pa.float64())
    assert person.field("birth_year").type == pa.int32()
    household = pq.read_table(tmp_path / "out" / "household.parquet")  # empty, still typed
    assert household.num_rows == 0 and household.schema.field("last_seen").type == pa.date32()


def test_the_guides_read_only_duckdb_snippet_runs(
    pathways_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = next(
        block for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if "import duckdb" in block
    )
    assert "read_only=True" in snippet and '".ptp/ptp.duckdb"' in snippet
    (tmp_path / ".ptp").symlink_to(Path(pathways_env["PTP_HOME"]).resolve())  # as `make demo` leaves it
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, str(DOC), "exec"), {})  # the documented snippet itself
    printed = capsys.readouterr().out
    share = float(re.search(r"20\s+([0-9.]+)", printed).group(1))  # type: ignore[union-attr]
    assert 0.7 < share < 0.9
