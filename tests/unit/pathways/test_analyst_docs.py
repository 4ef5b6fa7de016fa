"""The SQL examples in docs/analysts.md run against a real warehouse and return rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "analysts.md"
QUERIES = [q.strip() for q in re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
           if q.lstrip().upper().startswith("SELECT")]


def test_the_guide_has_examples() -> None:
    assert len(QUERIES) >= 6


@pytest.mark.parametrize("sql", QUERIES, ids=[f"query{i + 1}" for i in range(len(QUERIES))])
def test_sql_example_runs_on_duckdb(pathways_env: dict[str, str], sql: str) -> None:
    rt = Runtime(load_settings(pathways_env))
    try:
        frame = rt.warehouse.query(sql.rstrip().rstrip(";"))
    finally:
        rt.close()
    assert len(frame) >= 1
