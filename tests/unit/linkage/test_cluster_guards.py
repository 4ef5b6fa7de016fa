"""The over-merge guards and the comparison forms, case by case with hand-worked answers.

`cluster` joins linked records into persons, strongest link first, except where a person would grow past
`max_size` identities or hold two different strong identifiers of one kind. `comparison_values` and
`linkable` decide what a record can be compared on, and whether it may link at all. Fast on purpose: these
are the tests `make mutation` runs against every mutant of `linkage/cluster.py` and `linkage/fields.py`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ptp_pipeline.linkage.cluster import Guards, cluster
from ptp_pipeline.linkage.fields import (
    IDENT,
    TOKEN_COLUMNS,
    at_a_house,
    comparison_values,
    identity_text,
    linkable,
    linkage_tokens,
    strong_tokens,
)
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.tokens import hmac_token

LOOSE = Guards(max_size=10, veto=False)


def edges(*pairs: tuple[int, int, bool]) -> pd.DataFrame:
    return pd.DataFrame({"a": [p[0] for p in pairs], "b": [p[1] for p in pairs],
                         "probability": np.linspace(1, 0.5, len(pairs)), "conflict": [p[2] for p in pairs]})


def groups(labels: np.ndarray) -> list[list[int]]:
    """Persons as sorted lists of nodes, whatever the label numbers."""
    by: dict[int, list[int]] = {}
    for node, label in enumerate(labels.tolist()):
        by.setdefault(label, []).append(node)
    return sorted(by.values())


def ones(n: int) -> np.ndarray:
    return np.ones(n)


def test_no_links_leaves_every_record_alone() -> None:
    assert cluster(3, ones(3), [frozenset()] * 3, edges(), LOOSE).tolist() == [0, 1, 2]


def test_links_without_a_guard_join_whole_components() -> None:
    strong = [frozenset({"nhs:a"}), frozenset(), frozenset({"nhs:a"}), frozenset(), frozenset()]
    labels = cluster(5, ones(5), strong, edges((0, 1, False), (1, 2, False), (3, 4, False)), LOOSE)
    assert groups(labels) == [[0, 1, 2], [3, 4]]


def test_size_guard_stops_at_max_size_strongest_links_first() -> None:
    # a chain 0-1-2-3 with max_size 2: 0-1 joins first, 1-2 would make 3, 2-3 joins
    labels = cluster(4, ones(4), [frozenset()] * 4, edges((0, 1, False), (1, 2, False), (2, 3, False)),
                     Guards(max_size=2, veto=False))
    assert groups(labels) == [[0, 1], [2, 3]]


def test_size_counts_the_identities_a_node_already_stands_for() -> None:
    size = np.array([3.0, 1.0, 1.0])
    within = cluster(3, size, [frozenset()] * 3, edges((0, 1, False), (1, 2, False)), Guards(max_size=5, veto=False))
    assert groups(within) == [[0, 1, 2]], "3 + 1 + 1 = 5 is allowed"
    over = cluster(3, size, [frozenset()] * 3, edges((1, 2, False), (0, 1, False)), Guards(max_size=4, veto=False))
    assert groups(over) == [[0], [1, 2]], "3 + 2 = 5 is past 4: the existing person stays as it is"


def test_a_chain_through_others_never_joins_two_nhs_numbers() -> None:
    strong = [frozenset({"nhs:a"}), frozenset(), frozenset({"nhs:b"})]
    labels = cluster(3, ones(3), strong, edges((0, 1, False), (1, 2, False)), LOOSE)
    assert groups(labels) == [[0, 1], [2]]


def test_two_kinds_of_strong_identifier_may_join() -> None:
    strong = [frozenset({"nhs:a"}), frozenset({"ni:x"}), frozenset({"nhs:b"})]
    labels = cluster(3, ones(3), strong, edges((0, 1, False), (1, 2, False)), LOOSE)
    assert groups(labels) == [[0, 1], [2]], "nhs and ni join; a second nhs then clashes"


def test_a_direct_pair_with_differing_numbers_joins_on_its_evidence_unless_vetoed() -> None:
    strong = [frozenset({"nhs:a"}), frozenset({"nhs:b"}), frozenset()]
    pairs = edges((0, 1, True), (1, 2, False))
    # joined on its evidence, the pair then holds two NHS numbers: nothing may chain onto it
    assert groups(cluster(3, ones(3), strong, pairs, LOOSE)) == [[0, 1], [2]]
    assert groups(cluster(3, ones(3), strong, pairs, Guards(max_size=10, veto=True))) == [[0], [1, 2]]


def test_an_oversized_component_and_a_clashing_one_are_both_guarded() -> None:
    strong = [frozenset(), frozenset(), frozenset(), frozenset({"nhs:a"}), frozenset({"nhs:b"})]
    labels = cluster(5, ones(5), strong, edges((0, 1, False), (1, 2, False), (3, 4, False)),
                     Guards(max_size=2, veto=False))
    assert groups(labels) == [[0, 1], [2], [3], [4]]


def test_guarded_components_get_labels_apart_from_unguarded_ones() -> None:
    strong = [frozenset({"nhs:a"}), frozenset({"nhs:b"}), frozenset(), frozenset()]
    labels = cluster(4, ones(4), strong, edges((0, 1, False), (2, 3, False)), LOOSE)
    assert groups(labels) == [[0], [1], [2, 3]]
    assert labels[0] >= 4 and labels[1] >= 4 and labels[2] == labels[3] < 4


def parts(**columns: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype="string") for k, v in columns.items()})


def test_comparison_forms_of_one_record() -> None:
    out = comparison_values(parts(forename=["BOB JAMES"], surname=["MC DONALD"], date_of_birth=["1980-03-07"],
                                  postcode=["LS6 2AB"], sector=["LS6 2"], district=["LS6"], sex=["female"],
                                  nhs=["9434765919"], address_line=["Flat 2, 14 Hyde Park Rd."],
                                  locality=["Headingley"]))
    row = {k: (None if pd.isna(v) else v) for k, v in out.iloc[0].items()}
    assert row == {
        "nhs": "9434765919", "ni": None, "uln": None, "shared_ref": None, "local_id": None,
        "fn": "ROBERT", "fn_full": "BOBJAMES", "sn": "MCDONALD", "fn_ph": "BB", "sn_ph": "MKTNLT",
        "fn3": "BOB", "fn_l3": None, "fn_srt": "BBO", "sn_srt": "ACDDLMNO", "sn3": "MCD", "sn_l3": "ALD",
        "fn_i": "B", "dob": "1980-03-07", "dob_sw": "1980-07-03", "dob_y": "1980", "dob_m": "03", "dob_d": "07",
        "pc": "LS6 2AB", "pc_sec": "LS6 2", "pc_dist": "LS6", "sex": "F",
        "ad_no": "14", "ad_st": "HYDEPARKROAD", "ad_st5": "HYDEP", "ad_loc": "HEADINGLEY",
    }
    assert (out.dtypes == "string").all()


def test_date_forms_swap_only_when_the_day_could_be_a_month() -> None:
    out = comparison_values(parts(date_of_birth=["1980-03-13", "1980-05-05", "1980-03-12", "80-03-12", None]))
    assert [None if pd.isna(v) else v for v in out["dob_sw"]] == [None, None, "1980-12-03", None, None]
    assert [None if pd.isna(v) else v for v in out["dob"]] == ["1980-03-13", "1980-05-05", "1980-03-12", None, None]


def test_short_and_long_first_names() -> None:
    out = comparison_values(parts(forename=["AL", "ALISON", "", "JOHN"], surname=["OX", "LEE", "KAY", " "]))
    assert [None if pd.isna(v) else v for v in out["fn_l3"]] == [None, "SON", None, "OHN"]
    assert [None if pd.isna(v) else v for v in out["fn3"]] == ["AL", "ALI", None, "JOH"]
    assert [None if pd.isna(v) else v for v in out["fn_full"]] == ["AL", "ALISON", None, "JOHN"]
    assert pd.isna(out["sn"].iloc[3]), "a surname of spaces is no surname"
    assert [None if pd.isna(v) else v for v in out["fn_srt"]] == [None, "AILNOS", None, "HJNO"]
    assert [None if pd.isna(v) else v for v in out["sn_srt"]] == [None, "EEL", "AKY", None]
    assert [None if pd.isna(v) else v for v in out["fn"]] == ["AL", "ALISON", None, "JOHN"]


def test_phonetic_codes_only_for_plain_letters() -> None:
    out = comparison_values(parts(surname=["SMITH-JONES", "ŁUKASZ", "SMITH"]))
    assert out["sn_ph"].tolist() == ["SMITH-JONES", "ŁUKASZ", "SM0"], "other names keep their letters"


def test_what_makes_a_record_linkable() -> None:
    values = comparison_values(parts(
        nhs=["9434765919", None, None, None, None, None, None, None],
        local_id=[None, "police:17", None, None, None, None, None, None],
        forename=[None, None, "ANN", None, "ANN", "ANN", None, None],
        surname=[None, None, None, "LEE", "LEE", "LEE", None, "LEE"],
        date_of_birth=[None, None, "1980-01-02", "1980-01-02", None, None, "1980-01-02", None],
        postcode=[None, None, None, None, "LS6 2AB", None, "LS6 2AB", "LS6 2AB"],
    ))
    # strong id, partner id, forename + dob, surname + dob, full name + postcode, full name only,
    # dob + postcode, surname + postcode
    assert linkable(values).tolist() == [True, True, True, True, True, False, False, False]
    text = identity_text(values)
    assert text.isna().tolist() == [False, False, False, False, False, True, True, True]
    assert text.iloc[0] == "9434765919|~|~|~|~|~|~|~|~|~|~"
    assert text.iloc[4] == "~|~|~|~|~|ANN|ANNE|LEE|~|LS6 2AB|~", "fn_full, then fn (nickname table)"


def test_one_name_or_a_date_of_birth_at_a_house_is_linkable_and_weak() -> None:
    values = comparison_values(parts(
        forename=[None, "ANN", None, None, None, "ANN"],
        surname=["LEE", None, None, None, None, "LEE"],
        date_of_birth=[None, None, "1980-01-02", None, "1980-01-02", "1980-01-02"],
        postcode=["LS6 2AB"] * 6,
        address_line=["4 Whiteside Court", "4 Whiteside Court", "4 Whiteside Court", "4 Whiteside Court",
                      "Whiteside Court", "4 Whiteside Court"],
    ))
    # surname, forename or date of birth at a house; the house alone; no house number; a named person at a house
    assert linkable(values).tolist() == [True, True, True, False, False, True]
    assert at_a_house(values).tolist() == [True, True, True, False, False, False]
    assert identity_text(values).isna().tolist() == [False, False, False, True, True, False]


KEY = ProjectKey("test-project", bytes(range(32)))


def test_tokens_are_keyed_per_family_and_cut_to_16_hex() -> None:
    frame = parts(forename=["ANN", "LEE", None], surname=["LEE", "LEE", None], date_of_birth=["1980-03-07"] * 3,
                  nhs=["9434765919", None, None])
    out = linkage_tokens(KEY, frame)
    assert list(out.columns) == [*TOKEN_COLUMNS, IDENT]
    name_key = KEY.subkey("field/name")
    assert out["sn"].tolist()[:2] == [hmac_token(name_key, "LEE")[:16]] * 2
    assert out["fn"].iloc[1] == out["sn"].iloc[0], "forename and surname share a sub-key: swaps show"
    assert out["fn"].iloc[0] == hmac_token(name_key, "ANNE")[:16]
    assert out["nhs"].iloc[0] == hmac_token(KEY.subkey("field/nhs"), "9434765919")[:16]
    assert out["dob"].iloc[0] == hmac_token(KEY.subkey("field/dob"), "1980-03-07")[:16]
    assert pd.isna(out["nhs"].iloc[1]) and pd.isna(out["fn"].iloc[2])
    values = comparison_values(frame)
    assert out[IDENT].tolist()[:2] == [hmac_token(KEY.subkey("identity"), t) for t in identity_text(values)[:2]]
    assert out[IDENT].str.len().tolist()[:2] == [32, 32]
    assert pd.isna(out[IDENT].iloc[2]), "a date of birth alone is not linkable"
    assert (out.dtypes == "string").all()


def test_a_frame_of_unlinkable_records_has_no_identity_tokens() -> None:
    out = linkage_tokens(KEY, parts(postcode=["LS6 2AB", None], sex=["F", None]))
    assert out[IDENT].isna().all() and out["fn"].isna().all() and out[IDENT].dtype == "string"
    assert out["pc"].iloc[0] == hmac_token(KEY.subkey("field/pc"), "LS6 2AB")[:16] and pd.isna(out["pc"].iloc[1])


def test_strong_tokens_match_the_identity_tokens() -> None:
    numbers = pd.Series(["9434765919", None, "9434765919"])
    got = strong_tokens(KEY, "nhs", numbers)
    expected = linkage_tokens(KEY, parts(nhs=["9434765919"]))["nhs"].iloc[0]
    assert got.tolist()[0] == got.tolist()[2] == expected and pd.isna(got.iloc[1])
    assert strong_tokens(KEY, "nhs", pd.Series([None, None], dtype="string")).isna().all()


def test_tokens_keep_the_records_own_index() -> None:
    frame = parts(forename=["ANN", None], surname=["LEE", None], date_of_birth=["1980-03-07", None])
    frame.index = pd.Index([10, 20])
    out = linkage_tokens(KEY, frame)
    assert list(out.index) == [10, 20]
    assert out["sn"].iloc[0] == hmac_token(KEY.subkey("field/name"), "LEE")[:16] and pd.isna(out["sn"].iloc[1])
    assert pd.notna(out[IDENT].iloc[0]) and pd.isna(out[IDENT].iloc[1])
    alone = parts(sex=["F", "M"])
    alone.index = pd.Index([3, 4])
    unlinkable = linkage_tokens(KEY, alone)
    assert list(unlinkable.index) == [3, 4] and unlinkable[IDENT].isna().all() and unlinkable["nhs"].isna().all()
    numbers = pd.Series(["9434765919", None], index=[7, 9])
    assert strong_tokens(KEY, "nhs", numbers).index.tolist() == [7, 9]
    assert strong_tokens(KEY, "nhs", numbers).iloc[0] == hmac_token(KEY.subkey("field/nhs"), "9434765919")[:16]
    blank = strong_tokens(KEY, "nhs", pd.Series([None, None], index=[7, 9], dtype="string"))
    assert blank.index.tolist() == [7, 9] and blank.isna().all()
