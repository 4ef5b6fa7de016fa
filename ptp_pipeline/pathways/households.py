"""Time-aware households from keyed address tokens, rebuilt in the merge transaction.

1. Properties: records' address tokens are resolved to properties (privacy/address_linkage.py).
2. Communal guard: a property flagged communal by any partner (care home, hostel, hospital,
   prison, HMO: project.yaml `households.communal_types`) or where more distinct persons were
   seen in one calendar year than `households.max_persons_per_address` is communal and never
   forms a household (per year, so a family home with tenants changing over the years is not).
3. Residence spells: a person's records in date order; a new spell starts where the property
   changes. A lone record at another property between two records at the same one is noise
   (a stale or mistyped address) and is dropped. A spell runs from its first record (or the
   partner's address-from date, where given and not before the previous spell) to the day
   before the next spell starts, or to the last record for the latest spell.
4. Households: people at one property whose spells overlap. For overlap, a person's first spell
   is open to the past (unless a partner said since when) and the latest open to the future (they
   lived there before and after we saw them), so two residents seen months apart still form one
   household, while a move splits it: the mover's spell ends where the next property's begins.

Household ids are numbered afresh at each rebuild (stable ids, as for persons, are future work).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ptp_pipeline.privacy.address_linkage import UNPLACED, resolve_addresses
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.warehouse.base import Warehouse

OPEN_PAST = np.iinfo(np.int32).min
OPEN_FUTURE = np.iinfo(np.int32).max
SIZE_BANDS = ((1, "1"), (2, "2"), (3, "3-4"), (5, "5+"))

RECORDS_SQL = """
SELECT a.record_id, r.person_id, r.event_date, r.district, a.addr_uprn, a.addr_flat, a.addr_street,
       a.communal, a.address_from
FROM restricted.record_address a JOIN restricted.link_record r ON r.record_id = a.record_id
WHERE r.person_id IS NOT NULL AND r.event_date IS NOT NULL
"""
EVENTS_SQL = "SELECT event_id, person_id, agency, event_type, event_date, cost FROM shared.event_cost"  # costed
TABLES = ("restricted.residence", "shared.household", "shared.household_member", "shared.household_pathway",
          "shared.cohort_priority_families", "shared.household_cost_concentration")


def _days(s: pd.Series) -> np.ndarray:
    """Days since 1970 as float (NaN where missing), so arithmetic never meets NaT."""
    d = pd.to_datetime(s).to_numpy(dtype="datetime64[D]")
    out: np.ndarray = np.where(np.isnat(d), np.nan, d.astype("int64").astype("float64"))
    return out


def _spells(recs: pd.DataFrame) -> pd.DataFrame:
    """Consecutive records of a person at one property; lone sandwiched records dropped."""
    for _ in range(2):
        recs = recs.sort_values(["person_id", "day", "address_id"], kind="stable").reset_index(drop=True)
        new = (recs.person_id != recs.person_id.shift()) | (recs.address_id != recs.address_id.shift())
        recs["spell"] = new.cumsum()
        per = recs.groupby("spell").agg(person_id=("person_id", "first"), address_id=("address_id", "first"),
                                        n=("day", "size"))
        same_person_prev = per.person_id.shift(1) == per.person_id
        same_person_next = per.person_id.shift(-1) == per.person_id
        blip = ((per.n == 1) & same_person_prev & same_person_next
                & (per.address_id.shift(1) == per.address_id.shift(-1)))
        if not blip.any():
            break
        recs = recs[~recs.spell.isin(per.index[blip])]
    return recs


def residence(recs: pd.DataFrame, max_persons: int) -> pd.DataFrame:
    """Spells: person_id, address_id, from/to (days), from_eff/to_eff (open ends), communal."""
    recs = recs.assign(address_id=resolve_addresses(recs), day=_days(recs.event_date))
    recs = recs[recs.address_id != UNPLACED]
    flagged = recs.communal.astype("boolean").fillna(False).astype(bool).groupby(recs.address_id).max()
    year = pd.to_datetime(recs.event_date).dt.year
    crowded = recs.groupby([recs.address_id, year]).person_id.nunique().groupby(level=0).max() > max_persons
    communal = flagged | crowded
    recs = _spells(recs.assign(since=_days(recs.address_from)))
    sp = recs.groupby("spell").agg(person_id=("person_id", "first"), address_id=("address_id", "first"),
                                   first=("day", "min"), last=("day", "max"), since=("since", "min"))
    sp = sp.reset_index(drop=True)
    same_prev = sp.person_id.shift(1) == sp.person_id
    same_next = sp.person_id.shift(-1) == sp.person_id
    prev_last = sp["last"].shift(1).where(same_prev)
    since = sp.since.where(sp.since < sp["first"])
    since = since.where(~same_prev | since.isna(), np.maximum(since, prev_last + 1))
    sp["from_day"] = since.fillna(sp["first"]).astype("int64")
    next_from = sp.from_day.shift(-1)
    sp["to_day"] = (next_from - 1).where(same_next, sp["last"]).astype("int64")
    sp["from_eff"] = sp.from_day.where(same_prev | sp.since.notna(), OPEN_PAST)
    sp["to_eff"] = sp.to_day.where(same_next, OPEN_FUTURE)
    sp["communal"] = sp.address_id.map(communal).astype(bool)
    area = recs.groupby(["address_id", "district"]).size().reset_index(name="n")
    area = area.sort_values(["address_id", "n", "district"], ascending=[True, False, True])
    sp["area"] = sp.address_id.map(area.drop_duplicates("address_id").set_index("address_id").district)
    return sp.drop(columns=["first", "last", "since"])


def households(sp: pd.DataFrame) -> pd.DataFrame:
    """household_id per non-communal spell (<NA> for communal): overlapping spells at one property."""
    home = sp[~sp.communal].sort_values(["address_id", "from_eff", "person_id"], kind="stable")
    reach = home.groupby("address_id").to_eff.cummax()
    prev_reach = reach.groupby(home.address_id).shift(1)
    group = (prev_reach.isna() | (home.from_eff > prev_reach)).cumsum()
    order = (home.assign(group=group).groupby("group")
             .agg(start=("from_day", "min"), first_person=("person_id", "min"))
             .sort_values(["start", "first_person"]))
    number = pd.Series(np.arange(1, len(order) + 1), index=order.index)
    out = pd.Series(pd.NA, index=sp.index, dtype="Int64")
    out.loc[home.index] = group.map(number).to_numpy()
    return out


def _size_band(n: pd.Series) -> pd.Series:
    out = pd.Series("", index=n.index, dtype=object)
    for low, label in SIZE_BANDS:
        out[n >= low] = label
    return out


def _to_date(days: pd.Series) -> pd.Series:
    return pd.Series(days.to_numpy().astype("datetime64[D]"), index=days.index)


def household_events(sp: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Each event of a household member inside their (open-ended) membership: one household at most."""
    ev = events.assign(day=_days(events.event_date)).dropna(subset=["person_id", "day"])
    ev["day"] = ev["day"].astype("int64")
    ev = ev.astype({"person_id": "int64"}).sort_values("day", kind="stable")
    spells = sp[["person_id", "from_eff", "to_eff", "household_id"]].astype({"from_eff": "int64", "to_eff": "int64"})
    spells = spells.sort_values("from_eff", kind="stable")
    joined = pd.merge_asof(ev, spells, left_on="day", right_on="from_eff", by="person_id", direction="backward")
    joined = joined[(joined.day <= joined.to_eff) & joined.household_id.notna()]
    return joined.astype({"household_id": "int64"})


def rebuild_households(wh: Warehouse, project: ProjectConfig) -> None:
    """Rebuild residence, household tables and the priority-families cohort from the linked records."""
    for table in TABLES:
        wh.execute(f"DELETE FROM {table}")
    recs = wh.query(RECORDS_SQL)
    if recs.empty:
        return
    sp = residence(recs, project.households.max_persons_per_address)
    sp["household_id"] = households(sp)
    wh.insert_frame("restricted.residence", pd.DataFrame({
        "person_id": sp.person_id, "address_id": sp.address_id, "from_date": _to_date(sp.from_day),
        "to_date": _to_date(sp.to_day), "communal": sp.communal, "household_id": sp.household_id}))
    members = sp[sp.household_id.notna()]
    if members.empty:
        return
    wh.insert_frame("shared.household_member", pd.DataFrame({
        "household_id": members.household_id.astype("int64"), "person_id": members.person_id,
        "from_date": _to_date(members.from_day), "to_date": _to_date(members.to_day)}))
    ev = household_events(sp, wh.query(EVENTS_SQL))
    wh.insert_frame("shared.household_pathway", ev[["household_id", "event_id", "person_id", "agency",
                                                   "event_type", "event_date", "cost"]])
    cost = ev.groupby("household_id").cost.sum().astype(float)
    agencies = (ev[["household_id", "agency"]].drop_duplicates().sort_values(["household_id", "agency"])
                .groupby("household_id").agency.agg(lambda a: ",".join(a)))
    hh = members.groupby("household_id").agg(n=("person_id", "nunique"), area=("area", "first"),
                                             first=("from_day", "min"), last=("to_day", "max"))
    table = pd.DataFrame({
        "household_id": hh.index.astype("int64"), "size_band": _size_band(hh.n).to_numpy(),
        "area": hh.area.to_numpy(), "first_seen": _to_date(hh["first"]).to_numpy(),
        "last_seen": _to_date(hh["last"]).to_numpy(), "agencies": agencies.reindex(hh.index).to_numpy(),
        "n_agencies": agencies.reindex(hh.index).str.count(",").add(1).fillna(0).astype("int64").to_numpy(),
        "total_cost": cost.reindex(hh.index).fillna(0.0).to_numpy()})
    wh.insert_frame("shared.household", table)
    cohort, concentration = priority_families(table, project)
    wh.insert_frame("shared.cohort_priority_families", cohort)
    wh.insert_frame("shared.household_cost_concentration", concentration)


def suppressed(n: int, min_count: int, round_to: int) -> str:
    """A published count: below min_count it is withheld, otherwise rounded (disclosure control)."""
    if n < min_count:
        return f"<{min_count}"
    return str(int(round_to * round(n / round_to)))


def priority_families(table: pd.DataFrame, project: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The top households by combined cost, and the published cost concentration (counts suppressed)."""
    ranked = table.sort_values(["total_cost", "household_id"], ascending=[False, True], kind="stable")
    n_top = max(1, math.ceil(project.top_share * len(ranked)))
    top = ranked.iloc[:n_top]
    cohort = pd.DataFrame({"household_id": top.household_id, "cost_rank": np.arange(1, n_top + 1),
                           "total_cost": top.total_cost})
    total = float(table.total_cost.sum()) or 1.0
    s = project.suppression
    rows = [(f"top {project.top_share:.0%} of households", len(top), float(top.total_cost.sum()) / total),
            (f"other {1 - project.top_share:.0%} of households", len(ranked) - n_top,
             float(ranked.iloc[n_top:].total_cost.sum()) / total)]
    for _, label in SIZE_BANDS:
        band = table[table.size_band == label]
        rows.append((f"households of size {label}", len(band), float(band.total_cost.sum()) / total))
    concentration = pd.DataFrame([(b, suppressed(n, s.min_count, s.round_to), round(share, 3) if n >= s.min_count
                                   else None) for b, n, share in rows], columns=["band", "households", "cost_share"])
    return cohort, concentration
