"""A weak identity (one name or the date of birth at a house) keeps one link: the people of a house stay apart."""

from __future__ import annotations

import dataclasses
import secrets

import numpy as np
import pandas as pd

from ptp_pipeline.linkage.engine import config_from, link_batch, one_link_each, weak_review
from ptp_pipeline.linkage.fields import IDENT, linkage_tokens
from ptp_pipeline.linkage.frame import frame_parts
from ptp_pipeline.linkage.model import settings
from ptp_pipeline.privacy.keys import ProjectKey


def edges(*rows: tuple[int, int, str, float]) -> pd.DataFrame:
    """Edges strongest first, as `in_cluster_order` gives them (key order: cascade 0, probabilistic 1, clerical 2)."""
    order = {"name_dob": 0, "probabilistic": 1, "clerical": 2}
    return pd.DataFrame({"ident_l": [r[0] for r in rows], "ident_r": [r[1] for r in rows],
                         "key": [r[2] for r in rows], "order": [order[r[2]] for r in rows],
                         "match_probability": [r[3] for r in rows]})


def pairs(frame: pd.DataFrame) -> list[tuple[int, int]]:
    return list(zip(frame.ident_l.tolist(), frame.ident_r.tolist(), strict=True))


def flags(*codes: int, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(codes)] = True
    return out


def test_a_new_weak_identity_keeps_its_strongest_link_only() -> None:
    # 0 Amy, 1 John (new, named), 2 "Lee at their house" (new, weak), 3 stored: linked to both, 2 keeps its first.
    weak = flags(2, n=4)
    out = one_link_each(edges((1, 2, "probabilistic", 0.99), (0, 2, "probabilistic", 0.98),
                              (0, 3, "name_dob", 1.0)), weak, weak, np.arange(4))
    assert pairs(out) == [(1, 2), (0, 3)]


def test_a_weak_identity_as_like_two_persons_stays_alone() -> None:
    weak = flags(2, n=3)
    tied = edges((0, 2, "probabilistic", 0.999), (1, 2, "probabilistic", 0.999))
    assert pairs(one_link_each(tied, weak, weak, np.arange(3))) == []
    same_person = one_link_each(tied, weak, weak, np.array([0, 0, 1]))
    assert pairs(same_person) == [(0, 2)], "two identities of one person are no ambiguity"


def test_two_weak_identities_may_link_each_to_one_other() -> None:
    # 2 and 3 weak: 3's first link is to 2, 2's to 0; both stand, so all three are one person, and 1 stays apart.
    weak = flags(2, 3, n=4)
    out = one_link_each(edges((0, 2, "probabilistic", 0.99), (2, 3, "probabilistic", 0.98),
                              (1, 3, "probabilistic", 0.97), (1, 2, "probabilistic", 0.96)), weak, weak, np.arange(4))
    assert pairs(out) == [(0, 2), (2, 3)]


def test_a_stored_weak_identity_links_only_while_alone_and_a_clerical_decision_stands() -> None:
    # 1 is new and weak; 3 is stored and weak and has made its link (not free). A new record never joins a person
    # through 3, but a data officer's accepted pair stands, and is 1's one link (not its stronger one to 2).
    weak, free = flags(1, 3, n=4), flags(1, n=4)
    out = one_link_each(edges((0, 3, "probabilistic", 0.99), (1, 2, "probabilistic", 0.99),
                              (1, 0, "clerical", 1.0)), weak, free, np.arange(4))
    assert pairs(out) == [(1, 0)]
    alone = one_link_each(edges((0, 3, "probabilistic", 0.99)), weak, weak, np.arange(4))
    assert pairs(alone) == [(0, 3)], "a stored weak identity still alone in its person makes its one link"
    named = one_link_each(edges((0, 2, "probabilistic", 0.99)), weak, free, np.arange(4))
    assert pairs(named) == [(0, 2)], "links between identities that are not weak are untouched"


def test_review_offers_a_weak_identity_once_and_only_while_unlinked() -> None:
    review = pd.DataFrame({"ident_l": [0, 1, 3, 4], "ident_r": [2, 2, 2, 5], "match_probability": [0.6, 0.7, 0.8, 0.9]})
    weak = flags(2, n=6)
    assert pairs(weak_review(review, weak, weak, np.zeros(6, dtype=bool))) == [(3, 2), (4, 5)]
    assert pairs(weak_review(review, weak, weak, flags(2, n=6))) == [(4, 5)], "linked already: nothing to review"


def test_a_surname_at_a_house_is_not_put_to_review_with_the_other_person_of_the_house() -> None:
    # The reviewer's case: Lee (sex F) joins Amy; the pair Lee-Jonathan would have been offered for review,
    # and accepting it would have made Amy and Jonathan one person.
    house = {"street_number": "4", "street": "Whiteside Court", "locality": "Leeds", "postcode": "LS6 2AB"}
    frame = pd.DataFrame([
        {"forename": "Amy", "surname": "Lee", "date_of_birth": "1981-03-07", "sex": "F", **house},
        {"forename": "Jonathan", "surname": "Lee", "date_of_birth": "1979-11-23", "sex": "M", **house},
        {"forename": "", "surname": "Lee", "date_of_birth": "", "sex": "F", **house}])
    tokens = linkage_tokens(ProjectKey("t", secrets.token_bytes(32)), frame_parts(frame))
    # A threshold between the two pairs' probabilities (0.99997 and 0.999): Lee-Jonathan falls in the review band.
    cfg = dataclasses.replace(config_from(None), threshold=0.99995, review_from=0.5)
    linked = link_batch(tokens, pd.DataFrame(), cfg, settings(), 1, tf={})
    person = linked.identities.set_index(IDENT)["person_id"]
    amy, jonathan, lee = (person[t] for t in tokens[IDENT])
    assert amy != jonathan and lee == amy
    assert linked.review.empty, "no pair that would join the house's two people"
