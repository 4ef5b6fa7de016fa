"""The true synthetic population: who each person is and which agencies know them.

Calibration (defaults in ``SyntheticConfig``; constants below are stated assumptions):
- Agency membership follows "Hard Edges" (Lankelly Chase / Heriot-Watt 2015): of people
  known to any of the three systems, 38% are known to two or more and 10% to all three.
  Counts are allocated exactly, so the shares hold at any n, not just on average.
  Which agency a single-agency person is known to, and which pair a two-agency person
  spans, are assumptions (health most common alone; health + police the commonest pair,
  as substance misuse and offending overlap most in Hard Edges).
- Mostly men aged 25-44 (Hard Edges); the age mix below is an assumption around that.
- Each person has a lognormal "frailty" (activity level), higher for multi-agency people,
  which drives the heavy-tailed event counts in ``events.py``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ptp_pipeline.synthetic.config import SyntheticConfig
from ptp_pipeline.synthetic.households import Living, build_living
from ptp_pipeline.synthetic.names import NAME_GROUPS, name_weights
from ptp_pipeline.synthetic.nhs import unique_nhs_numbers

PARTNERS: tuple[str, str, str] = ("council", "health", "police")
EPOCH = date(1970, 1, 1)

# Single-agency people: share known only to council, health, police (assumption).
SINGLE_AGENCY_P = (0.30, 0.40, 0.30)
# Two-agency people: share whose missing agency is council, health, police, i.e. pairs
# health+police 45%, council+police 25%, council+health 30% (assumption).
PAIR_MISSING_P = (0.45, 0.25, 0.30)
# Age at the start of the period: (low, high, share); 60% aged 25-44 (Hard Edges profile).
AGE_BANDS = ((18, 25, 0.15), (25, 45, 0.60), (45, 80, 0.25))
# Probability of alcohol / drug misuse by tier (known to 1, 2, 3 agencies) (assumption).
ALCOHOL_P = (0.30, 0.50, 0.60)
DRUG_P = (0.20, 0.45, 0.60)


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per purpose, so changing one knob doesn't reshuffle all."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def day_number(d: date) -> int:
    """Days since 1970-01-01: dates are plain int64 arrays inside the generator."""
    return (d - EPOCH).days


@dataclass(frozen=True)
class Population:
    """Per-person arrays (position = person number); dates are day numbers."""

    name_group: NDArray[np.object_]  # key of NAME_GROUPS, for linkage-bias checks
    forename: NDArray[np.object_]
    middle_name: NDArray[np.object_]  # "" when none
    surname: NDArray[np.object_]
    sex: NDArray[np.object_]  # "M" or "F"
    dob: NDArray[np.int64]
    postcode: NDArray[np.object_]
    moved_postcode: NDArray[np.object_]  # "" when the person did not move
    moved_on: NDArray[np.int64]  # day of the move; beyond the period when no move
    nhs_number: NDArray[np.object_]
    client_ref: NDArray[np.object_]
    client_ref_2: NDArray[np.object_]  # "" when the council holds one reference
    tier: NDArray[np.int64]  # number of agencies that know the person (1-3)
    known: NDArray[np.bool_]  # shape (n, 3), columns in PARTNERS order
    frailty: NDArray[np.float64]
    alcohol: NDArray[np.bool_]
    drug: NDArray[np.bool_]
    has_children: NDArray[np.bool_]
    living: Living  # properties, household of each person, where movers went

    @property
    def n(self) -> int:
        """Number of persons."""
        return int(self.tier.size)

    @property
    def person_id(self) -> NDArray[np.object_]:
        """Truth identifiers P000001, P000002, ... (never written to an extract)."""
        return np.array([f"P{i:06d}" for i in range(1, self.n + 1)], dtype=object)


def _membership(rng: np.random.Generator, config: SyntheticConfig) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Tier per person (exact counts, shuffled) and which agencies know them."""
    n = config.n_persons
    n3 = round(n * config.share_all_three)
    n2 = round(n * config.share_two_plus) - n3
    tier = np.repeat(np.array([1, 2, 3], dtype=np.int64), [n - n2 - n3, n2, n3])
    tier = rng.permutation(tier)
    known = np.zeros((n, 3), dtype=bool)
    known[tier == 3] = True
    single = np.flatnonzero(tier == 1)
    known[single, rng.choice(3, single.size, p=SINGLE_AGENCY_P)] = True
    pair = np.flatnonzero(tier == 2)
    known[pair] = True
    known[pair, rng.choice(3, pair.size, p=PAIR_MISSING_P)] = False
    return tier, known


def _pick(rng: np.random.Generator, names: tuple[str, ...], n: int) -> NDArray[np.object_]:
    """n names drawn by Zipf-like frequency."""
    return np.array(names, dtype=object)[rng.choice(len(names), n, p=name_weights(names))]


def _names(
    rng: np.random.Generator, male: NDArray[np.bool_], middle_rate: float
) -> tuple[NDArray[np.object_], NDArray[np.object_], NDArray[np.object_], NDArray[np.object_]]:
    """Name group, forename, middle name ("" for most) and surname, coherent within a group."""
    n = male.size
    keys = list(NAME_GROUPS)
    which = rng.choice(len(keys), n, p=[NAME_GROUPS[k].share for k in keys])
    fore, middle, sur = (np.empty(n, dtype=object) for _ in range(3))
    for i, key in enumerate(keys):
        group, idx = NAME_GROUPS[key], np.flatnonzero(which == i)
        m = male[idx]
        fore[idx] = np.where(m, _pick(rng, group.male, idx.size), _pick(rng, group.female, idx.size))
        middle[idx] = np.where(m, _pick(rng, group.male, idx.size), _pick(rng, group.female, idx.size))
        sur[idx] = _pick(rng, group.surnames, idx.size)
    middle = np.where((rng.random(n) < middle_rate) & (middle != fore), middle, "").astype(object)
    return np.array(keys, dtype=object)[which], fore, middle, sur


def _client_refs(rng: np.random.Generator, n: int) -> NDArray[np.object_]:
    """n distinct council references "C" + 7 digits."""
    values = rng.choice(9_000_000, size=n, replace=False) + 1_000_000
    out: NDArray[np.object_] = np.char.add("C", values.astype(str)).astype(object)
    return out


def _dates_of_birth(rng: np.random.Generator, n: int, start_day: int) -> NDArray[np.int64]:
    """Dates of birth from the age mix in AGE_BANDS, as day numbers."""
    band = rng.choice(len(AGE_BANDS), n, p=[b[2] for b in AGE_BANDS])
    low = np.array([b[0] for b in AGE_BANDS], dtype=np.float64)[band]
    high = np.array([b[1] for b in AGE_BANDS], dtype=np.float64)[band]
    age_days = ((low + rng.random(n) * (high - low)) * 365.25).astype(np.int64)
    return start_day - age_days


def build_population(config: SyntheticConfig) -> Population:
    """Draw the true population for ``config`` (deterministic for its seed)."""
    rng = stream(config.seed, "population")
    n = config.n_persons
    start_day, end_day = day_number(config.start), day_number(config.end)
    tier, known = _membership(rng, config)
    male = rng.random(n) < config.male_share
    group, forename, middle, surname = _names(rng, male, config.middle_name_rate)
    moved = rng.random(n) < config.moved_rate
    margin = 30 if end_day - start_day > 90 else 0
    move_day = rng.integers(start_day + margin, end_day - margin + 1, n)
    intensity = np.asarray(config.tier_intensity, dtype=np.float64)[tier - 1]
    sigma = config.frailty_sigma
    frailty = rng.lognormal(-(sigma**2) / 2, sigma, n) * intensity
    n_second = rng.random(n) < config.second_client_ref_rate
    refs = _client_refs(rng, 2 * n)
    living = build_living(stream(config.seed, "households"), n, moved, config.communal_share, config.flat_share,
                          config.join_household_rate)
    family = (living.head != np.arange(n)) & (stream(config.seed, "surnames").random(n) < config.shared_surname_rate)
    surname = np.where(family, surname[living.head], surname).astype(object)
    group = np.where(family, group[living.head], group).astype(object)
    place = living.addresses
    return Population(
        name_group=group,
        forename=forename,
        middle_name=middle,
        surname=surname,
        sex=np.where(male, "M", "F").astype(object),
        dob=_dates_of_birth(rng, n, start_day),
        postcode=place.postcode[living.home],
        moved_postcode=np.where(moved, place.postcode[living.moved_to], "").astype(object),
        moved_on=np.where(moved, move_day, end_day + 1).astype(np.int64),
        nhs_number=unique_nhs_numbers(stream(config.seed, "nhs"), n, config.nhs_prefixes),
        client_ref=refs[:n],
        client_ref_2=np.where(n_second, refs[n:], "").astype(object),
        tier=tier,
        known=known,
        frailty=frailty,
        alcohol=rng.random(n) < np.asarray(ALCOHOL_P)[tier - 1],
        drug=rng.random(n) < np.asarray(DRUG_P)[tier - 1],
        has_children=rng.random(n) < config.children_share,
        living=living,
    )


def persons_frame(pop: Population, total_pence: NDArray[np.int64], top: NDArray[np.bool_]) -> pd.DataFrame:
    """The true person table written to truth/persons.csv and returned to callers."""
    moved = pop.moved_postcode != ""
    return pd.DataFrame(
        {
            "person_id": pop.person_id,
            "forename": pop.forename,
            "middle_name": pop.middle_name,
            "surname": pop.surname,
            "sex": pop.sex,
            "date_of_birth": np.datetime_as_string(pop.dob.astype("datetime64[D]")),
            "postcode": pop.postcode,
            "moved_to_postcode": pop.moved_postcode,
            "moved_on": np.where(moved, np.datetime_as_string(pop.moved_on.astype("datetime64[D]")), ""),
            "nhs_number": pop.nhs_number,
            "name_group": pop.name_group,
            "council_refs": np.where(
                pop.known[:, 0],
                np.where(pop.client_ref_2 != "", pop.client_ref + "|" + pop.client_ref_2, pop.client_ref),
                "",
            ),
            "complex_needs_tier": pop.tier,
            "known_to_council": pop.known[:, 0],
            "known_to_health": pop.known[:, 1],
            "known_to_police": pop.known[:, 2],
            "alcohol_misuse": pop.alcohol,
            "drug_misuse": pop.drug,
            "has_children": pop.has_children,
            "total_cost": (total_pence / 100).round(2),
            "in_top20_cost": top,
        }
    )
