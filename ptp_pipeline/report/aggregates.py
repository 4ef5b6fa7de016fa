"""The report's numbers: aggregates of the shared tables, each passed through disclosure control here.

Nothing person-level leaves this module: every count is suppressed/rounded by
`pathways.disclosure`, cost appears only as shares of groups that are themselves publishable,
and no person id, event id or extract file name is carried into the report.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ptp_pipeline.pathways.disclosure import ProtectedTable, protect_counts, protect_grouped, protect_table, round_count
from ptp_pipeline.protocol.model import ProjectConfig, Suppression
from ptp_pipeline.report.money import Money, event_type_costs, headline_money, overlap_amounts
from ptp_pipeline.warehouse.base import Warehouse

#: Transitions by event type shown in the report: the most common published ones.
TYPE_FLOWS_SHOWN = 15
#: Monthly activity becomes quarterly when more than this share of its cells would be withheld.
MAX_WITHHELD_SHARE = 0.25

AGENCY_FLOWS_SQL = """
SELECT a.agency AS from_agency, b.agency AS to_agency, count(*) AS transitions,
       count(DISTINCT a.person_id) AS persons,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY b.days_since_previous) AS median_days
FROM shared.person_pathway a
JOIN shared.person_pathway b ON b.person_id = a.person_id AND b.seq = a.seq + 1
GROUP BY a.agency, b.agency
ORDER BY a.agency, b.agency
"""

LEDGER_SQL = """
SELECT partner, dataset, CAST(received_at AS DATE) AS received_on, status,
       coalesce(rows_accepted, 0) AS accepted, coalesce(rows_quarantined, 0) AS quarantined
FROM ops.extract_ledger
ORDER BY received_at, extract_id
"""


@dataclass(frozen=True)
class Headline:
    persons: int | None  # rounded; None when suppressed
    multi_agency: int | None
    multi_agency_share: float | None
    top_share: float
    top_cost_share: float | None
    gini: float | None
    first_month: str | None
    last_month: str | None
    money: Money | None = None


@dataclass(frozen=True)
class ReportData:
    rule: Suppression
    headline: Headline
    pareto: pd.DataFrame  # top_percent, cost_share: only at steps of at least min_count persons
    flows: pd.DataFrame  # from_agency, to_agency, persons (Int64, NA suppressed), median_days
    overlap: pd.DataFrame  # protect_grouped rows (combinations, subtotals by n agencies, total) + cost_share, cost
    monthly: ProtectedTable  # month (or quarter) x agency: events
    quality: ProtectedTable  # extract x accepted/quarantined; row totals are rows received
    quality_labels: pd.DataFrame  # partner, dataset, received_on, status per quality row
    type_flows: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # from/to agency: type, persons
    type_costs: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # label, kind, events, cost (£)
    unit_costs: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # the unit costs applied
    period: str = "month"  # the monthly table's period: "month", or "quarter" when months are too small


def pareto_points(curve: pd.DataFrame, rule: Suppression) -> pd.DataFrame:
    """Curve points spaced so that each step adds at least `min_count` persons (no single person's cost shows)."""
    if curve.empty or int(curve["persons"].iloc[-1]) < rule.min_count:
        return pd.DataFrame({"top_percent": [], "cost_share": []})
    n = int(curve["persons"].iloc[-1])
    step = max(1, math.ceil(100 * rule.min_count / n))
    keep = curve[(curve["top_percent"] % step == 0) & (curve["persons"] >= rule.min_count)]
    keep = pd.concat([keep, curve.tail(1)]).drop_duplicates("top_percent")
    return pd.DataFrame({"top_percent": keep["top_percent"].astype(int).to_numpy(),
                         "cost_share": keep["cost_share"].astype(float).round(3).to_numpy()})


def _headline(curve: pd.DataFrame, overlap: pd.DataFrame, period: pd.DataFrame, project: ProjectConfig) -> Headline:
    """Headline figures taken from already-protected tables, so they add no new equations."""
    rule = project.suppression
    total = overlap.loc[overlap["kind"] == "total", "count"]
    persons = None if total.empty or pd.isna(total.iloc[0]) else int(total.iloc[0])
    single = overlap.loc[(overlap["kind"] == "subtotal") & (overlap["group"] == 1), "count"]
    multi_true = int(overlap.attrs.get("multi_true", 0))
    n_true = int(overlap.attrs.get("n_true", 0))
    multi_ok = persons is not None and (single.empty or not pd.isna(single.iloc[0]))
    n_top = math.ceil(project.top_share * n_true - 1e-9)
    top = math.ceil(project.top_share * 100 - 1e-9)
    share = curve.loc[curve["top_percent"] == top, "cost_share"]
    ok = n_true >= rule.min_count
    first, last = period["first_seen"].iloc[0], period["last_seen"].iloc[0]
    return Headline(
        persons=persons,
        multi_agency=round_count(multi_true, rule) if multi_ok else None,
        multi_agency_share=round(multi_true / n_true, 2) if multi_ok and n_true else None,
        top_share=project.top_share,
        top_cost_share=round(float(share.iloc[0]), 3) if n_top >= rule.min_count and len(share) else None,
        gini=round(float(curve["gini"].iloc[0]), 2) if ok and len(curve) else None,
        first_month=None if pd.isna(first) or not ok else pd.Timestamp(first).strftime("%B %Y"),
        last_month=None if pd.isna(last) or not ok else pd.Timestamp(last).strftime("%B %Y"),
    )


def _overlap(wh: Warehouse, rule: Suppression) -> pd.DataFrame:
    """Persons per combination of agencies, subtotalled by number of agencies, protected as one hierarchy.

    Cost share per row is shown only where the persons count is published (same pattern, so
    the cost of a withheld cell cannot be recovered from the others either).
    """
    frame = wh.query("SELECT agencies, n_agencies, persons, cost FROM shared.agency_overlap "
                     "ORDER BY n_agencies, agencies")
    labels = frame["agencies"].fillna("none").str.replace(",", " + ", regex=False)
    counts = pd.Series(frame["persons"].astype(np.int64).to_numpy(), index=labels)
    groups = pd.Series(frame["n_agencies"].fillna(0).astype(int).to_numpy())
    protected = protect_grouped(counts, groups, rule)
    subtotal = protected["kind"] == "subtotal"
    protected.loc[subtotal, "label"] = [f"any {g} agenc{'y' if g == 1 else 'ies'}"
                                        for g in protected.loc[subtotal, "group"]]
    cost = frame["cost"].astype(float).fillna(0).to_numpy()
    by_group = [cost[groups.to_numpy() == g].sum() for g in dict.fromkeys(groups.tolist())]
    all_cost = np.r_[cost, by_group, cost.sum()]
    share = all_cost / cost.sum() if cost.sum() > 0 else all_cost * 0
    protected["cost_share"] = pd.Series(np.round(share, 2)).mask(protected["suppressed"])
    protected.attrs["n_true"] = int(counts.sum())
    protected.attrs["multi_true"] = int(counts[(groups >= 2).to_numpy()].sum())
    return protected


def _monthly(wh: Warehouse, rule: Suppression) -> tuple[ProtectedTable, str]:
    """Events per month and agency; per quarter when too many months would be withheld (small data)."""
    frame = wh.query("SELECT month, agency, sum(events) AS events FROM shared.monthly_activity "
                     "GROUP BY month, agency ORDER BY month, agency")
    if frame.empty:
        return protect_table(pd.DataFrame({"events": []}, dtype=np.int64), rule), "month"
    months = pd.to_datetime(frame["month"])
    protected = _by_period(frame.assign(month=months.dt.strftime("%Y-%m")), rule)
    if protected.suppressed.iloc[:-1, :-1].to_numpy().mean() <= MAX_WITHHELD_SHARE:
        return protected, "month"
    quarters = months.dt.year.astype(str) + " Q" + months.dt.quarter.astype(str)
    return _by_period(frame.assign(month=quarters), rule), "quarter"


def _by_period(frame: pd.DataFrame, rule: Suppression) -> ProtectedTable:
    table = frame.pivot_table(index="month", columns="agency", values="events", aggfunc="sum").fillna(0)
    table = table.astype(np.int64)
    table.columns.name = None
    table.index.name = None
    return protect_table(table, rule)


TYPE_FLOWS_SQL = """
SELECT from_agency || ': ' || from_event_type AS from_step, to_agency || ': ' || to_event_type AS to_step,
       persons, median_days
FROM shared.transitions
ORDER BY persons DESC, from_agency, from_event_type, to_agency, to_event_type
"""


def _type_flows(wh: Warehouse, rule: Suppression) -> pd.DataFrame:
    """The most common moves from one event type to the next (persons protected; withheld ones left out)."""
    frame = wh.query(TYPE_FLOWS_SQL)
    persons = protect_counts(frame["persons"], rule)
    days = frame["median_days"].astype(float).round(0).astype("Int64").mask(persons.isna())
    out = pd.DataFrame({"from_step": frame["from_step"].str.replace("_", " "),
                        "to_step": frame["to_step"].str.replace("_", " "), "persons": persons, "median_days": days})
    return out[out["persons"].notna()].head(TYPE_FLOWS_SHOWN).reset_index(drop=True)


def _flows(wh: Warehouse, rule: Suppression) -> pd.DataFrame:
    frame = wh.query(AGENCY_FLOWS_SQL)
    persons = protect_counts(frame["persons"], rule)
    days = frame["median_days"].astype(float).round(0).astype("Int64").mask(persons.isna())
    return pd.DataFrame({"from_agency": frame["from_agency"], "to_agency": frame["to_agency"],
                         "persons": persons, "median_days": days})


def _quality(wh: Warehouse, rule: Suppression) -> tuple[ProtectedTable, pd.DataFrame]:
    frame = wh.query(LEDGER_SQL)
    counts = frame[["accepted", "quarantined"]].astype(np.int64)
    counts.index = [f"extract {i + 1}" for i in range(len(frame))]
    labels = frame[["partner", "dataset", "received_on", "status"]].astype(str)
    labels.index = counts.index
    return protect_table(counts, rule), labels


def report_data(wh: Warehouse, project: ProjectConfig) -> ReportData:
    """Every number the report shows, already protected."""
    rule = project.suppression
    curve = wh.query("SELECT top_percent, persons, cost_share, gini FROM shared.cost_concentration "
                     "ORDER BY top_percent")
    overlap = _overlap(wh, rule)
    period = wh.query("SELECT min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM shared.person")
    quality, labels = _quality(wh, rule)
    overlap["cost"] = overlap_amounts(wh, overlap, rule)
    headline = dataclasses.replace(_headline(curve, overlap, period, project),
                                   money=headline_money(wh, curve, rule, project.top_share))
    monthly, period_kind = _monthly(wh, rule)
    unit_costs = wh.query("SELECT agency, event_type, unit_cost, price_year, source, source_cost, source_year, "
                          "theme, version FROM shared.unit_cost ORDER BY agency, event_type")
    return ReportData(rule=rule, headline=headline, pareto=pareto_points(curve, rule), flows=_flows(wh, rule),
                      overlap=overlap, monthly=monthly, quality=quality, quality_labels=labels,
                      type_flows=_type_flows(wh, rule), type_costs=event_type_costs(wh, rule),
                      unit_costs=unit_costs, period=period_kind)
