"""The trained prior (probability that two random identities match) against a population whose truth is known.

Training sees identities: records of one person agreeing on every part are already one identity, so the
matching pairs left differ in some field. The prior must still come out near the truth (FEBRL found it
5-11x too low when only pairs agreeing on name and date of birth were counted: bench/public_linkage.py).
"""

from __future__ import annotations

import random
import secrets
from math import comb

import pandas as pd
import pytest

from ptp_pipeline.linkage.fields import IDENT, linkage_tokens
from ptp_pipeline.linkage.frame import frame_parts
from ptp_pipeline.linkage.model import settings, train
from ptp_pipeline.privacy.keys import ProjectKey

PERSONS = 1_500
FIELDS = ("forename", "surname", "date_of_birth", "postcode")


def _name(rng: random.Random) -> str:
    return "".join(rng.choice("BDFGKLMNPRSTVZ") + rng.choice("AEIOU") for _ in range(rng.randint(2, 4))).title()


def _record(rng: random.Random) -> dict[str, str]:
    return {"forename": _name(rng), "surname": _name(rng),
            "date_of_birth": f"{rng.randint(1930, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "postcode": f"LS{rng.randint(1, 29)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}"}


def population() -> pd.DataFrame:
    """Each person twice: the second record differs from the first in one field (each field in turn)."""
    rng = random.Random(7)
    rows = []
    for i in range(PERSONS):
        first = _record(rng)
        field = FIELDS[i % len(FIELDS)]
        rows += [first, {**first, field: _record(rng)[field]}]
    return pd.DataFrame(rows)


def test_the_trained_prior_is_near_the_true_share_of_matching_identity_pairs() -> None:
    tokens = linkage_tokens(ProjectKey("test", secrets.token_bytes(32)), frame_parts(population()))
    identities = tokens.drop_duplicates(IDENT)
    assert len(identities) == 2 * PERSONS
    truth = PERSONS / comb(len(identities), 2)
    prior = train(identities)["probability_two_random_records_match"]
    assert truth / 2 <= prior <= truth * 2


def test_every_prior_comparison_is_a_distribution() -> None:
    """Each comparison's prior m (and u) over its levels adds up to 1, "all other" included: a Fellegi-Sunter
    weight is only the log ratio it claims to be when both are distributions."""
    for comparison in settings()["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for p in ("m_probability", "u_probability"):
            assert sum(lv[p] for lv in levels) == pytest.approx(1.0, abs=1e-9), (comparison["output_column_name"], p)
