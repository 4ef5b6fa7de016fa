"""Term-frequency adjustment: a shared rare surname is stronger evidence than a shared common one,
measured over the whole population, also when a merge links only a small batch."""

from __future__ import annotations

import dataclasses
import random
import secrets

import pandas as pd
import pytest

from ptp_pipeline.linkage import link_frame
from ptp_pipeline.linkage.engine import config_from, link_into
from ptp_pipeline.linkage.fields import IDENT, linkage_tokens
from ptp_pipeline.linkage.frame import frame_parts
from ptp_pipeline.linkage.frequencies import COUNTS_TABLE, TOTALS_TABLE, recount
from ptp_pipeline.linkage.model import settings
from ptp_pipeline.linkage.store import apply_merges, insert_identities
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.warehouse.connect import open_warehouse

KEY = secrets.token_bytes(32)
COMMON = "Smith"
LETTERS = "ABCDEFGHIJKLMNOPRSTUVWY"


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(8)).title()


def population(n: int = 2_600, common_share: float = 0.12) -> list[dict[str, str]]:
    """Strangers with random names; `common_share` of them share one surname."""
    rng = random.Random(7)
    rows = []
    for i in range(n):
        rows.append(
            {
                "forename": _word(rng),
                "surname": COMMON if i < n * common_share else _word(rng),
                "date_of_birth": f"{rng.randint(1930, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "postcode": f"LS{rng.randint(1, 29)} {rng.randint(0, 9)}{rng.choice(LETTERS)}{rng.choice('ABD')}",
                "sex": rng.choice("MF"),
            }
        )
    return rows


def pair(forename: str, surname: str, postcode: str) -> list[dict[str, str]]:
    """Two records of one person: same names and postcode, the day of birth differs (no match key holds)."""
    one = {"forename": forename, "surname": surname, "date_of_birth": "1981-04-05", "postcode": postcode, "sex": "F"}
    return [one, {**one, "date_of_birth": "1981-04-23"}]


RARE = pair("Oriel", "Quennevais", "LS30 9ZZ")
USUAL = pair("Marisol", COMMON, "LS31 9ZZ")


def probabilities(out: pd.DataFrame, rows: int) -> tuple[float, float]:
    """Match probabilities of the second record of the rare pair and of the common pair (rows appended last)."""
    rare, usual = out.iloc[rows + 1], out.iloc[rows + 3]
    assert rare.person_id == out.iloc[rows].person_id, "the rare-surname pair links"
    assert usual.person_id == out.iloc[rows + 2].person_id, "the common-surname pair links"
    return float(rare.match_probability), float(usual.match_probability)


def test_a_rare_shared_surname_scores_higher_than_a_common_one() -> None:
    rows = population()
    frame = pd.DataFrame([*rows, *RARE, *USUAL])
    rare, usual = probabilities(link_frame(frame, KEY, model=settings()), len(rows))
    assert rare > usual
    # The same records without the adjustment: the surname level weighs the same for both pairs.
    flat = dataclasses.replace(config_from(None), term_frequencies=False)
    rare_flat, usual_flat = probabilities(link_frame(frame, KEY, model=settings(), cfg=flat), len(rows))
    assert rare_flat == pytest.approx(usual_flat)
    assert usual < usual_flat  # a common surname counts for less than the average surname


def _tokens(rows: list[dict[str, str]]) -> pd.DataFrame:
    return linkage_tokens(ProjectKey("tf-test", KEY), frame_parts(pd.DataFrame(rows))).drop_duplicates(IDENT)


def test_a_merge_of_two_records_weighs_surnames_by_the_whole_population(warehouse_url: str) -> None:
    """The batch alone (two records) says nothing about how common a surname is: the stored counts do."""
    cfg = config_from(None)
    wh = open_warehouse(warehouse_url)
    try:
        stored = _tokens([*population(), RARE[0], USUAL[0]])
        with wh.transaction():
            linked = link_into(wh, stored, cfg, settings())
            apply_merges(wh, linked, None)
            insert_identities(wh, linked, "first")
        counted = wh.query(f"SELECT col, token, n FROM {COUNTS_TABLE} ORDER BY col, token")
        totals = wh.query(f"SELECT col, n FROM {TOTALS_TABLE} ORDER BY col")
        with wh.transaction():
            recount(wh)
        again = wh.query(f"SELECT col, token, n FROM {COUNTS_TABLE} ORDER BY col, token")
        pd.testing.assert_frame_equal(counted, again)
        pd.testing.assert_frame_equal(totals, wh.query(f"SELECT col, n FROM {TOTALS_TABLE} ORDER BY col"))
        assert int(totals.set_index("col").loc["sn", "n"]) == len(stored)
        batch = _tokens([RARE[1], USUAL[1]])
        linked = link_into(wh, batch, cfg, settings()).identities.set_index(IDENT)
        rare, usual = (linked.loc[t] for t in batch[IDENT])
        assert rare.link_pass == usual.link_pass == "probabilistic"
        assert rare.match_probability > usual.match_probability
        flat = link_into(wh, batch, dataclasses.replace(cfg, term_frequencies=False), settings())
        p = flat.identities.set_index(IDENT).match_probability
        assert p.iloc[0] == pytest.approx(p.iloc[1])
        assert usual.match_probability < p.loc[batch[IDENT].iloc[1]]
    finally:
        wh.close()


def test_a_column_the_identities_lack_adjusts_nothing_and_the_others_still_count() -> None:
    from ptp_pipeline.linkage.frequencies import TF_FROM, of_frame

    n = TF_FROM
    identities = pd.DataFrame({"sn": [COMMON] * (n - 1) + ["Rare"], "fn_full": [None] * n})  # no postcode column
    tf = of_frame(identities)
    assert tf["pc"].empty and tf["fn_full"].empty
    shares = dict(zip(tf["sn"]["sn"], tf["sn"]["tf_sn"], strict=True))
    assert shares == {COMMON: (n - 1) / n, "Rare": 1 / n}
    assert of_frame(pd.DataFrame({"other": range(n)})) == {}  # no adjusted column at all: no adjustment
