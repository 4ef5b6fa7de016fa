"""The blocking rules, folded into few joins for speed, find exactly the pairs of the single rules they stand for.

Each rule below is one conjunction of token equalities, as the rules were before they were folded (stop 26):
the oracle. Identities come from pseudonymise-made tokens of random small-alphabet values, so every derived
form follows its field as in production (sn3 from sn, pc_dist from pc), and many pairs share something.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from ptp_pipeline.linkage.fields import TOKEN_COLUMNS, linkage_tokens
from ptp_pipeline.linkage.model import BLOCKING_RULES, PERSON_HINT
from ptp_pipeline.privacy.keys import ProjectKey

SINGLE_RULES = [
    "l.nhs = r.nhs", "l.ni = r.ni", "l.uln = r.uln", "l.shared_ref = r.shared_ref", "l.local_id = r.local_id",
    "l.dob = r.dob AND l.sn_ph = r.sn_ph",
    "l.dob = r.dob AND l.fn_ph = r.fn_ph",
    "l.dob = r.dob AND l.pc = r.pc",
    "l.fn = r.sn AND l.sn = r.fn",
    "l.fn = r.fn AND l.sn = r.sn AND l.dob_y = r.dob_y",
    "l.fn = r.fn AND l.sn = r.sn AND l.pc_sec = r.pc_sec",
    "l.sn_ph = r.sn_ph AND l.fn_ph = r.fn_ph AND l.dob_m = r.dob_m AND l.dob_d = r.dob_d",
    "l.dob_sw = r.dob AND l.sn_ph = r.sn_ph",
    "l.sn = r.sn AND l.pc = r.pc",
    "l.fn3 = r.fn3 AND l.sn = r.sn AND l.dob_y = r.dob_y AND l.dob_m = r.dob_m",
    "l.fn = r.fn AND l.dob = r.dob AND l.sn3 = r.sn3",
    "l.fn = r.fn AND l.pc = r.pc",
    "l.fn = r.fn AND l.sn3 = r.sn3 AND l.pc_dist = r.pc_dist",
    "l.dob = r.dob AND l.pc_dist = r.pc_dist",
    "l.dob = r.dob AND l.fn_full = r.sn",
    "l.dob = r.dob AND l.sn = r.fn_full",
    "l.fn_full = r.sn AND l.sn = r.fn_full",
    "l.fn = r.fn AND l.sn = r.sn AND l.ad_no = r.ad_no",
    "l.pc = r.pc AND l.fn3 = r.fn3 AND l.sn3 = r.sn3",
    f"l.ad_st = r.ad_st AND l.ad_no = r.ad_no AND {PERSON_HINT}",
    f"l.ad_st5 = r.ad_st5 AND l.ad_no = r.ad_no AND l.pc_dist = r.pc_dist AND {PERSON_HINT}",
]


def _parts(rng: np.random.Generator, n: int) -> pd.DataFrame:
    def pick(values: list[str | None]) -> pd.Series:
        return pd.Series(rng.choice(np.array(values, dtype=object), n), dtype="string")

    names = ["ANN", "ANNE", "SMITH", "SMYTH", "SMITHSON", "NG", "LI", "JON", "JOHN", None]
    return pd.DataFrame({
        "forename": pick(names), "surname": pick(names),
        "date_of_birth": pick(["1980-01-02", "1980-02-01", "1980-01-05", "1981-01-02", "1981-03-02", None]),
        "postcode": pick(["LS6 2AB", "LS6 2AD", "LS6 3XY", "LS7 1AA", None]),
        "sector": pick(["LS6 2", "LS6 3", "LS7 1", None]), "district": pick(["LS6", "LS7", None]),
        "sex": pick(["F", "M", None]), "nhs": pick(["9434765919", None, None, None]),
        "house_number": pick(["1", "2", "2A", None]),
        "street": pick(["COPE PLACE", "COPE PL", "HIGH STREET", "HIGH ST", "ELM ROAD", None]),
    })


def _consistent(parts: pd.DataFrame) -> pd.DataFrame:
    """Sector and district as the postcode gives them (normalise_postcode's rule), where there is one."""
    pc = parts["postcode"]
    parts["sector"] = pc.str.slice(0, -2).where(pc.notna(), parts["sector"])
    parts["district"] = pc.str.split(" ").str[0].where(pc.notna(), parts["district"])
    parts["district"] = parts["district"].where(parts["sector"].isna(),
                                                parts["sector"].str.split(" ").str[0])
    return parts


def _pairs(tokens: pd.DataFrame, rules: list[str]) -> set[tuple[int, int]]:
    con = duckdb.connect()
    con.register("t", tokens)
    found: set[tuple[int, int]] = set()
    for rule in rules:
        rows = con.execute(f"SELECT l.i, r.i FROM t l JOIN t r ON ({rule}) AND l.i < r.i").fetchall()
        found |= {(int(a), int(b)) for a, b in rows}
    con.close()
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_folded_rules_find_exactly_the_pairs_of_the_single_rules(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tokens = linkage_tokens(ProjectKey("test", bytes(32)), _consistent(_parts(rng, 400)))[TOKEN_COLUMNS]
    tokens = tokens.assign(i=np.arange(len(tokens)))
    expected = _pairs(tokens, SINGLE_RULES)
    assert len(expected) > 1000  # the case has many pairs to find
    assert _pairs(tokens, BLOCKING_RULES) == expected


def test_the_oracle_can_tell_a_missing_alternative_or_rule() -> None:
    rng = np.random.default_rng(4)
    tokens = linkage_tokens(ProjectKey("test", bytes(32)), _consistent(_parts(rng, 400)))[TOKEN_COLUMNS]
    tokens = tokens.assign(i=np.arange(len(tokens)))
    expected = _pairs(tokens, SINGLE_RULES)
    no_district = [r.replace(" OR l.pc_dist = r.pc_dist", "") for r in BLOCKING_RULES]
    assert no_district != BLOCKING_RULES and _pairs(tokens, no_district) != expected
    # "JON" is JOHN's nickname: the same canonical forename, other first letters, so fn does not imply fn3.
    no_first_letters = [r for r in BLOCKING_RULES if not r.startswith("l.fn3 = r.fn3")]
    assert len(no_first_letters) == len(BLOCKING_RULES) - 1 and _pairs(tokens, no_first_letters) != expected


def test_a_rule_that_reads_the_same_mirrored_is_joined_one_way_round() -> None:
    from ptp_pipeline.linkage.engine import _symmetric

    assert _symmetric("l.fn = r.fn AND l.sn = r.sn")
    assert _symmetric("l.fn_full = r.sn AND l.sn = r.fn_full"), "names swapped: each side is the other's mirror"
    assert not _symmetric("l.dob_sw = r.dob AND l.sn_ph = r.sn_ph"), "day and month swapped on one side only"
    assert not _symmetric("l.dob = r.dob AND l.sn = r.fn_full")
