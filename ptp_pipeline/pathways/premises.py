"""Licensed premises and the alcohol-related harm attributed to them (issue 20), rebuilt at the derive stage.

- `restricted.premises`: one row per premises of the latest licensing register (a place dataset whose
  protocol has `premises:`): licence type (the register's event type), hours band from the latest permitted
  hour, area (postcode district), sector, status, opened (grant date) and closed (revoked/surrendered).
- `restricted.premises_event`: each alcohol-related event attributed to premises open on its date. `exact`:
  its location shares a keyed property token with the premises, strictest first (premises reference, UPRN,
  flat, street); `distance`: no token matches but its postcode has a centroid (`privacy/centroids.py`), so
  it is shared equally (weight 1/n) among the n premises open in the nearest distance band
  (project.yaml `places.distance_bands_m`) that holds any, measured between postcode centroids; `band`
  says which (`within_100m`); an event with no premises within the last band is not attributed;
  `sector`: only a postcode without a centroid is known, so the event is shared equally among the
  premises open in its postcode sector (off when `places.sector_attribution` is false). Cost is the
  costed event's (`shared.event_cost`).
- `restricted.premises_year`: per premises and calendar year, the years it was open within the period the
  located events cover (exposure), exact events, distance- and sector-attributed events (sums of weights),
  persons involved (distinct person ids of exact events, never listed) and cost.

Registers are small (thousands of premises), so the work is done in pandas on every backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ptp_pipeline.protocol.model import PremisesMapping, ProjectConfig, Protocol
from ptp_pipeline.warehouse.base import Warehouse

PREMISES_TABLES = ("premises", "premises_event", "premises_year")
#: Token columns of restricted.event_location, strictest first: the first that matches attributes an event.
TOKENS = ("premises", "uprn", "flat", "street")
HOURS_BANDS = ("to 23:00", "to 02:00", "after 02:00")
GRID = ("easting", "northing")  # postcode centroid, metres (restricted.event_location only)
ATTRIBUTED = ["event_id", "premises_id", "attribution", "band", "weight"]

REGISTER_SQL = """
SELECT e.event_id, e.agency, e.dataset, e.event_type, e.event_date, e.attributes, l.premises, l.uprn, l.flat,
       l.street, l.sector, l.district, l.easting, l.northing
FROM shared.pathway_event e JOIN restricted.event_location l ON l.event_id = e.event_id
WHERE e.agency = ? AND e.dataset = ?
"""

LOCATED_SQL = """
SELECT c.event_id, c.agency, c.event_date, c.person_id, c.cost, l.premises, l.uprn, l.flat, l.street, l.sector,
       l.easting, l.northing
FROM shared.event_cost c JOIN restricted.event_location l ON l.event_id = c.event_id
WHERE l.alcohol_related
"""


@dataclass(frozen=True)
class Register:
    agency: str
    dataset: str
    mapping: PremisesMapping


def registers(protocols: list[Protocol]) -> list[Register]:
    """The licensing registers among the protocols (latest version of each dataset)."""
    latest: dict[tuple[str, str], Protocol] = {}
    for p in protocols:
        if p.premises is not None and (p.key not in latest or p.version > latest[p.key].version):
            latest[p.key] = p
    return [Register(p.partner.id, p.dataset, p.premises) for p in latest.values() if p.premises is not None]


def hours_band(latest: pd.Series) -> pd.Series:
    """'to 23:00', 'to 02:00' (after 23:00, or past midnight up to 02:00) or 'after 02:00' (incl. 24 hours)."""
    hm = latest.astype("string").str.extract(r"^(\d{1,2}):(\d{2})$").astype(float)
    minutes = (hm[0] * 60 + hm[1]).to_numpy()
    late = np.where(minutes <= 6 * 60, minutes + 24 * 60, minutes)  # 00:00-06:00 is after midnight
    band = np.select([late <= 23 * 60, late <= 26 * 60], HOURS_BANDS[:2], HOURS_BANDS[2])
    return pd.Series(np.where(np.isnan(minutes), HOURS_BANDS[0], band), index=latest.index, dtype=object)


def _premises(wh: Warehouse, found: list[Register]) -> pd.DataFrame:
    frames = []
    for reg in found:
        rows = wh.query(REGISTER_SQL, (reg.agency, reg.dataset))
        attrs = pd.json_normalize([json.loads(a) if isinstance(a, str) else {} for a in rows["attributes"]])
        m = reg.mapping

        def attr(name: str | None, frame: pd.DataFrame = attrs, n: int = len(rows)) -> pd.Series:
            return frame[name].reset_index(drop=True) if name and name in frame else pd.Series([None] * n)

        frames.append(pd.DataFrame({
            "event_id": rows["event_id"], "licence_type": rows["event_type"],
            "hours_band": hours_band(attr(m.hours)).to_numpy(), "area": rows["district"], "sector": rows["sector"],
            "status": attr(m.status).to_numpy(), "opened": pd.to_datetime(rows["event_date"]).dt.date,
            "closed": pd.to_datetime(attr(m.ends), errors="coerce").dt.date.to_numpy(),
            "label": attr(m.label).to_numpy(), **{t: rows[t] for t in (*TOKENS, *GRID)},
        }))
    if not frames:
        return pd.DataFrame(columns=["premises_id", "event_id", "licence_type", "hours_band", "area", "sector",
                                     "status", "opened", "closed", "label", *TOKENS, *GRID])
    out = pd.concat(frames, ignore_index=True).sort_values(["opened", "event_id"], kind="stable")
    out.insert(0, "premises_id", np.arange(1, len(out) + 1, dtype=np.int32))
    return out.reset_index(drop=True)


def _open_on(pairs: pd.DataFrame) -> pd.Series:
    """Event-premises pairs where the premises was licensed on the event's date."""
    opened = pd.to_datetime(pairs["opened"]).to_numpy()
    closed = pd.to_datetime(pairs["closed"]).to_numpy()
    day = pd.to_datetime(pairs["event_date"]).to_numpy()
    return pd.Series((opened <= day) & (pd.isna(closed) | (closed >= day)), index=pairs.index)


def _shared(pairs: pd.DataFrame, attribution: str, band: object = None) -> pd.DataFrame:
    """Event-premises pairs as attributions: each event shared equally among its n premises (weight 1/n)."""
    return pairs.assign(attribution=attribution, band=band,
                        weight=1.0 / pairs.groupby("event_id")["premises_id"].transform("count"))[ATTRIBUTED]


def _matched(events: pd.DataFrame, premises: pd.DataFrame, key: str) -> pd.DataFrame:
    """Event-premises pairs equal on `key` (a token or the sector), the premises open on the event's date."""
    hit = events[events[key].notna()].merge(premises[["premises_id", key, "opened", "closed"]].dropna(subset=[key]),
                                            on=key)
    return hit[_open_on(hit)].drop_duplicates(["event_id", "premises_id"])


def band_label(metres: int) -> str:
    return f"within_{metres}m"


def _by_distance(premises: pd.DataFrame, events: pd.DataFrame, bands_m: list[int]) -> pd.DataFrame:
    """(event_id, premises_id, attribution, band, weight) for events with a centroid: the premises open on the
    event's date in the nearest band holding any, each with weight 1/n. Pairs are bounded by a grid of cells
    the size of the last band (a pair within it lies in the same or a neighbouring cell), then measured."""
    reach = float(bands_m[-1])
    places = premises.dropna(subset=list(GRID))
    located = events.dropna(subset=list(GRID))
    if places.empty or located.empty:
        return pd.DataFrame(columns=ATTRIBUTED)
    cells = places.assign(cx=np.floor(places["easting"].astype(float) / reach).astype(np.int64),
                          cy=np.floor(places["northing"].astype(float) / reach).astype(np.int64))
    ex = np.floor(located["easting"].astype(float).to_numpy() / reach).astype(np.int64)
    ey = np.floor(located["northing"].astype(float).to_numpy() / reach).astype(np.int64)
    dx, dy = np.meshgrid([-1, 0, 1], [-1, 0, 1])
    near = pd.DataFrame({"row": np.repeat(np.arange(len(located)), 9), "cx": (ex[:, None] + dx.ravel()).ravel(),
                         "cy": (ey[:, None] + dy.ravel()).ravel()})
    pairs = near.merge(cells[["premises_id", "cx", "cy", "opened", "closed", *GRID]], on=["cx", "cy"])
    if pairs.empty:
        return pd.DataFrame(columns=ATTRIBUTED)
    ev = located.iloc[pairs["row"].to_numpy()]
    pairs = pairs.assign(event_id=ev["event_id"].to_numpy(), event_date=ev["event_date"].to_numpy())
    metres = np.hypot(ev["easting"].astype(float).to_numpy() - pairs["easting"].astype(float).to_numpy(),
                      ev["northing"].astype(float).to_numpy() - pairs["northing"].astype(float).to_numpy())
    pairs["band_no"] = np.searchsorted(np.asarray(bands_m, dtype=float), metres, side="left")
    pairs = pairs[(pairs["band_no"] < len(bands_m)) & _open_on(pairs)]
    pairs = pairs[pairs["band_no"] == pairs.groupby("event_id")["band_no"].transform("min")]
    labels = np.array([band_label(b) for b in bands_m], dtype=object)
    return _shared(pairs, "distance", labels[pairs["band_no"].to_numpy()])


def attribute(premises: pd.DataFrame, events: pd.DataFrame, by_sector: bool,
               bands_m: list[int] | None = None) -> pd.DataFrame:
    """(event_id, premises_id, attribution, band, weight) for each event: the strictest token that matches,
    else the nearest distance band of its postcode centroid, else (no centroid) the postcode sector; an
    event matching n premises on that key is shared among them (weight 1/n)."""
    done: set[str] = set()
    parts = []
    for key in TOKENS:
        hit = _matched(events[~events["event_id"].isin(done)], premises, key)
        if len(hit):
            parts.append(_shared(hit, "exact"))
            done |= set(hit["event_id"])
    left = events[~events["event_id"].isin(done)]
    if bands_m:
        parts.append(_by_distance(premises, left, bands_m))
    if by_sector:
        if bands_m:  # only events without a centroid: one with a centroid but no premises near is not attributed
            left = left[left["easting"].isna() | left["northing"].isna()]
        hit = _matched(left, premises, "sector")
        if len(hit):
            parts.append(_shared(hit, "sector"))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ATTRIBUTED)


def _exposure(premises: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Years each premises was open in each calendar year of [start, end]."""
    rows = []
    for year in range(start.year, end.year + 1):
        lo = max(start, pd.Timestamp(year, 1, 1))
        hi = min(end, pd.Timestamp(year, 12, 31))
        opened = pd.to_datetime(premises["opened"]).clip(lower=lo)
        closed = pd.to_datetime(premises["closed"]).fillna(hi).clip(upper=hi)
        days = ((closed - opened).dt.days + 1).clip(lower=0)
        rows.append(pd.DataFrame({"premises_id": premises["premises_id"], "year": year,
                                  "exposure_years": days.to_numpy() / 365.25}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["premises_id", "year",
                                                                                 "exposure_years"])


def _per_year(premises: pd.DataFrame, attributed: pd.DataFrame) -> pd.DataFrame:
    if attributed.empty:
        return pd.DataFrame()
    start, end = (pd.to_datetime(attributed["event_date"]).min(), pd.to_datetime(attributed["event_date"]).max())
    years = _exposure(premises, start, end)
    years = years[years["exposure_years"] > 0]
    a = attributed.assign(year=pd.to_datetime(attributed["event_date"]).dt.year,
                          exact=(attributed["attribution"] == "exact").astype(int),
                          by_sector=np.where(attributed["attribution"] == "sector", attributed["weight"], 0.0),
                          by_distance=np.where(attributed["attribution"] == "distance", attributed["weight"], 0.0),
                          wcost=attributed["cost"].astype(float) * attributed["weight"])
    exact_persons = a[a["exact"] == 1].dropna(subset=["person_id"])
    sums = a.groupby(["premises_id", "year"]).agg(events_exact=("exact", "sum"), events_sector=("by_sector", "sum"),
                                                   events_distance=("by_distance", "sum"), cost=("wcost", "sum"))
    persons = exact_persons.groupby(["premises_id", "year"])["person_id"].nunique().rename("persons")
    out = years.merge(sums.join(persons).reset_index(), on=["premises_id", "year"], how="left")
    out = out.merge(premises[["premises_id", "licence_type", "hours_band", "area"]], on="premises_id")
    return out.fillna({"events_exact": 0, "events_sector": 0.0, "events_distance": 0.0, "persons": 0,
                       "cost": 0.0}).astype(
        {"events_exact": "int64", "persons": "int64", "premises_id": "int32", "year": "int32"})[
        ["premises_id", "year", "licence_type", "hours_band", "area", "exposure_years", "events_exact",
         "events_sector", "events_distance", "persons", "cost"]]


def rebuild_premises(wh: Warehouse, project: ProjectConfig, protocols: list[Protocol]) -> dict[str, int]:
    """Replace the premises tables (call inside the derive transaction, after unit costs)."""
    for table in PREMISES_TABLES:
        wh.execute(f"DELETE FROM restricted.{table}")
    premises = _premises(wh, registers(protocols))
    events = wh.query(LOCATED_SQL)
    places = project.places
    attributed = attribute(premises, events, places.sector_attribution,
                            places.distance_bands_m if places.postcode_centroids else None)
    attributed = attributed.merge(events[["event_id", "agency", "event_date", "person_id", "cost"]], on="event_id")
    wh.insert_frame("restricted.premises", premises.drop(columns=[*TOKENS, *GRID]))
    wh.insert_frame("restricted.premises_event", attributed.assign(
        event_year=pd.to_datetime(attributed["event_date"]).dt.year.astype("int32"),
        premises_id=attributed["premises_id"].astype("int32"))[
        ["event_id", "premises_id", "attribution", "band", "weight", "agency", "event_year", "person_id", "cost"]])
    wh.insert_frame("restricted.premises_year", _per_year(premises, attributed))
    counts = {f"restricted.{t}": int(wh.scalar(f"SELECT count(*) FROM restricted.{t}") or 0) for t in PREMISES_TABLES}
    # Located by postcode but not found in the centroid file (a new or mistyped postcode): sector fallback.
    counts["events without a postcode centroid"] = int(
        (events["sector"].notna() & events["easting"].isna()).sum()) if places.postcode_centroids else 0
    return counts
