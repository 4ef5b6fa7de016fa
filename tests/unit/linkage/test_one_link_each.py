"""A weak identity (one name or the date of birth at a house) keeps one link: the people of a house stay apart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ptp_pipeline.linkage.engine import one_link_each


def edges(*rows: tuple[int, int, str]) -> pd.DataFrame:
    """Edges strongest first, as `in_cluster_order` gives them."""
    return pd.DataFrame({"ident_l": [r[0] for r in rows], "ident_r": [r[1] for r in rows],
                         "key": [r[2] for r in rows]})


def pairs(frame: pd.DataFrame) -> list[tuple[int, int]]:
    return list(zip(frame.ident_l.tolist(), frame.ident_r.tolist(), strict=True))


def test_a_new_weak_identity_keeps_its_strongest_link_only() -> None:
    # 0 Amy, 1 John (new, named), 2 "Lee at their house" (new, weak), 3 stored: linked to both, 2 keeps its first.
    weak = np.array([False, False, True, False])
    out = one_link_each(edges((1, 2, "probabilistic"), (0, 2, "probabilistic"), (0, 3, "name_dob")), weak, 3)
    assert pairs(out) == [(1, 2), (0, 3)]


def test_two_weak_identities_may_link_each_to_one_other() -> None:
    # 2 and 3 weak: 3's first link is to 2, 2's to 0; both stand, so all three are one person, and 1 stays apart.
    weak = np.array([False, False, True, True])
    out = one_link_each(edges((0, 2, "probabilistic"), (2, 3, "probabilistic"), (1, 3, "probabilistic"),
                              (1, 2, "probabilistic")), weak, 4)
    assert pairs(out) == [(0, 2), (2, 3)]


def test_a_stored_weak_identity_links_nothing_new_but_a_clerical_decision_stands() -> None:
    # Codes from 2 are stored identities; 3 is weak. A new record never joins a person through 3 on its own,
    # but a data officer's accepted pair does, and is the weak identity's one link (here 2's).
    weak = np.array([False, True, False, True])
    out = one_link_each(edges((0, 3, "probabilistic"), (1, 2, "probabilistic"), (1, 0, "clerical")), weak, 2)
    assert pairs(out) == [(1, 0)]
    named = one_link_each(edges((0, 2, "probabilistic")), weak, 2)
    assert pairs(named) == [(0, 2)], "links between identities that are not weak are untouched"
