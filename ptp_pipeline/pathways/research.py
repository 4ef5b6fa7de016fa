"""The researcher tier: record-level, pseudonymised tables generalised per project (`research:` in project.yaml).

`shared` keeps exact dates, costs and postcode districts, and (date, type, cost) is unique for almost
every event, so a partner holding its own raw extract could join its rows to it and read what other
agencies hold about those people. The research tier keeps what pathway research needs and coarsens
the rest: event dates as month (or quarter), costs as bands, birth years in bands, area at the chosen
level, and no event id, extract id or exact cost. Persons still standing out on the quasi-identifiers
(fewer than `min_k` alike) lose their area, then birth-year band, then sex (local suppression), and
any still standing out are withheld from the tier, so it is k-anonymous with k >= `min_k`.
Rebuilt whole at the derive stage, in SQL for the events (any size) and pandas for persons.
"""

from __future__ import annotations

import itertools

import pandas as pd

from ptp_pipeline.privacy.disclosure_risk import QUASI_IDENTIFIERS
from ptp_pipeline.protocol.model import ResearchTier
from ptp_pipeline.warehouse.base import Warehouse

RESEARCH_TABLES = ("person", "event")
SUPPRESS_ORDER = ("area", "birth_year", "sex")


def _period(column: str, tier: ResearchTier) -> str:
    if tier.event_date == "day":
        return column
    return f"CAST(date_trunc('{tier.event_date}', {column}) AS DATE)"


def _band(column: str, bounds: list[float]) -> str:
    """A CASE expression naming the band of `column`: '100-250' (lower bound included), the last '50000+'."""

    def label(x: float) -> str:
        return f"{x:g}"

    whens = [f"WHEN {column} < {hi!r} THEN '{label(lo)}-{label(hi)}'" for lo, hi in itertools.pairwise(bounds)]
    below = f"WHEN {column} < {bounds[0]!r} THEN 'below {label(bounds[0])}' " if bounds[0] > 0 else ""
    return f"CASE WHEN {column} IS NULL THEN NULL {below}{' '.join(whens)} ELSE '{label(bounds[-1])}+' END"


def _birth_band(tier: ResearchTier) -> str:
    width = tier.birth_year_band
    if width == 1:
        return "CAST(birth_year AS VARCHAR)"
    low = f"(birth_year - birth_year % {width})"
    return f"CAST({low} AS VARCHAR) || '-' || CAST({low} + {width - 1} AS VARCHAR)"


def _area(tier: ResearchTier) -> str:
    return {"district": "area", "area": "rtrim(left(area, 2), '0123456789')", "none": "CAST(NULL AS VARCHAR)"}[
        tier.area
    ]


def suppress_rare(persons: pd.DataFrame, min_k: int) -> pd.DataFrame:
    """Local suppression, so the tier is k-anonymous on the quasi-identifiers with k >= `min_k`.

    Persons in groups smaller than `min_k` lose their area, then birth-year band, then sex, one column at a
    time; any still in a small group (alone on agencies and first-seen period, which the events show anyway,
    so suppressing those columns would hide nothing) are withheld from the tier altogether.
    """
    if min_k <= 1 or persons.empty:
        return persons
    out = persons.copy()
    keys = list(QUASI_IDENTIFIERS)

    def rare() -> pd.Series:
        return out.groupby(keys, dropna=False)["person_id"].transform("size") < min_k

    for column in SUPPRESS_ORDER:
        small = rare()
        if not small.any():
            return out
        out.loc[small, column] = None
    return out[~rare()]


def rebuild_research(wh: Warehouse, tier: ResearchTier) -> dict[str, int]:
    """Replace the research tables from `shared.person` and `shared.person_pathway` (call in a transaction)."""
    for table in RESEARCH_TABLES:
        wh.execute(f"DELETE FROM research.{table}")
    wh.execute(f"""
        INSERT INTO research.event (person_id, seq, agency, dataset, event_type, event_period, setting, cost_band,
                                    attributes)
        SELECT p.person_id, p.seq, p.agency, p.dataset, p.event_type, {_period("p.event_date", tier)}, e.setting,
               {_band("p.cost", tier.cost_bands)}, e.attributes
        FROM shared.person_pathway p JOIN shared.pathway_event e ON e.event_id = p.event_id""")
    persons = wh.query(f"""
        SELECT person_id, {_birth_band(tier)} AS birth_year, sex, {_area(tier)} AS area,
               {_period("first_seen", tier)} AS first_seen, {_period("last_seen", tier)} AS last_seen,
               agencies, n_agencies, n_events, {_band("total_cost", tier.cost_bands)} AS cost_band
        FROM shared.person ORDER BY person_id""")
    kept = suppress_rare(persons, tier.min_k)
    # Through a temporary table: PostgreSQL refuses COPY into a table with row-level security.
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_research_person AS SELECT * FROM research.person WHERE false")
    wh.execute("DELETE FROM _ptp_research_person")
    wh.insert_frame("_ptp_research_person", kept)
    wh.execute("INSERT INTO research.person SELECT * FROM _ptp_research_person")
    wh.execute("DELETE FROM _ptp_research_person")
    if len(kept) < len(persons):  # the withheld persons' events go too
        wh.execute("DELETE FROM research.event WHERE person_id NOT IN (SELECT person_id FROM research.person)")
    rows = {f"research.{t}": int(wh.scalar(f"SELECT count(*) FROM research.{t}") or 0) for t in RESEARCH_TABLES}
    return {**rows, "research.person withheld (too few alike)": len(persons) - len(kept)}
