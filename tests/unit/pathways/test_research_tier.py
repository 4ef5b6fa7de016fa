"""The research tier: generalised as project.yaml says, consistent with the exact tables it is made from,
and k-anonymous on the quasi-identifiers with k >= min_k (measured the way `ptp privacy risk` measures)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.pathways.research import suppress_rare
from ptp_pipeline.privacy.disclosure_risk import QUASI_IDENTIFIERS, measure
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings


def test_research_tables_are_generalised_and_consistent(pathways_env: dict[str, str]) -> None:
    rt = Runtime(load_settings(pathways_env))
    try:
        wh, tier = rt.warehouse, rt.project.research
        joined = wh.query(
            "SELECT r.event_period, r.cost_band, r.event_type, p.event_date, p.cost "
            "FROM research.event r JOIN shared.person_pathway p "
            "ON p.person_id = r.person_id AND p.seq = r.seq"
        )
        persons = wh.query(
            "SELECT r.birth_year AS band, r.area, s.birth_year, s.area AS district "
            "FROM research.person r JOIN shared.person s USING (person_id)"
        )
        exact, research = measure(wh, "exact"), measure(wh, "research")
        n_research = int(wh.scalar("SELECT count(*) FROM research.event"))
        orphans = int(
            wh.scalar(
                "SELECT count(*) FROM research.event WHERE person_id NOT IN (SELECT person_id FROM research.person)"
            )
        )
    finally:
        rt.close()
    assert len(joined) == n_research > 0 and orphans == 0
    periods = pd.to_datetime(joined["event_period"])
    assert tier.event_date == "month" and (periods.dt.day == 1).all()
    assert (periods == pd.to_datetime(joined["event_date"]).dt.to_period("M").dt.start_time).all()
    for band, cost in zip(joined["cost_band"], joined["cost"], strict=True):
        if pd.isna(cost):
            assert pd.isna(band)
            continue
        low, _, high = str(band).rstrip("+").partition("-")
        assert float(low) <= float(cost) and (not high or float(cost) < float(high)), (band, cost)
    banded = persons.dropna(subset=["band", "birth_year"])
    assert len(banded) > 0
    for band, year in zip(banded["band"], banded["birth_year"], strict=True):
        low, high = map(int, str(band).split("-"))
        assert high - low + 1 == tier.birth_year_band and low <= year <= high
    assert tier.area == "area" and set(persons["area"].dropna()) <= {"LS"}
    assert exact.share_unique > 0.5, "the exact values single out most persons: the tier must change that"
    assert research.k >= tier.min_k and research.unique_persons == 0


rows = st.lists(
    st.tuples(
        st.sampled_from(["1980-1984", "1985-1989", None]),
        st.sampled_from(["F", "M"]),
        st.sampled_from(["LS", "BD", None]),
        st.sampled_from(["police", "health,police"]),
        st.sampled_from(["2024-04-01", "2024-05-01"]),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows, st.integers(min_value=2, max_value=6))
def test_local_suppression_leaves_no_group_smaller_than_k(data: list[tuple[object, ...]], min_k: int) -> None:
    frame = pd.DataFrame(data, columns=list(QUASI_IDENTIFIERS), dtype=object)
    frame.insert(0, "person_id", range(len(frame)))
    kept = suppress_rare(frame, min_k)
    sizes = kept.groupby(list(QUASI_IDENTIFIERS), dropna=False).size()
    assert (sizes >= min_k).all()
    # Only whole persons are withheld, and the agencies and first-seen period are never altered.
    original = frame.set_index("person_id").loc[kept["person_id"]]
    assert (original["agencies"].to_numpy() == kept["agencies"].to_numpy()).all()
    assert (original["first_seen"].to_numpy() == kept["first_seen"].to_numpy()).all()
