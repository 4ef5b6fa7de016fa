"""Where the synthetic people live: properties, households, communal establishments and moves.

Assumptions (no published figure fits this cohort exactly; stated so they can be argued with):
- ``communal_share`` (8%) of persons start in a communal establishment (hostel, HMO, care home,
  prison; sizes in COMMUNAL_SIZES); Hard Edges' cohort is often homeless or in custody.
- Everyone else lives in a private household; household sizes among the cohort in
  HOUSEHOLD_SIZE_P (most live alone; "almost 60% live with or are in contact with children"
  counts children outside the cohort, who are not persons in the extracts). The second member
  is usually a partner, later ones adult children; ``shared_surname_rate`` of members share the
  first member's surname (so shared surnames also occur at different addresses, by chance).
- ``flat_share`` of private properties are flats in converted or purpose-built buildings
  (2-6 flats, numbered 1..k, or A/B for a two-flat conversion, written "14A").
- Movers (``moved_rate``) move on ``moved_on``: ``join_household_rate`` of them into another
  household's home, the rest into an empty property; people leaving a communal establishment
  always move to an empty one.
Every property has a UPRN (12 digits). Truth: truth/households.csv has one row per person and
spell (address number, from, to, household or communal kind, role).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ptp_pipeline.synthetic.names import INWARD_LETTERS, POSTCODE_DISTRICTS

HOUSEHOLD_SIZE_P = {1: 0.50, 2: 0.28, 3: 0.12, 4: 0.07, 5: 0.03}
COMMUNAL_KINDS = ("hostel", "hmo", "care_home", "prison")
COMMUNAL_P = (0.45, 0.30, 0.10, 0.15)
COMMUNAL_SIZES = {"hostel": (15, 40), "hmo": (4, 8), "care_home": (12, 30), "prison": (25, 60)}
FLATS_PER_BUILDING = (2, 6)
_ROOTS = """
Hyde Park Kirkstall Headingley Burley Armley Chapeltown Harehills Roundhay Beeston Holbeck Hunslet
Woodhouse Meanwood Moortown Gipton Seacroft Bramley Pudsey Horsforth Otley Wetherby Garforth Rothwell
Morley Belle Isle Halton Crossgates Osmondthorpe Richmond Hill Sheepscar Potternewton Chapel Allerton
Stainbeck Oakwood Gledhow Shadwell Alwoodley Cookridge Lawnswood Tinshill Kirkstall Abbey Cardigan
Brudenell Ash Oak Elm Beech Cedar Willow Rowan Hawthorn Holly Maple Victoria Albert Queen King Princess
Church Mill Station Park Chapel Market Castle Bridge Well Spring Greenhow Thornville Royal Cliff
Manor Grange Stanmore Cardinal Recreation Brompton Bankside Ashley Sholebroke Mexborough Cowper
"""
STREET_ROOTS: tuple[str, ...] = tuple(dict.fromkeys(_ROOTS.split()))
STREET_TYPES = ("Road", "Street", "Avenue", "Lane", "Grove", "Terrace", "Crescent", "Drive", "Close",
                "Place", "Mount", "View", "Walk", "Gardens", "Square", "Court")
HOUSE_NAMES = ("Rose Cottage", "The Laurels", "Ivy House", "Fern Lea", "Hill Top", "The Willows",
               "Orchard House", "Brook Cottage", "The Old Vicarage", "Moor View")
HOUSE_NAME_RATE = 0.03


@dataclass(frozen=True)
class Addresses:
    """One row per property (index = address number)."""

    uprn: NDArray[np.object_]
    flat: NDArray[np.object_]  # "" for a whole house
    number: NDArray[np.object_]  # house number, or a house name
    street: NDArray[np.object_]
    postcode: NDArray[np.object_]
    kind: NDArray[np.object_]  # "" for a private home, else a COMMUNAL_KINDS value

    @property
    def n(self) -> int:
        return int(self.uprn.size)


@dataclass(frozen=True)
class Living:
    """Per person: home at the start, where they moved (-1: stayed), role and family head."""

    addresses: Addresses
    home: NDArray[np.int64]
    moved_to: NDArray[np.int64]
    role: NDArray[np.object_]  # head, partner, child, resident (communal)
    head: NDArray[np.int64]  # the person whose surname a family member may share (self for heads)


def _postcode(rng: np.random.Generator, n: int) -> NDArray[np.object_]:
    names = [d for d, _ in POSTCODE_DISTRICTS]
    weights = np.array([w for _, w in POSTCODE_DISTRICTS])
    district = np.array(names, dtype=object)[rng.choice(len(names), n, p=weights / weights.sum())]
    letters = np.array(list(INWARD_LETTERS), dtype=object)
    unit = letters[rng.integers(0, len(letters), n)] + letters[rng.integers(0, len(letters), n)]
    out: NDArray[np.object_] = district + " " + rng.integers(0, 10, n).astype(str).astype(object) + unit
    return out


def _buildings(rng: np.random.Generator, n_units: int, flat_share: float, houses_only: bool) -> pd.DataFrame:
    """Buildings with their units, at least n_units units: street, number, flats."""
    mean_flats = sum(FLATS_PER_BUILDING) / 2
    per_building = flat_share / (mean_flats - (mean_flats - 1) * flat_share)  # so flat_share of units are flats
    n_b = n_units if houses_only else int(n_units / (1 + (mean_flats - 1) * per_building)) + 10
    is_flats = np.zeros(n_b, dtype=bool) if houses_only else rng.random(n_b) < per_building
    k = np.where(is_flats, rng.integers(FLATS_PER_BUILDING[0], FLATS_PER_BUILDING[1] + 1, n_b), 1)
    while k.sum() < n_units:  # top up with houses
        k = np.append(k, 1)
        is_flats = np.append(is_flats, False)
    n_b = k.size
    streets = np.array([f"{r} {t}" for r in STREET_ROOTS for t in STREET_TYPES], dtype=object)
    slot = rng.choice(streets.size * 300, n_b, replace=False)  # distinct (street, number)
    street, number = slot // 300, slot % 300 + 1
    block_codes = pd.factorize(street * 10 + number // 30)[0]
    block_postcode = _postcode(rng, int(block_codes.max()) + 1)
    named = ~is_flats & (rng.random(n_b) < HOUSE_NAME_RATE)
    number_text = np.where(named, np.array(HOUSE_NAMES, dtype=object)[rng.integers(0, len(HOUSE_NAMES), n_b)],
                           number.astype(str).astype(object))
    lettered = is_flats & (k == 2) & (rng.random(n_b) < 0.5)
    b = np.repeat(np.arange(n_b), k)
    within = np.arange(b.size) - np.repeat(np.cumsum(k) - k, k)
    flat = np.where(is_flats[b], np.where(lettered[b], np.array(["A", "B"] * 3, dtype=object)[np.minimum(within, 5)],
                                          (within + 1).astype(str).astype(object)), "")
    return pd.DataFrame({"flat": flat, "number": number_text[b], "street": streets[street[b]],
                         "postcode": block_postcode[block_codes[b]]})


def _sizes(rng: np.random.Generator, n: int, values: NDArray[np.int64], p: NDArray[np.float64]) -> NDArray[np.int64]:
    """Group sizes summing exactly to n."""
    draws = rng.choice(values, n + 1, p=p / p.sum())
    cut = int(np.searchsorted(np.cumsum(draws), n))
    sizes = draws[: cut + 1].copy()
    sizes[-1] -= int(sizes.sum()) - n
    out: NDArray[np.int64] = sizes[sizes > 0].astype(np.int64)
    return out


def build_living(rng: np.random.Generator, n: int, moved: NDArray[np.bool_], communal_share: float,
                 flat_share: float, join_rate: float) -> Living:
    """Draw properties, households, communal establishments and where movers go."""
    order = rng.permutation(n)
    n_comm = round(n * communal_share)
    kinds_list: list[str] = []
    sizes_list: list[int] = []
    while sum(sizes_list) < n_comm:
        kind = COMMUNAL_KINDS[int(rng.choice(len(COMMUNAL_KINDS), p=COMMUNAL_P))]
        low, high = COMMUNAL_SIZES[kind]
        sizes_list.append(min(int(rng.integers(low, high + 1)), n_comm - sum(sizes_list)))
        kinds_list.append(kind)
    comm_sizes = np.array(sizes_list, dtype=np.int64)
    hh_sizes = _sizes(rng, n - n_comm, np.array(list(HOUSEHOLD_SIZE_P)), np.array(list(HOUSEHOLD_SIZE_P.values())))
    n_new = int(moved.sum())
    private = _buildings(rng, hh_sizes.size + n_new, flat_share, houses_only=False)
    private = private.iloc[rng.permutation(len(private))[: hh_sizes.size + n_new]].reset_index(drop=True)
    communal = _buildings(rng, comm_sizes.size, flat_share, houses_only=True).iloc[: comm_sizes.size]
    table = pd.concat([private.assign(kind=""), communal.assign(kind=np.array(kinds_list, dtype=object))],
                      ignore_index=True)
    uprn = rng.choice(9 * 10**10, len(table), replace=False) + 72 * 10**10  # 12 digits, Leeds-like prefix
    addresses = Addresses(uprn.astype(str).astype(object), table.flat.to_numpy(dtype=object),
                          table.number.to_numpy(dtype=object), table.street.to_numpy(dtype=object),
                          table.postcode.to_numpy(dtype=object), table.kind.to_numpy(dtype=object))
    home = np.empty(n, dtype=np.int64)
    role = np.empty(n, dtype=object)
    head = np.empty(n, dtype=np.int64)
    group = np.repeat(np.arange(hh_sizes.size), hh_sizes)
    members = order[n_comm:]
    home[members] = group
    first = np.cumsum(hh_sizes) - hh_sizes
    rank = np.arange(members.size) - first[group]
    partner = rng.random(members.size) < 0.7
    role[members] = np.where(rank == 0, "head", np.where((rank == 1) & partner, "partner", "child"))
    head[members] = members[first[group]]
    residents = order[:n_comm]
    home[residents] = len(private) + np.repeat(np.arange(comm_sizes.size), comm_sizes)
    role[residents] = "resident"
    head[residents] = residents
    moved_to = np.full(n, -1, dtype=np.int64)
    movers = np.flatnonzero(moved)
    joins = (rng.random(movers.size) < join_rate) & (addresses.kind[home[movers]] == "")
    other = rng.integers(0, hh_sizes.size, movers.size)
    other = np.where(other == home[movers], (other + 1) % hh_sizes.size, other)
    moved_to[movers] = np.where(joins, other, hh_sizes.size + np.arange(movers.size))
    return Living(addresses, home, moved_to, role, head)


def residence_truth(living: Living, moved_on: NDArray[np.int64], start_day: int, end_day: int,
                    person_id: NDArray[np.object_]) -> pd.DataFrame:
    """One row per person and spell; household = overlapping spells at one private property."""
    n = living.home.size
    moved = living.moved_to >= 0
    spells = pd.DataFrame({
        "person": np.concatenate([np.arange(n), np.flatnonzero(moved)]),
        "address_id": np.concatenate([living.home, living.moved_to[moved]]),
        "from_day": np.concatenate([np.full(n, start_day), moved_on[moved]]),
        "to_day": np.concatenate([np.where(moved, moved_on - 1, end_day), np.full(int(moved.sum()), end_day)]),
    })
    spells["communal_kind"] = living.addresses.kind[spells.address_id]
    home = spells[spells.communal_kind == ""].sort_values(["address_id", "from_day", "person"])
    reach = home.groupby("address_id").to_day.cummax().groupby(home.address_id).shift(1)
    chain = (reach.isna() | (home.from_day > reach)).cumsum()
    spells["household_id"] = ""
    spells.loc[home.index, "household_id"] = "H" + chain.astype(str).str.zfill(6)
    spells = spells.sort_values(["person", "from_day"]).reset_index(drop=True)
    day = spells[["from_day", "to_day"]].to_numpy().astype("datetime64[D]")
    return pd.DataFrame({
        "person_id": person_id[spells.person], "address_id": spells.address_id,
        "from": np.datetime_as_string(day[:, 0]), "to": np.datetime_as_string(day[:, 1]),
        "household_id": spells.household_id, "communal_kind": spells.communal_kind, "role": living.role[spells.person],
    })
