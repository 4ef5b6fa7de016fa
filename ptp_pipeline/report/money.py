"""The report's £ figures, each passed through disclosure control here: withheld with the counts they belong
to, withheld when one person dominates them (`disclosure.dominated`), secondary suppression against the
published totals, rounded to 3 significant figures. Costs are the costed events (partners' own costs,
else unit costs; `pathways.unit_costs`), so every figure is in one price year where unit costs apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ptp_pipeline.pathways.disclosure import (
    dominated,
    protect_amounts_grouped,
    protect_grouped,
    round_amount,
    round_count,
)
from ptp_pipeline.protocol.model import Suppression
from ptp_pipeline.warehouse.base import Warehouse

PERSON_COSTS_SQL = """
SELECT p.person_id, coalesce(p.agencies, 'none') AS agencies, coalesce(p.n_agencies, 0) AS n_agencies,
       coalesce(c.total_cost, 0) AS cost
FROM shared.person p LEFT JOIN shared.person_cost c ON c.person_id = p.person_id
"""

TYPE_COSTS_SQL = """
SELECT agency, event_type, person_id, count(*) AS events, coalesce(sum(cost), 0) AS cost
FROM shared.event_cost
GROUP BY agency, event_type, person_id
"""


@dataclass(frozen=True)
class Money:
    total: float | None  # all persons' cost, rounded; None when withheld
    top: float | None  # carried by the top share of persons
    price_year: int | None  # the unit costs' price year (None: no unit costs applied)
    unit_costed_events: int | None  # rounded count; None when withheld
    uncosted_events: int | None


def _flag(cells: pd.Series, keyed: pd.Series, default: bool = False) -> np.ndarray:
    return np.array([bool(keyed.get(k, default)) for k in cells], dtype=bool)


def overlap_amounts(wh: Warehouse, overlap: pd.DataFrame, rule: Suppression) -> pd.Series:
    """£ per combination of agencies, per number of agencies and in total, aligned to `overlap`'s rows."""
    persons = wh.query(PERSON_COSTS_SQL)
    frame = wh.query("SELECT agencies, n_agencies, cost FROM shared.agency_overlap ORDER BY n_agencies, agencies")
    if persons.empty or frame.empty:
        return pd.Series(np.nan, index=overlap.index)
    persons["cost"] = persons["cost"].astype(float)
    persons["all"] = 0
    by_combo = dominated(persons, ["agencies"], "cost", rule)
    by_group = dominated(persons, ["n_agencies"], "cost", rule)
    overall = bool(dominated(persons, ["all"], "cost", rule).iloc[0])
    groups = frame["n_agencies"].fillna(0).astype(int)
    primary = np.r_[
        _flag(frame["agencies"], by_combo), _flag(pd.Series(list(dict.fromkeys(groups))), by_group), overall
    ] | overlap["suppressed"].to_numpy(dtype=bool)
    amounts = pd.Series(frame["cost"].astype(float).fillna(0).to_numpy(), index=frame["agencies"])
    protected = protect_amounts_grouped(amounts, groups.reset_index(drop=True), primary, rule)
    return pd.Series(protected["amount"].to_numpy(), index=overlap.index)


def event_type_costs(wh: Warehouse, rule: Suppression) -> pd.DataFrame:
    """Events and £ per agency and event type, with agency subtotals and a total: label, kind, events, cost."""
    per_person = wh.query(TYPE_COSTS_SQL)
    if per_person.empty:
        return pd.DataFrame(columns=["label", "kind", "events", "cost"])
    per_person["cost"] = per_person["cost"].astype(float)
    per_person["all"] = 0
    cells = (
        per_person.groupby(["agency", "event_type"], sort=True)
        .agg(events=("events", "sum"), cost=("cost", "sum"))
        .reset_index()
    )
    labels = cells["agency"] + ": " + cells["event_type"].str.replace("_", " ")
    counts = protect_grouped(
        pd.Series(cells["events"].astype(np.int64).to_numpy(), index=labels), cells["agency"], rule
    )
    by_cell = dominated(per_person, ["agency", "event_type"], "cost", rule)
    by_agency = dominated(per_person, ["agency"], "cost", rule)
    overall = bool(dominated(per_person, ["all"], "cost", rule).iloc[0])
    cell_flags = np.array(
        [bool(by_cell.get((a, t), False)) for a, t in zip(cells["agency"], cells["event_type"], strict=True)]
    )
    agencies = pd.Series(list(dict.fromkeys(cells["agency"])))
    primary = np.r_[cell_flags, _flag(agencies, by_agency), overall] | counts["suppressed"].to_numpy(dtype=bool)
    amounts = protect_amounts_grouped(pd.Series(cells["cost"].to_numpy(), index=labels), cells["agency"], primary, rule)
    label = counts["label"].where(counts["kind"] != "subtotal", "all " + counts["label"].astype(str))
    return pd.DataFrame({"label": label, "kind": counts["kind"], "events": counts["count"], "cost": amounts["amount"]})


def headline_money(wh: Warehouse, curve: pd.DataFrame, rule: Suppression, top_share: float) -> Money:
    """Total £ and £ carried by the top share of persons: published only for groups of at least min_count
    persons that no one person dominates."""
    persons = wh.query(PERSON_COSTS_SQL)
    costs = np.sort(persons["cost"].astype(float).to_numpy())[::-1]
    n = len(costs)
    top_percent = int(np.ceil(top_share * 100 - 1e-9))
    n_top = int(np.ceil(top_share * n - 1e-9))

    def publish(values: np.ndarray) -> float | None:
        total = float(values.sum())
        if len(values) < rule.min_count or total <= 0:
            return None
        lead = float(values[: rule.dominance_top].sum())
        return None if lead > rule.dominance_share * total else round_amount(total)

    top_row = curve.loc[curve["top_percent"] == top_percent, "persons"]
    top = publish(costs[: int(top_row.iloc[0])]) if len(top_row) else publish(costs[:n_top])
    year = wh.scalar("SELECT max(price_year) FROM shared.unit_cost")
    sources = wh.query("SELECT cost_source, count(*) AS n FROM shared.event_cost GROUP BY cost_source")
    by = dict(zip(sources["cost_source"], sources["n"].astype(int), strict=True))

    def count(k: str) -> int | None:
        v = by.get(k, 0)
        return None if 1 <= v < rule.min_count else round_count(v, rule)

    return Money(
        total=publish(costs),
        top=top,
        price_year=None if year is None else int(year),
        unit_costed_events=count("unit cost"),
        uncosted_events=count("none"),
    )
