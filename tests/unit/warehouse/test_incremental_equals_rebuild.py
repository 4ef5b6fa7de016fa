"""Incremental merges (touched persons only) leave the same person table as a full rebuild.

A property test: any sequence of merges (new people, returning people, re-sent periods that
supersede earlier events, an opt-out in between) must leave shared.person exactly as recomputing
every person from scratch would. Derived tables (households, pathways) are rebuilt whole by the
derive stage, so after `rebuild` they equal a rebuild on a fresh copy of the same events.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from helpers import assert_conserved, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptp_pipeline import pipeline
from ptp_pipeline.pathways import rebuild
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.warehouse.merge import relink

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "home_address", "uprn", "sex", "nhs_number",
          "occurred_on", "incident_type", "estimated_cost"]
PEOPLE = [("Kelly", "Roger", "35233", "LS24 5QW"), ("Okafor", "Ngozi", "30111", "LS7 2GN"),
          ("Lindqvist", "Sven", "28001", "LS9 8BB"), ("Marsh", "Tilly", "33000", "LS6 2AB"),
          ("Ashdown", "Petra", "31000", "LS2 7AA"), ("Pemberton", "Aurelia", "29500", "LS1 1AA"),
          ("Quayle", "Bertram", "27000", "LS8 3AB"), ("Rahman", "Sadia", "34000", "LS11 5QQ")]

extract = st.tuples(st.lists(st.integers(0, len(PEOPLE) - 1), min_size=1, max_size=6),
                    st.integers(1, 4))  # people in the file, month of its events


def person_table(rt: Runtime) -> pd.DataFrame:
    return rt.warehouse.query("SELECT * FROM shared.person ORDER BY person_id").reset_index(drop=True)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(extract, min_size=2, max_size=4))
def test_persons_after_any_merges_equal_a_full_rebuild(env: dict[str, str], tmp_path: Path,
                                                      sequence: list[tuple[list[int], int]]) -> None:
    home = tmp_path / f"run{abs(hash(str(sequence))) % 10**8}"
    rt = Runtime(load_settings({**env, "PTP_HOME": str(home)}))
    try:
        for n, (who, month) in enumerate(sequence):
            rows = [[s.upper() if n % 2 else s, f, dob, pc, "", "", "M", "", f"10/{month:02d}/2024",
                     "incident", str(100 + 10 * n + i)] for i, (s, f, dob, pc) in enumerate(PEOPLE[k] for k in who)]
            out = pipeline.ingest(rt, write_csv(home / f"p{n}.csv", POLICE, rows), "police", "incidents")
            assert out.status == "merged"
        assert_conserved(rt)
        incremental = person_table(rt)
        with rt.warehouse.transaction():
            relink(rt.warehouse, rt.project)  # every person recomputed from what is stored
        pd.testing.assert_frame_equal(incremental, person_table(rt), check_dtype=False)
        rebuild(rt)
        first = rt.warehouse.query("SELECT * FROM shared.cost_concentration ORDER BY top_percent")
        rebuild(rt)
        pd.testing.assert_frame_equal(first, rt.warehouse.query(
            "SELECT * FROM shared.cost_concentration ORDER BY top_percent"))
    finally:
        rt.close()
