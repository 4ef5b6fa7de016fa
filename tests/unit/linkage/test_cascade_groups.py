"""Splink scores only pairs the keyed cascade has not already joined (`engine.cascade_groups`, `engine.apart`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ptp_pipeline.linkage.engine import CASCADE_GROUP, apart, cascade_groups, in_cluster_order
from ptp_pipeline.linkage.model import BLOCKING_RULES, settings


def test_groups_follow_cascade_pairs_and_existing_persons() -> None:
    # Codes 0-2 are new identities, 3-5 existing ones: 3 and 4 are person 7, 5 is person 8.
    casc = pd.DataFrame({"ident_l": [0, 2], "ident_r": [1, 4]})
    group = cascade_groups(6, casc, np.array([7, 7, 8]))
    assert group[0] == group[1], "a cascade pair"
    assert group[2] == group[3] == group[4], "joined to person 7 through one of its identities"
    assert len({group[0], group[2], group[5]}) == 3, "nothing else joins"


def test_without_pairs_or_persons_every_identity_is_its_own_group() -> None:
    group = cascade_groups(4, pd.DataFrame({"ident_l": [], "ident_r": []}), np.array([], dtype=np.int64))
    assert sorted(group.tolist()) == [0, 1, 2, 3]


def test_every_blocking_rule_keeps_its_condition_and_skips_pairs_of_one_group() -> None:
    model = settings()
    rules = [r["blocking_rule"] for r in model["blocking_rules_to_generate_predictions"]]
    split = [r["blocking_rule"] for r in apart(model)["blocking_rules_to_generate_predictions"]]
    assert split == [f"({r}) AND l.{CASCADE_GROUP} <> r.{CASCADE_GROUP}" for r in rules]
    assert [r["blocking_rule"] for r in model["blocking_rules_to_generate_predictions"]] == rules, "copy, not edit"


def test_a_stored_model_scores_by_the_current_rules_not_those_it_was_saved_with() -> None:
    stored = settings()
    stored["blocking_rules_to_generate_predictions"] = [{"blocking_rule": "l.sn = r.sn"}]  # an older release's
    split = [r["blocking_rule"] for r in apart(stored)["blocking_rules_to_generate_predictions"]]
    assert split == [f"({r}) AND l.{CASCADE_GROUP} <> r.{CASCADE_GROUP}" for r in BLOCKING_RULES]


def test_edges_come_in_one_order_whatever_order_the_pairs_arrived_in() -> None:
    rng = np.random.default_rng(5)
    n = 300
    edges = pd.DataFrame({
        "ident_l": rng.integers(0, 40, n), "ident_r": rng.integers(40, 80, n),
        "match_probability": rng.choice([1.0, 0.99, 0.97], n), "order": rng.integers(0, 3, n),
        "key": "k",
    }).drop_duplicates(["ident_l", "ident_r"])
    first = in_cluster_order(edges).reset_index(drop=True)
    for seed in range(3):
        shuffled = edges.sample(frac=1.0, random_state=seed)
        assert in_cluster_order(shuffled).reset_index(drop=True).equals(first)
    assert (first["order"].diff().dropna() >= 0).all(), "strictest key first"
    same_order = first.groupby("order")["match_probability"].apply(lambda p: (p.diff().dropna() <= 0).all())
    assert same_order.all(), "then the most probable"
