"""The report's licensed-premises section (issue 20): alcohol-related harm by premises type, under disclosure control.

Every count passes `pathways.disclosure` (1-7 withheld, others rounded, with secondary suppression against
each grouping's total); a £ figure is withheld where its count is, where too few persons are involved, or
where one premises carries more than the dominance share of it; a rate is shown only for a group of at
least `min_count` premises whose events could be published. A single premises is never named unless
project.yaml says the partnership agreed it (`places.publish_premises`), and then only above the thresholds.
The same protected rows are the published table `published.premises_harm`.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ptp_pipeline.pathways.concentration import concentration_curve
from ptp_pipeline.pathways.disclosure import dominated, protect_counts, protect_grouped, round_amount, round_count
from ptp_pipeline.pathways.rates import RateRatio, dispersion, rate_interval, rate_ratio
from ptp_pipeline.protocol.model import Places, ProjectConfig, Suppression
from ptp_pipeline.warehouse.base import Warehouse

GROUPINGS = {"licence_type": "Licence type", "hours_band": "Permitted hours", "area": "Area"}
COLUMNS = ["grouping", "label", "premises", "events", "events_nearby", "events_by_postcode", "persons", "harm_cost",
           "rate", "rate_low", "rate_high"]
TOP_PREMISES_SHOWN = 10

PREMISES_SQL = """
SELECT p.premises_id, p.licence_type, p.hours_band, coalesce(p.area, 'unknown') AS area, p.label,
       coalesce(sum(y.exposure_years), 0) AS exposure, coalesce(sum(y.events_exact), 0) AS events,
       coalesce(sum(y.events_distance), 0) AS nearby, coalesce(sum(y.events_sector), 0) AS by_postcode,
       coalesce(sum(y.cost), 0) AS cost
FROM restricted.premises p LEFT JOIN restricted.premises_year y ON y.premises_id = p.premises_id
GROUP BY p.premises_id, p.licence_type, p.hours_band, p.area, p.label
"""

PERSONS_SQL = """
SELECT DISTINCT a.person_id, p.licence_type, p.hours_band, coalesce(p.area, 'unknown') AS area
FROM restricted.premises_event a JOIN restricted.premises p ON p.premises_id = a.premises_id
WHERE a.attribution = 'exact' AND a.person_id IS NOT NULL
"""


@dataclass(frozen=True)
class PlacesSection:
    """What the report shows about premises; `table` is protected (NA = withheld)."""

    n_premises: int  # true count: only to choose the wording when there is nothing to show (never shown)
    comparison: RateRatio  # on- vs off-licence rate of events at or near the premises per premises-year
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COLUMNS))
    top_share: float | None = None  # share of attributed harm carried by the top 20% of premises
    premises_named: bool = False  # the project agreed premises-level publication


def _empty() -> PlacesSection:
    return PlacesSection(0, RateRatio(None, None, None, "not enough data"))


def at_or_near(frame: pd.DataFrame) -> pd.Series:
    """Events the rates and the on/off comparison count: at the premises (exact) plus those shared among the
    premises of the nearest distance band of their postcode centroid (weights: each event counts once)."""
    return frame["events"] + frame["nearby"]


def _grouping(premises: pd.DataFrame, persons: pd.DataFrame, column: str, phi: float, rule: Suppression
              ) -> pd.DataFrame:
    g = premises.groupby(column, sort=True)
    frame = pd.DataFrame({"premises": g.size(), "exposure": g["exposure"].sum(), "events": g["events"].sum(),
                          "nearby": g["nearby"].sum(), "by_postcode": g["by_postcode"].sum(), "cost": g["cost"].sum()})
    frame["persons"] = persons.groupby(column)["person_id"].nunique().reindex(frame.index).fillna(0)
    total = pd.DataFrame({"premises": [len(premises)], "exposure": [premises["exposure"].sum()],
                          "events": [premises["events"].sum()], "nearby": [premises["nearby"].sum()],
                          "by_postcode": [premises["by_postcode"].sum()],
                          "cost": [premises["cost"].sum()], "persons": [persons["person_id"].nunique()]},
                         index=["All premises"])
    same = pd.Series([column] * len(frame))
    # Additive counts are protected with their total (secondary suppression); persons are not additive (one
    # person may be counted in two groups), so each is protected on its own.
    protected = {c: protect_grouped(frame[c].round().astype(np.int64), same, rule) for c in
                 ("premises", "events", "nearby", "by_postcode")}
    both = pd.concat([frame, total])
    rows = pd.DataFrame({"grouping": GROUPINGS[column], "label": [str(i) for i in both.index]})
    for c, p in protected.items():
        rows[c] = p[p["kind"] != "subtotal"]["count"].reset_index(drop=True).astype("Int64")
    rows["persons"] = protect_counts(both["persons"].reset_index(drop=True), rule)
    rows = rows.rename(columns={"by_postcode": "events_by_postcode", "nearby": "events_nearby"})
    lead = dominated(premises.assign(all=1), [column], "cost", rule).reindex(frame.index).fillna(False)
    lead_all = bool(dominated(premises.assign(all=1), ["all"], "cost", rule).any())
    withheld = np.r_[lead.to_numpy(dtype=bool), lead_all] | rows["events"].isna().to_numpy() \
        | (both["persons"].to_numpy() < rule.min_count) | (both["cost"].to_numpy() <= 0)
    rows["harm_cost"] = [None if w else round_amount(float(v)) for v, w in zip(both["cost"], withheld, strict=True)]
    shown = ((both["premises"].to_numpy() >= rule.min_count) & rows["events"].notna().to_numpy()
             & rows["events_nearby"].notna().to_numpy())
    ci = [rate_interval(float(e), float(x), phi) for e, x in zip(at_or_near(both), both["exposure"], strict=True)]
    for k, name in enumerate(("rate", "rate_low", "rate_high")):
        rows[name] = [float(f"{c[k]:.2g}") if s and not math.isnan(c[k]) else None for c, s in zip(ci, shown,
                                                                                                     strict=True)]
    return rows


def _top_premises(premises: pd.DataFrame, rule: Suppression) -> pd.DataFrame:
    """Single premises, named: only where the project agreed it, each above the thresholds."""
    named = premises[premises["label"].notna() & (premises["events"] >= rule.min_count)]
    named = named.sort_values(["events", "premises_id"], ascending=[False, True]).head(TOP_PREMISES_SHOWN)
    return pd.DataFrame({"grouping": "Premises", "label": named["label"].astype(str) + " (" +
                         named["licence_type"].astype(str) + ")",
                         "events": [round_count(int(v), rule) for v in named["events"]]}).reindex(columns=COLUMNS)


def places_section(wh: Warehouse, project: ProjectConfig) -> PlacesSection:
    """The protected figures of the section (empty when there is no licensing register, or the login may
    not read the restricted premises tables)."""
    if not wh.can_read("restricted.premises"):
        return _empty()
    premises = wh.query(PREMISES_SQL)
    if premises.empty:
        return _empty()
    rule = project.suppression
    measures = ["exposure", "events", "nearby", "by_postcode", "cost"]
    premises[measures] = premises[measures].astype(float)
    persons = wh.query(PERSONS_SQL)
    phi = dispersion(at_or_near(premises).to_numpy(), premises["exposure"].to_numpy(),
                     premises["licence_type"].to_numpy())
    on, off = (premises[premises["licence_type"] == t] for t in ("on", "off"))
    enough = min(len(on), len(off)) >= rule.min_count
    comparison = (rate_ratio(at_or_near(on).sum(), on["exposure"].sum(), at_or_near(off).sum(), off["exposure"].sum(),
                             phi) if enough else RateRatio(None, None, None, "not enough data"))
    table = pd.concat([_grouping(premises, persons, c, phi, rule) for c in GROUPINGS], ignore_index=True)
    if project.places.publish_premises:
        top = _top_premises(premises, rule)
        table = pd.concat([table, top.astype(table.dtypes.to_dict())], ignore_index=True) if len(top) else table
    harm = (premises["events"] + premises["nearby"] + premises["by_postcode"]).to_numpy()
    curve = concentration_curve(harm)
    top = math.ceil(project.top_share * 100 - 1e-9)
    n_top = math.ceil(project.top_share * len(premises) - 1e-9)
    share = curve.loc[curve["top_percent"] == top, "cost_share"]
    return PlacesSection(
        n_premises=len(premises), comparison=comparison, table=table[COLUMNS],
        top_share=round(float(share.iloc[0]), 2) if n_top >= rule.min_count and len(share) and harm.sum() > 0
        else None,
        premises_named=project.places.publish_premises)


def _n(value: object) -> str:
    return "withheld" if value is None or pd.isna(value) else f"{int(value):,}"  # type: ignore[call-overload]


def _rate(row: pd.Series) -> str:
    if row["rate"] is None or pd.isna(row["rate"]):
        return "withheld"
    return f"{row['rate']:g} ({row['rate_low']:g} to {row['rate_high']:g})"


def _comparison_text(c: RateRatio) -> str:
    if c.ratio is None:
        return ("On- and off-licences cannot be compared yet: too few premises of one type, or no alcohol-related "
                "events at one of them.")
    ci = f"rate ratio {c.ratio:.2f}, 95% confidence interval {c.low:.2f} to {c.high:.2f}"
    if c.verdict == "no difference":
        return f"On-licences and off-licences show <b>no difference</b> in alcohol-related harm per premises ({ci})."
    return (f"On-licences (pubs, bars, clubs) carry <b>{c.verdict}</b> alcohol-related harm per premises than "
            f"off-licences (shops) ({ci}).")


def places_html(section: PlacesSection, top_share: float = 0.2, bands_m: list[int] | None = None) -> str:
    """The section as an escaped HTML fragment; nothing at all when the project has no licensing register."""
    if section.n_premises == 0:
        return ""
    from ptp_pipeline.report.summary import money_text

    e = html.escape
    bands = ", ".join(str(b) for b in (bands_m or Places().distance_bands_m)) + " m"
    head = '<section><h2 id="premises">Licensed premises and alcohol-related harm</h2>'
    rows = "".join(
        f"<tr><td>{e(str(r.grouping))}</td><td>{e(str(r.label))}</td><td>{_n(r.premises)}</td><td>{_n(r.events)}</td>"
        f"<td>{_n(r.events_nearby)}</td><td>{_n(r.events_by_postcode)}</td><td>{_n(r.persons)}</td>"
        f"<td>{'withheld' if r.harm_cost is None or pd.isna(r.harm_cost) else e(money_text(float(r.harm_cost)))}</td>"
        f"<td>{e(_rate(pd.Series(r._asdict())))}</td></tr>"
        for r in section.table.itertuples(index=False))
    if section.top_share is None:
        concentration = "Too few premises for their concentration of harm to be published."
    else:
        concentration = (f"The {top_share:.0%} of premises with the most attributed events carry "
                         f"{section.top_share:.0%} of them.")
    named = ("Single premises are named only above the disclosure thresholds, as the partnership agreed."
             if section.premises_named else
             "No single premises is named: the partnership has not agreed premises-level publication.")
    return (
        head + f"<p>{_comparison_text(section.comparison)}</p><p>{e(concentration)} {e(named)}</p>"
        '<table class="wide"><thead><tr><th>by</th><th>group</th><th>premises</th><th>events at the premises</th>'
        "<th>events near the premises (postcode centroid)</th><th>events by postcode sector</th>"
        "<th>persons involved</th><th>cost</th>"
        "<th>events per premises-year (95% CI)</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        '<p class="method"><b>Method.</b> Alcohol-related police incidents and A&amp;E attendances are attributed to '
        "licensed premises open on the day: <i>at the premises</i> where the event's location shares a keyed "
        "property token with the premises (premises reference, UPRN or address); <i>near the premises</i> where "
        f"only a postcode is known and it has a centroid: shared equally among the premises in the nearest of the "
        f"distance bands {e(bands)} of the event's postcode centroid that holds any (none beyond the last band); "
        "<i>by postcode sector</i> where the postcode has no centroid, shared equally among the premises of that "
        "sector. Rates, their intervals and the on/off comparison use events at and near the premises (not those "
        "shared by sector): exact Poisson intervals (conditional binomial for the ratio), widened by the premises' "
        "overdispersion. Persons are counted from events at the premises only, once per group, never listed. "
        "The concentration of harm counts every attribution. Counts below the disclosure threshold are withheld "
        "and others rounded; a £ figure is withheld where one premises carries more than half of it.</p></section>"
    )
