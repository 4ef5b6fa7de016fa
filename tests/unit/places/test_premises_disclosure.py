"""Disclosure control of premises figures (issue 20): small groups withheld, no withheld count recoverable
from a grouping's total, £ withheld where one premises dominates, rates only for enough premises, and no
premises named unless the project agreed it."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from ptp_pipeline.report.places import places_html, places_section
from ptp_pipeline.runtime import Runtime


def premises_tables(rt: Runtime, groups: dict[str, tuple[int, int]], dominant: str | None = None,
                    nearby: dict[str, float] | None = None) -> None:
    """Premises per licence type: (number of premises, exact events each), one person per event; `nearby`:
    distance-attributed (weighted) events per premises of a type."""
    rows, years, events = [], [], []
    pid = 0
    for kind, (n, each) in groups.items():
        for _ in range(n):
            pid += 1
            k = each * (20 if kind == dominant and not any(r["licence_type"] == kind for r in rows) else 1)
            rows.append({"premises_id": pid, "event_id": f"p{pid}", "licence_type": kind, "hours_band": "to 23:00",
                         "area": "LS1", "sector": "LS1 1", "status": "granted", "opened": date(2010, 1, 1),
                         "closed": None, "label": f"Premises {pid}"})
            years.append({"premises_id": pid, "year": 2024, "licence_type": kind, "hours_band": "to 23:00",
                          "area": "LS1", "exposure_years": 1.0, "events_exact": k, "events_sector": 0.0,
                          "events_distance": (nearby or {}).get(kind, 0.0),
                          "persons": k, "cost": 100.0 * k})
            events += [{"event_id": f"e{pid}.{j}", "premises_id": pid, "attribution": "exact", "weight": 1.0,
                        "agency": "police", "event_year": 2024, "person_id": pid * 1000 + j, "cost": 100.0}
                       for j in range(k)]
    wh = rt.warehouse
    wh.insert_frame("restricted.premises", pd.DataFrame(rows))
    wh.insert_frame("restricted.premises_year", pd.DataFrame(years))
    wh.insert_frame("restricted.premises_event", pd.DataFrame(events))


def by_label(rt: Runtime, grouping: str = "Licence type") -> pd.DataFrame:
    table = places_section(rt.warehouse, rt.project).table
    return table[table["grouping"] == grouping].set_index("label")


def test_a_small_group_is_withheld_and_cannot_be_recovered_from_the_total(rt: Runtime) -> None:
    premises_tables(rt, {"on": (20, 3), "off": (15, 2), "club": (3, 1)})
    t = by_label(rt)
    assert pd.isna(t.loc["club", "premises"]) and pd.isna(t.loc["club", "events"])
    # Secondary suppression: with the total published, a second cell is withheld too.
    assert t["events"].isna().sum() >= 2 or pd.isna(t.loc["All premises", "events"])
    assert t.loc["club", "rate"] is None or pd.isna(t.loc["club", "rate"])  # too few premises for a rate
    assert t.loc["on", "rate"] == pytest.approx(3.0)  # 20 premises, 60 events in one premises-year each
    assert (t["premises"].dropna() % 5 == 0).all() and (t["events"].dropna() % 5 == 0).all()


def test_cost_is_withheld_where_one_premises_carries_most_of_it(rt: Runtime) -> None:
    premises_tables(rt, {"on": (20, 2), "off": (20, 2)}, dominant="off")
    t = by_label(rt)
    assert pd.isna(t.loc["off", "harm_cost"]), "one off-licence carries 40 of the 78 events' cost"
    assert t.loc["on", "harm_cost"] == pytest.approx(4000.0)


def test_no_premises_is_named_unless_agreed(rt: Runtime) -> None:
    premises_tables(rt, {"on": (20, 10), "off": (20, 10)})
    section = places_section(rt.warehouse, rt.project)
    assert "Premises" not in set(section.table["grouping"])
    assert "Premises 1" not in places_html(section)
    assert "No single premises is named" in places_html(section)


def test_nothing_is_shown_without_a_register(rt: Runtime) -> None:
    assert places_html(places_section(rt.warehouse, rt.project)) == ""


def test_events_near_premises_count_in_rates_and_are_protected_on_their_own(rt: Runtime) -> None:
    """Distance-attributed events are a column of their own (withheld below the threshold, with secondary
    suppression), and rates count events at and near the premises (withheld with a withheld count, which
    the rate would otherwise give away)."""
    premises_tables(rt, {"on": (20, 3), "off": (15, 2), "club": (10, 1)}, nearby={"on": 1.0, "off": 0.2, "club": 1.5})
    t = by_label(rt)
    assert t.loc["on", "events_nearby"] == 20
    assert t.loc["on", "rate"] == pytest.approx(4.0)  # (60 at + 20 near) / 20 premises-years
    assert pd.isna(t.loc["off", "events_nearby"]), "3 events near off-licences: below the threshold"
    assert pd.isna(t.loc["club", "events_nearby"]), "the total would give the withheld cell away"
    assert pd.isna(t.loc["club", "rate"]) and pd.isna(t.loc["off", "rate"])
    assert "events near the premises (postcode centroid)" in places_html(places_section(rt.warehouse, rt.project))
