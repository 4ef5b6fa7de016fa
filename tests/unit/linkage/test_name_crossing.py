"""A forename given as the other record's surname is a swap of names only where the surnames differ (and a surname
given as the other's forename only where the forenames differ): the model's levels and the twin guard
(`forenames_disagree`) read the same condition, each checked here on real keyed tokens."""

from __future__ import annotations

import secrets

import duckdb
import pandas as pd
import pytest

from ptp_pipeline.linkage.engine import forenames_disagree
from ptp_pipeline.linkage.fields import linkage_tokens
from ptp_pipeline.linkage.model import FORENAME_AS_SURNAME, SURNAME_AS_FORENAME
from ptp_pipeline.privacy.keys import ProjectKey

# forename and surname of two records; whether the forename-as-surname and surname-as-forename levels hold; whether
# the guard sees forenames that share nothing.
PAIRS = [
    (("ROSS", "ROSS"), ("JANE", "ROSS"), False, True, True),  # twins: his forename is the surname they share
    (("ROSS", "ROSS"), ("ROSS", "SMITH"), True, False, False),  # a shared forename says nothing of the surnames
    (("THOMAS", "SMITH"), ("JANE", "THOMAS"), True, True, False),  # one name crossing, the other names differ
    (("LUKE", "SENG"), ("SENG", "LUKE"), True, True, False),  # names swapped
    (("AMARA", "ABERNATHY"), ("ZOFIA", "ABERNATHY"), False, False, True),  # twins with unrelated forenames
]


def _tokens(left: tuple[str, str], right: tuple[str, str]) -> pd.DataFrame:
    key = ProjectKey("test", secrets.token_bytes(32))
    parts = pd.DataFrame({"forename": pd.Series([left[0], right[0]], dtype="string"),
                          "surname": pd.Series([left[1], right[1]], dtype="string")})
    return linkage_tokens(key, parts)


@pytest.mark.parametrize(("left", "right", "fn_as_sn", "sn_as_fn", "disagree"), PAIRS)
def test_a_name_given_as_the_other_needs_the_other_names_to_differ(
        left: tuple[str, str], right: tuple[str, str], fn_as_sn: bool, sn_as_fn: bool, disagree: bool) -> None:
    tokens = _tokens(left, right)
    con = duckdb.connect()
    con.register("t", tokens)
    # Both orders: which record is "l" follows the keyed identity token.
    for a, b in ((0, 1), (1, 0)):
        pair = pd.DataFrame({f"{c}_{side}": [tokens[c].iloc[i]]
                             for c in ("fn", "sn") for side, i in (("l", a), ("r", b))})
        con.register("p", pair)
        assert con.execute(f"SELECT coalesce({FORENAME_AS_SURNAME}, false) FROM p").fetchall() == [(fn_as_sn,)]
        assert con.execute(f"SELECT coalesce({SURNAME_AS_FORENAME}, false) FROM p").fetchall() == [(sn_as_fn,)]
        x, y = (f"(SELECT * FROM t LIMIT 1 OFFSET {i})" for i in (a, b))
        assert con.execute(f"SELECT {forenames_disagree('x', 'y')} FROM {x} x, {y} y").fetchall() == [(disagree,)]
