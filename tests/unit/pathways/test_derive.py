"""Derived pathway tables against direct pandas computations, and against the synthetic ground truth.

The warehouse tables are built in SQL; here each one is recomputed independently in pandas from
shared.pathway_event (what the SQL should do) and from the generator's truth files (what linkage
should recover).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from ptp_pipeline.outputs import Outputs
from ptp_pipeline.pathways import concentration_curve, gini, rebuild
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult


@pytest.fixture
def out(pathways_env: dict[str, str]) -> Iterator[Outputs]:
    rt = Runtime(load_settings(pathways_env))
    yield Outputs(rt.warehouse, "shared")
    rt.close()


@pytest.fixture
def events(out: Outputs) -> pd.DataFrame:
    frame = out.pathway_event()
    frame["cost"] = frame["cost"].astype(float)
    frame["event_date"] = pd.to_datetime(frame["event_date"])
    return frame


def expected_pathway(events: pd.DataFrame) -> pd.DataFrame:
    ordered = events.sort_values(["person_id", "event_date", "agency", "event_type", "event_id"]).copy()
    ordered["seq"] = ordered.groupby("person_id").cumcount() + 1
    ordered["days_since_previous"] = ordered.groupby("person_id")["event_date"].diff().dt.days
    return ordered


def test_person_pathway_orders_each_persons_events(out: Outputs, events: pd.DataFrame) -> None:
    got = out.person_pathway()
    want = expected_pathway(events)
    assert len(got) == len(events) > 3000
    pd.testing.assert_series_equal(got["event_id"], want["event_id"].reset_index(drop=True), check_names=False)
    assert got["seq"].tolist() == want["seq"].tolist()
    assert got["days_since_previous"].astype("Float64").tolist() == want["days_since_previous"].astype(
        "Float64").tolist()
    assert (got.loc[got["seq"] == 1, "days_since_previous"].isna()).all()


def test_transitions_match_pandas(out: Outputs, events: pd.DataFrame) -> None:
    p = expected_pathway(events)
    nxt = p.groupby("person_id")[["agency", "event_type", "days_since_previous"]].shift(-1)
    pairs = pd.DataFrame({"from_agency": p["agency"], "from_event_type": p["event_type"],
                          "to_agency": nxt["agency"], "to_event_type": nxt["event_type"],
                          "days": nxt["days_since_previous"], "person_id": p["person_id"]}).dropna(subset=["to_agency"])
    keys = ["from_agency", "from_event_type", "to_agency", "to_event_type"]
    want = pairs.groupby(keys).agg(transitions=("days", "size"), persons=("person_id", "nunique"),
                                   median_days=("days", "median")).reset_index()
    got = out.transitions()
    merged = want.merge(got, on=keys, how="outer", suffixes=("_want", "_got"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert (merged["transitions_want"] == merged["transitions_got"]).all()
    assert (merged["persons_want"] == merged["persons_got"]).all()
    assert np.allclose(merged["median_days_want"], merged["median_days_got"])
    assert got["transitions"].sum() == len(events) - events["person_id"].nunique()


def test_cost_concentration_matches_numpy_and_gini(out: Outputs) -> None:
    costs = out.person()["total_cost"].astype(float).to_numpy()
    got = out.cost_concentration()
    assert got["top_percent"].tolist() == list(range(1, 101))
    ordered = np.sort(costs)[::-1]
    for p in (1, 5, 20, 50, 100):
        k = math.ceil(p * len(costs) / 100)
        row = got[got["top_percent"] == p].iloc[0]
        assert row["persons"] == k
        assert row["cost_share"] == pytest.approx(ordered[:k].sum() / ordered.sum())
    # Gini by its definition (mean absolute difference over twice the mean), independent of the sort formula.
    mad = np.abs(costs[:, None] - costs[None, :]).mean()
    assert got["gini"].iloc[0] == pytest.approx(mad / (2 * costs.mean()))
    assert got["cost_share"].is_monotonic_increasing and got["cost_share"].iloc[-1] == pytest.approx(1.0)


def test_cohort_priority_is_the_top_20_percent_by_cost(out: Outputs, events: pd.DataFrame) -> None:
    persons = out.person().assign(total_cost=lambda f: f["total_cost"].astype(float))
    n_top = math.ceil(0.2 * len(persons))
    want = persons.sort_values(["total_cost", "person_id"], ascending=[False, True]).head(n_top)
    got = out.cohort_priority()
    assert got["person_id"].tolist() == want["person_id"].tolist()
    assert got["cost_rank"].tolist() == list(range(1, n_top + 1))
    counts = events.groupby(["person_id", "agency"]).size()
    for row in got.head(10).itertuples():
        assert row.events_by_agency == ",".join(f"{a}:{n}" for a, n in counts[row.person_id].items())
        assert row.n_events == counts[row.person_id].sum()


def test_agency_overlap_and_monthly_activity_match_pandas(out: Outputs, events: pd.DataFrame) -> None:
    combos = events.groupby("person_id")["agency"].agg(lambda a: ",".join(sorted(set(a))))
    want = combos.value_counts().sort_index()
    got = out.agency_overlap().set_index("agencies")["persons"].sort_index()
    assert got.to_dict() == want.to_dict()
    monthly = events.assign(month=events["event_date"].dt.to_period("M").dt.to_timestamp())
    want_m = monthly.groupby(["month", "agency", "event_type"]).agg(
        events=("event_id", "size"), persons=("person_id", "nunique"), cost=("cost", "sum")).reset_index()
    got_m = out.monthly_activity()
    assert len(got_m) == len(want_m)
    assert got_m["events"].tolist() == want_m["events"].tolist()
    assert got_m["persons"].tolist() == want_m["persons"].tolist()
    assert np.allclose(got_m["cost"].astype(float), want_m["cost"])


def true_person_costs(events: pd.DataFrame, synthetic: SyntheticResult, rows: pd.DataFrame) -> pd.DataFrame:
    """Each merged event's true person, from the generator's truth files (event ids are opaque: the row
    comes from restricted.link_record)."""
    frame = events.merge(rows, on="event_id", how="left", validate="one_to_one")
    truth = []
    for extract in synthetic.extracts:
        t = pd.read_csv(synthetic.truth_dir / f"{extract.partner}_{extract.dataset}.csv")
        truth.append(t.assign(agency=extract.partner))
    joined = frame.merge(pd.concat(truth), on=["agency", "source_row"], how="left", suffixes=("", "_true"),
                         validate="one_to_one")
    assert joined["person_id_true"].notna().all()
    assert not (joined["is_duplicate"] | joined["is_invalid"]).any(), "only valid, distinct rows are merged"
    return joined


def test_linkage_based_figures_are_close_to_the_truth(out: Outputs, events: pd.DataFrame,
                                                      synthetic: SyntheticResult, pathways_env: dict[str, str]) -> None:
    summary = json.loads((synthetic.truth_dir / "summary.json").read_text())
    rt = Runtime(load_settings(pathways_env))
    rows = rt.warehouse.query("SELECT record_id AS event_id, source_row FROM restricted.link_record")
    rt.close()
    joined = true_person_costs(events, synthetic, rows)
    true_costs = joined.groupby("person_id_true")["cost"].sum()
    assert true_costs.sum() == pytest.approx(summary["total_cost"])
    true_share = concentration_curve(true_costs.to_numpy()).set_index("top_percent").loc[20, "cost_share"]
    assert true_share == pytest.approx(summary["top20_cost_share"], abs=1e-6)
    linked = out.cost_concentration().set_index("top_percent")
    linked_share = float(linked.loc[20, "cost_share"])
    # Splits (one person seen as two) spread cost over more "persons": the share moves a little.
    assert abs(linked_share - true_share) < 0.02, (linked_share, true_share)
    assert float(linked["gini"].iloc[0]) == pytest.approx(gini(true_costs.to_numpy()), abs=0.02)
    overlap = out.agency_overlap()
    multi = overlap.loc[overlap["n_agencies"] >= 2, "persons"].sum() / overlap["persons"].sum()
    all3 = overlap.loc[overlap["n_agencies"] == 3, "persons"].sum() / overlap["persons"].sum()
    # Hard Edges shape (38% known to 2+, 10% to all three) shows back through linkage.
    assert multi == pytest.approx(summary["share_known_to_2_plus"], abs=0.05)
    assert all3 == pytest.approx(summary["share_known_to_all_3"], abs=0.03)


def test_rebuild_twice_gives_the_same_tables(pathways_env: dict[str, str]) -> None:
    rt = Runtime(load_settings(pathways_env))
    try:
        out = Outputs(rt.warehouse, "shared")
        before = {t: out.table(t) for t in ("person_pathway", "transitions", "cohort_priority", "monthly_activity")}
        result = rebuild(rt)
        assert result.rows["shared.person_pathway"] == len(before["person_pathway"])
        for name, frame in before.items():
            pd.testing.assert_frame_equal(frame, out.table(name), obj=name)
    finally:
        rt.close()


def test_rebuild_on_an_empty_warehouse_gives_empty_tables(rt: Runtime) -> None:
    result = rebuild(rt)
    assert set(result.rows.values()) == {0}


def test_outputs_refuse_tables_outside_shared(out: Outputs) -> None:
    from ptp_pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="'person_key' is not a shared table"):
        out.table("person_key")
