"""The dominance rule and protected £ figures (issue 19.2): no published cost figure is carried mostly by one
person, and no withheld £ figure can be recovered from the published totals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from ptp_pipeline.pathways.disclosure import dominated, protect_amounts_grouped, round_amount
from ptp_pipeline.protocol.model import Suppression

RULE = Suppression()


def test_one_person_carrying_more_than_half_dominates_a_cell() -> None:
    frame = pd.DataFrame(
        {
            "cell": ["a", "a", "a", "b", "b", "b", "c", "c"],
            "cost": [600.0, 260.0, 139.0, 100.0, 100.0, 100.0, 50.0, 50.0],
        }
    )
    got = dominated(frame, ["cell"], "cost", RULE)
    assert got.to_dict() == {"a": True, "b": False, "c": False}  # exactly half is not more than half
    two = dominated(frame, ["cell"], "cost", Suppression(dominance_top=2, dominance_share=0.85))
    assert two.to_dict() == {"a": True, "b": False, "c": True}


def test_amounts_round_to_three_significant_figures() -> None:
    assert [round_amount(v) for v in (0, 4, 1234, 98_765, 29_140_000.5)] == [0.0, 10.0, 1230.0, 98_800.0, 29_100_000.0]


def test_a_dominated_cell_gets_a_partner_so_the_subtotal_does_not_give_it_away() -> None:
    amounts = pd.Series([5000.0, 800.0, 900.0, 4000.0, 3000.0], index=list("abcde"))
    groups = pd.Series([1, 1, 1, 2, 2])
    primary = np.zeros(5 + 2 + 1, dtype=bool)
    primary[0] = True  # cell a: one person carries most of it
    out = protect_amounts_grouped(amounts, groups, primary, RULE)
    withheld = out.loc[out["suppressed"], "label"].tolist()
    assert "a" in withheld and len([w for w in withheld if w in "abc"]) >= 2
    assert out.loc[out["label"] == "d", "amount"].iloc[0] == 4000.0


@given(
    st.lists(st.tuples(st.integers(0, 3), st.floats(0, 1e6, allow_nan=False), st.booleans()), min_size=1, max_size=14)
)
def test_no_line_holds_exactly_one_withheld_amount(entries: list[tuple[int, float, bool]]) -> None:
    groups = pd.Series([g for g, _, _ in entries])
    amounts = pd.Series([a for _, a, _ in entries], index=[f"c{i}" for i in range(len(entries))])
    n_groups = groups.nunique()
    primary = np.r_[[p for _, _, p in entries], np.zeros(n_groups + 1, dtype=bool)]
    out = protect_amounts_grouped(amounts, groups, primary, RULE)
    suppressed = out["suppressed"].to_numpy()
    values = np.r_[np.round(amounts.to_numpy()), np.zeros(n_groups + 1)]
    # Every primary entry with a non-zero amount is withheld...
    assert all(suppressed[i] for i, (_, a, p) in enumerate(entries) if p and round(a) != 0)
    # ...and no additive line (a group with its subtotal; the subtotals with the total) holds exactly one.
    keys = list(dict.fromkeys(groups.tolist()))
    n = len(entries)
    lines = [[*np.flatnonzero(groups.to_numpy() == k), n + j] for j, k in enumerate(keys)]
    lines.append([*range(n, n + len(keys)), n + len(keys)])
    for line in lines:
        assert suppressed[line].sum() != 1, (line, suppressed, values)
    assert out["amount"].isna().to_numpy().tolist() == suppressed.tolist()


def test_no_contributions_dominate_no_cell() -> None:
    got = dominated(pd.DataFrame({"cell": [], "cost": []}), ["cell"], "cost", RULE)
    assert got.empty and got.dtype == bool
