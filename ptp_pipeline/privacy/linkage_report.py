"""How persons were linked: identities per pass, match probabilities, review band, persons by agencies.

Counts only (no tokens, no identifiers), so operators and data officers can read it.
"""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.warehouse.base import Warehouse

PASS_SQL = """
SELECT i.link_pass AS key_type, count(DISTINCT i.ident) AS identities, count(r.record_id) AS records_with_key
FROM restricted.link_identity i LEFT JOIN restricted.link_record r ON r.ident = i.ident
GROUP BY i.link_pass
"""
HISTOGRAM_SQL = """
SELECT floor(match_probability * 10) / 10 AS band, count(*) AS identities
FROM restricted.link_identity WHERE link_pass = 'probabilistic' GROUP BY 1 ORDER BY 1
"""


def linkage_report(wh: Warehouse, project: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per pass (cascade keys in order, then probabilistic, new person, unlinkable), and persons by agencies."""
    order = [f"cascade:{mk.name}" for mk in project.linkage.match_keys] + ["probabilistic", "clerical", "new person"]
    keys = wh.query(PASS_SQL).set_index("key_type").reindex(order).fillna(0).astype(int).reset_index()
    unlinkable = int(wh.scalar("SELECT count(*) FROM restricted.link_record WHERE ident IS NULL") or 0)
    keys = pd.concat([keys, pd.DataFrame([{"key_type": "unlinkable", "identities": 0,
                                           "records_with_key": unlinkable}])], ignore_index=True)
    records = int(wh.scalar("SELECT count(*) FROM restricted.link_record") or 0)
    keys["share_of_records"] = (keys["records_with_key"] / records).round(4) if records else 0.0
    agencies = wh.query("SELECT n_agencies, count(*) AS persons FROM shared.person GROUP BY 1 ORDER BY 1")
    return keys, agencies


def probability_histogram(wh: Warehouse) -> pd.DataFrame:
    return wh.query(HISTOGRAM_SQL)


BAND_SQL = {
    "linked": "SELECT floor(match_probability * 20) / 20 AS band, count(*) AS n FROM restricted.link_identity "
              "WHERE link_pass = 'probabilistic' GROUP BY 1",
    "review": "SELECT floor(match_probability * 20) / 20 AS band, count(*) AS n FROM restricted.link_review GROUP BY 1",
}


def probability_bands(wh: Warehouse) -> pd.DataFrame:
    """Splink's pairs per 0.05 of match probability: identities linked (the link that placed each) and
    pairs listed for clerical review. Columns band, kind (linked / review), n."""
    frames = [wh.query(sql).assign(kind=kind) for kind, sql in BAND_SQL.items()]
    out = pd.concat(frames, ignore_index=True)
    out["band"] = out["band"].astype(float).clip(upper=0.95).round(2)
    return out.groupby(["kind", "band"], as_index=False)["n"].sum().sort_values(["band", "kind"])


def review_decisions(wh: Warehouse) -> dict[str, int]:
    """Review pairs by decision (open: not yet decided, whatever happened to the persons since)."""
    frame = wh.query("SELECT coalesce(decision, 'open') AS decision, count(*) AS n FROM restricted.link_review "
                     "GROUP BY 1")
    counts = dict(zip(frame["decision"], frame["n"].astype(int), strict=True))
    return {k: counts.get(k, 0) for k in ("open", "accept", "reject")}


AGENCY_PAIR_SQL = """
WITH pa AS (SELECT DISTINCT person_id, partner FROM restricted.link_record WHERE person_id IS NOT NULL)
SELECT a.partner AS agency_a, b.partner AS agency_b, count(*) AS both_persons
FROM pa a JOIN pa b ON a.person_id = b.person_id AND a.partner < b.partner GROUP BY 1, 2 ORDER BY 1, 2
"""


def agency_pairs(wh: Warehouse) -> tuple[pd.DataFrame, pd.Series]:
    """Persons known to both agencies of each pair, and persons per agency (to make rates of)."""
    per_agency = wh.query("SELECT partner, count(DISTINCT person_id) AS persons FROM restricted.link_record "
                          "WHERE person_id IS NOT NULL GROUP BY 1")
    return wh.query(AGENCY_PAIR_SQL), per_agency.set_index("partner")["persons"].astype(int)


BIAS_SQL = """
SELECT {group} AS grp, count(*) AS records,
       sum(CASE WHEN i.link_pass IS NULL OR i.link_pass = 'new person' THEN 0 ELSE 1 END) AS linked,
       sum(CASE WHEN p.n_agencies >= 2 THEN 1 ELSE 0 END) AS multi_agency
FROM restricted.link_record r
LEFT JOIN restricted.link_identity i ON i.ident = r.ident
LEFT JOIN shared.person p ON p.person_id = r.person_id
GROUP BY 1 ORDER BY 1
"""
BIAS_GROUPS = {
    "agency": "r.partner",
    "sex": "coalesce(r.sex, 'unknown')",
    "age band": "CASE WHEN r.birth_year IS NULL THEN 'unknown' ELSE CAST(CAST(floor((EXTRACT(YEAR FROM r.event_date) "
                "- r.birth_year) / 20) * 20 AS INTEGER) AS VARCHAR) || '+' END",
    "area": "coalesce(r.district, 'unknown')",
}


def linkage_bias(wh: Warehouse, min_records: int = 10) -> dict[str, pd.DataFrame]:
    """Link rates by agency, sex, age band and area: a group that links far less often than others is
    a group whose pathways the report under-counts (linkage bias). Groups under `min_records` are left
    out (small numbers)."""
    out = {}
    for name, expr in BIAS_GROUPS.items():
        frame = wh.query(BIAS_SQL.format(group=expr)).astype({"records": int, "linked": int, "multi_agency": int})
        frame["linked_share"] = frame["linked"] / frame["records"]
        frame["multi_agency_share"] = frame["multi_agency"] / frame["records"]
        out[name] = frame[frame.records >= min_records].reset_index(drop=True)
    return out
