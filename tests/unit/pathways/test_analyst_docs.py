"""The SQL examples in docs/analysts.md give the right answers, worked by hand on a five-person world.

The events go straight into `shared.person` and `shared.pathway_event` (what linkage would leave), the
derived tables are rebuilt, and each example's rows are compared with the answer worked out below.
On both backends: the guide says every example runs on DuckDB and PostgreSQL.

    person  events (agency event_type date cost)                                     total
    1       police custody 04-03 100; health ae 04-05 200; council contact 05-10 50   350
    2       police custody 04-10 100; health ae 04-30 200                              300
    3       police arrest 05-01 40; health ae 05-02 150                                190
    4       council contact 06-01 10                                                    10
    5       health ae 03-15 1000; health ae 04-15 1000                                 2000   (all 2024)
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ptp_pipeline.pathways.derive import rebuild_tables
from ptp_pipeline.runtime import Runtime

DOC = Path(__file__).resolve().parents[3] / "docs" / "analysts.md"
QUERIES = [q.strip().rstrip(";") for q in re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
           if q.lstrip().upper().startswith("SELECT")]

EVENTS = [  # person, agency, event type, date, cost
    (1, "police", "custody", "2024-04-03", 100), (1, "health", "ae_attendance", "2024-04-05", 200),
    (1, "council", "contact", "2024-05-10", 50),
    (2, "police", "custody", "2024-04-10", 100), (2, "health", "ae_attendance", "2024-04-30", 200),
    (3, "police", "arrest", "2024-05-01", 40), (3, "health", "ae_attendance", "2024-05-02", 150),
    (4, "council", "contact", "2024-06-01", 10),
    (5, "health", "ae_attendance", "2024-03-15", 1000), (5, "health", "ae_attendance", "2024-04-15", 1000),
]
COSTS = np.array([350, 300, 190, 10, 2000], dtype=float)
TOTAL = COSTS.sum()  # 2850
# Gini as the mean absolute difference over twice the mean (not the rank formula the code uses)
GINI = np.abs(COSTS[:, None] - COSTS[None, :]).sum() / (2 * len(COSTS) ** 2 * COSTS.mean())

EXPECTED: dict[str, list[tuple[object, ...]]] = {
    # top 20% of 5 persons is 1 person: person 5, 2000 of 2850
    "cost_concentration": [(2000 / TOTAL, GINI)],
    # custody -> A&E: person 1 after 2 days, person 2 after 20; median 11
    "transitions": [("health", "ae_attendance", 2, 2, 11.0)],
    # police then A&E within 7 days: person 1 (2 days), person 3 (1 day); person 2 waited 20
    "person_pathway a": [(2,)],
    "agency_overlap": [(1, 2, 2010.0, 2010 / TOTAL), (2, 2, 490.0, 490 / TOTAL), (3, 1, 350.0, 350 / TOTAL)],
    # April to June only (person 5's March attendance is outside)
    "monthly_activity": [(date(2024, 4, 1), "health", 3, 1400.0), (date(2024, 4, 1), "police", 2, 200.0),
                         (date(2024, 5, 1), "council", 1, 50.0), (date(2024, 5, 1), "health", 1, 150.0),
                         (date(2024, 5, 1), "police", 1, 40.0), (date(2024, 6, 1), "council", 1, 10.0)],
    # days since the previous event, by the later event's agency: health 2, 20, 1, 31; council 35
    "percentile_cont": [("council", 35.0), ("health", 11.0)],
    "cohort_priority": [("health", 1, 2000.0)],
}


def which(sql: str) -> str:
    return next(k for k in EXPECTED if k in sql)


def load_world(rt: Runtime) -> None:
    wh = rt.warehouse
    events = pd.DataFrame(EVENTS, columns=["person_id", "agency", "event_type", "event_date", "cost"])
    events["event_date"] = pd.to_datetime(events["event_date"]).dt.date
    events["event_id"] = [f"e{i:02d}" for i in range(len(events))]
    events["dataset"] = events["agency"].map({"police": "incidents", "health": "attendances", "council": "contacts"})
    events["extract_id"] = events["agency"] + ".hand"
    wh.insert_frame("shared.pathway_event", events)
    persons = events.groupby("person_id").agg(first_seen=("event_date", "min"), last_seen=("event_date", "max"),
                                              n_events=("event_id", "size"), total_cost=("cost", "sum"),
                                              agencies=("agency", lambda a: ",".join(sorted(set(a)))),
                                              n_agencies=("agency", "nunique")).reset_index()
    wh.insert_frame("shared.person", persons)
    rebuild_tables(wh, top_share=0.2)


def test_every_example_has_a_worked_answer() -> None:
    assert len(QUERIES) >= 7
    assert sorted(which(q) for q in QUERIES) == sorted(EXPECTED)


@pytest.mark.parametrize("sql", QUERIES, ids=[f"query{i + 1}" for i in range(len(QUERIES))])
def test_sql_example_gives_the_worked_answer(wh_rt: Runtime, sql: str) -> None:
    load_world(wh_rt)
    frame = wh_rt.warehouse.query(sql)
    got = [tuple(_plain(v) for v in row) for row in frame.itertuples(index=False)]
    expected = EXPECTED[which(sql)]
    if "ORDER BY" not in sql:
        got, expected = sorted(got, key=str), sorted(expected, key=str)
    assert len(got) == len(expected), got
    for row, want in zip(got, expected, strict=True):
        assert len(row) == len(want) and all(
            a == pytest.approx(b) if isinstance(b, int | float) else a == b for a, b in zip(row, want, strict=True)
        ), (row, want)


def _plain(value: object) -> object:
    """Backends return Decimal, numpy and Timestamp types: compare as Python numbers, strings and dates."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if hasattr(value, "item"):
        value = value.item()  # type: ignore[union-attr]
    if type(value).__name__ == "Decimal":
        return float(value)  # type: ignore[arg-type]
    return value
