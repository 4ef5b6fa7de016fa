"""True events per partner: heavy-tailed counts, realistic unit costs, dates in the period.

Each person known to an agency has 1 + Poisson(BASE_RATE x frailty) events there (capped),
frailty being lognormal and higher for multi-agency people, so a few people account for
most events. Unit costs are drawn uniformly within order-of-magnitude ranges taken from
published unit-cost sources (PSSRU Unit Costs of Health and Social Care; NHS National
Cost Collection for A&E and drug/alcohol treatment; Home Office costs of police custody
and arrest; homelessness-prevention costs reported by local authorities). Together with
the type mix, which shifts to costlier events for multi-agency people, the top 20% of
persons carry about 80% of the cost (the Total Place pilot's figure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ptp_pipeline.synthetic.config import SyntheticConfig
from ptp_pipeline.synthetic.population import PARTNERS, Population, day_number, stream

EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "council": ("housing_application", "homelessness_presentation", "asb_report", "social_care_contact"),
    "health": ("ae_attendance", "treatment_referral"),
    "police": ("incident", "arrest", "custody"),
}

# Unit cost range per event type, in pounds (uniform within the range).
UNIT_COST_POUNDS: dict[str, tuple[int, int]] = {
    "housing_application": (300, 800),
    "homelessness_presentation": (800, 2000),
    "asb_report": (150, 500),
    "social_care_contact": (100, 500),
    "ae_attendance": (200, 400),
    "treatment_referral": (1000, 3000),
    "incident": (150, 400),
    "arrest": (450, 600),
    "custody": (600, 1500),
}

# Mix of event types for people known to 1, 2, 3 agencies (rows sum to 1); assumption.
TYPE_MIX: dict[str, tuple[tuple[float, ...], ...]] = {
    "council": ((0.40, 0.10, 0.25, 0.25), (0.30, 0.25, 0.25, 0.20), (0.25, 0.35, 0.20, 0.20)),
    "police": ((0.70, 0.20, 0.10), (0.55, 0.25, 0.20), (0.45, 0.25, 0.30)),
}
# Health: share of events that are treatment referrals, for people with alcohol or drug
# misuse by tier; others are almost always A&E attendances.
REFERRAL_P = (0.10, 0.20, 0.30)
REFERRAL_P_NO_MISUSE = 0.02
# Flag rates on health rows: Y when the person misuses / does not misuse that substance.
ALCOHOL_FLAG_P = (0.70, 0.05)
DRUG_FLAG_P = (0.60, 0.03)

# Expected events beyond the first at frailty 1, per agency over one year (assumption).
BASE_RATE: dict[str, float] = {"council": 1.0, "health": 1.5, "police": 1.2}


@dataclass(frozen=True)
class Events:
    """One partner's true events; substance flags are meaningful for health only."""

    person: NDArray[np.int64]
    day: NDArray[np.int64]
    event_type: NDArray[np.object_]
    cost_pence: NDArray[np.int64]
    alcohol_related: NDArray[np.bool_]
    drug_related: NDArray[np.bool_]

    @property
    def size(self) -> int:
        """Number of events."""
        return int(self.person.size)


def _kinds(rng: np.random.Generator, pop: Population, person: NDArray[np.int64], partner: str) -> NDArray[np.int64]:
    """Index into EVENT_TYPES[partner] for each event, by the person's tier and misuse."""
    tier = pop.tier[person]
    if partner == "health":
        misuse = pop.alcohol[person] | pop.drug[person]
        p_ref = np.where(misuse, np.asarray(REFERRAL_P)[tier - 1], REFERRAL_P_NO_MISUSE)
        return (rng.random(person.size) < p_ref).astype(np.int64)
    cum = np.cumsum(np.asarray(TYPE_MIX[partner]), axis=1)[tier - 1]
    kinds: NDArray[np.int64] = (rng.random(person.size)[:, None] > cum[:, :-1]).sum(axis=1)
    return kinds


def build_events(pop: Population, partner: str, config: SyntheticConfig) -> Events:
    """All true events of ``partner`` in the period (deterministic for the seed)."""
    rng = stream(config.seed, f"events:{partner}")
    known = pop.known[:, PARTNERS.index(partner)]
    extra = np.minimum(rng.poisson(BASE_RATE[partner] * pop.frailty), config.max_events_per_agency - 1)
    counts = np.where(known, 1 + extra, 0)
    person = np.repeat(np.arange(pop.n, dtype=np.int64), counts)
    m = person.size
    day = rng.integers(day_number(config.start), day_number(config.end) + 1, m)
    kinds = _kinds(rng, pop, person, partner)
    types = EVENT_TYPES[partner]
    low = np.array([UNIT_COST_POUNDS[t][0] * 100 for t in types], dtype=np.int64)[kinds]
    high = np.array([UNIT_COST_POUNDS[t][1] * 100 for t in types], dtype=np.int64)[kinds]
    cost = low + (rng.random(m) * (high - low + 1)).astype(np.int64)
    alcohol = np.zeros(m, dtype=bool)
    drug = np.zeros(m, dtype=bool)
    if partner == "health":
        u_a, u_d = rng.random(m), rng.random(m)
        alcohol = np.where(pop.alcohol[person], u_a < ALCOHOL_FLAG_P[0], u_a < ALCOHOL_FLAG_P[1])
        drug = np.where(pop.drug[person], u_d < DRUG_FLAG_P[0], u_d < DRUG_FLAG_P[1])
        # A treatment referral is for alcohol or drugs: name the substance the person misuses.
        bare = (kinds == 1) & ~alcohol & ~drug
        alcohol = alcohol | (bare & ~pop.drug[person])
        drug = drug | (bare & pop.drug[person])
    return Events(
        person=person,
        day=day,
        event_type=np.array(types, dtype=object)[kinds],
        cost_pence=cost,
        alcohol_related=alcohol,
        drug_related=drug,
    )
