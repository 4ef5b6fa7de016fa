"""Address normaliser properties: equivalent spellings give the same tokens, different flats do not."""

from __future__ import annotations

import os

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.privacy.address import address_parts, address_tokens, normalise_uprn
from ptp_pipeline.privacy.keys import ProjectKey

KEY = ProjectKey("test", b"k" * 32)
# Normalising is cheap; tokenising opens DuckDB, so token properties run fewer examples in CI.
# Long runs on demand: PTP_HYPOTHESIS_EXAMPLES=2000 pytest tests/property/test_address.py
EXAMPLES = int(os.environ.get("PTP_HYPOTHESIS_EXAMPLES", "200"))
TOKEN_EXAMPLES = max(1, EXAMPLES // 8)
ROOTS = ["Hyde Park", "Kirkstall", "Church", "St Johns", "Mill", "Beech", "Chapel Allerton", "Queen", "Street"]
TYPES = [("Road", ["Rd", "Rd.", "RD"]), ("Street", ["St", "St.", "Str"]), ("Avenue", ["Ave", "Av"]),
         ("Lane", ["Ln"]), ("Terrace", ["Ter", "Terr", "Tce"]), ("Crescent", ["Cres"]), ("Grove", ["Gr", "Gro"]),
         ("Close", ["Cl"]), ("Gardens", ["Gdns"]), ("Drive", ["Dr"]), ("Place", ["Pl"])]
POSTCODES = ["LS6 2AB", "LS1 1AA", "LS11 0PW"]


@st.composite
def address(draw: st.DrawFn) -> dict[str, str]:
    type_long, shorts = draw(st.sampled_from(TYPES))
    flat = draw(st.one_of(st.just(""), st.integers(1, 40).map(str), st.sampled_from("ABCD")))
    return {"root": draw(st.sampled_from(ROOTS)), "type": type_long, "short": draw(st.sampled_from(shorts)),
            "number": str(draw(st.integers(1, 400))), "flat": flat, "postcode": draw(st.sampled_from(POSTCODES))}


@st.composite
def spelling(draw: st.DrawFn, a: dict[str, str]) -> str:
    """One way a partner might write address ``a``."""
    street = f"{a['root']} {draw(st.sampled_from([a['type'], a['short']]))}"
    number, flat = a["number"], a["flat"]
    if not flat:
        line = draw(st.sampled_from([f"{number} {street}", f"{number}, {street}"]))
    elif flat.isalpha():
        line = draw(st.sampled_from([f"{number}{flat} {street}", f"Flat {flat}, {number} {street}",
                                     f"{number}{flat.lower()}, {street}", f"FLAT {flat} {number} {street}"]))
    else:
        padded = draw(st.sampled_from([flat, flat.zfill(2)]))
        line = draw(st.sampled_from([f"Flat {padded}, {number} {street}", f"{flat}/{number} {street}",
                                     f"Apartment {padded} {number} {street}", f"Apt. {flat}, {number} {street}",
                                     f"{number} {street}, Flat {flat}", f"Flat No. {flat} {number} {street}",
                                     f"Flat{flat} {number} {street}"]))
    line += draw(st.sampled_from(["", ", Leeds", " Leeds", f", Leeds {a['postcode']}", f", {a['postcode']}",
                                  ", Headingley, Leeds"]))
    case = draw(st.sampled_from([str.upper, str.lower, str.title, lambda s: s]))
    spaced = draw(st.sampled_from([lambda s: s, lambda s: "  " + s.replace(" ", "  ") + " "]))
    return str(spaced(case(line)))


def tokens(lines: list[str], postcode: str) -> pd.DataFrame:
    s = pd.Series(lines, dtype="string")
    return address_tokens(KEY, address_parts(s), pd.Series(postcode, index=s.index, dtype="string"), None)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(st.data())
def test_equivalent_spellings_give_the_same_parts(data: st.DataObject) -> None:
    a = data.draw(address())
    lines = [data.draw(spelling(a)) for _ in range(4)]
    parts = address_parts(pd.Series(lines, dtype="string"))
    assert parts[["number", "street"]].notna().all().all(), lines
    assert len(parts.astype(str).drop_duplicates()) == 1, (lines, parts)
    assert parts["flat"].isna().all() if not a["flat"] else (parts["flat"] == a["flat"]).all(), lines


@settings(max_examples=TOKEN_EXAMPLES, deadline=None, derandomize=True)
@given(st.data())
def test_equivalent_spellings_give_the_same_tokens(data: st.DataObject) -> None:
    a = data.draw(address())
    lines = [data.draw(spelling(a)) for _ in range(3)]
    t = tokens(lines, a["postcode"])
    assert t["addr_street"].notna().all(), lines
    assert t["addr_street"].nunique() == 1, lines
    assert t["addr_flat"].isna().all() if not a["flat"] else (t["addr_flat"].notna().all() and
                                                               t["addr_flat"].nunique() == 1), lines


@settings(max_examples=TOKEN_EXAMPLES, deadline=None, derandomize=True)
@given(st.data())
def test_different_flats_never_share_a_flat_token(data: st.DataObject) -> None:
    a = data.draw(address().filter(lambda x: x["flat"] != ""))
    other = dict(a, flat=data.draw(st.one_of(st.integers(1, 40).map(str), st.sampled_from("ABCD"))
                                   .filter(lambda f: f != a["flat"])))
    t = tokens([data.draw(spelling(a)), data.draw(spelling(other))], a["postcode"])
    assert t["addr_flat"].notna().all()
    assert t["addr_flat"].iloc[0] != t["addr_flat"].iloc[1]


@settings(max_examples=TOKEN_EXAMPLES, deadline=None, derandomize=True)
@given(address())
def test_different_numbers_or_postcodes_differ(a: dict[str, str]) -> None:
    line = f"{a['number']} {a['root']} {a['type']}"
    moved = f"{int(a['number']) + 1} {a['root']} {a['type']}"
    t = tokens([line, moved, line], a["postcode"])
    assert t["addr_street"].iloc[0] != t["addr_street"].iloc[1]
    other_pc = next(p for p in POSTCODES if p != a["postcode"])
    t2 = address_tokens(KEY, address_parts(pd.Series([line, line], dtype="string")),
                        pd.Series([a["postcode"], other_pc], dtype="string"), None)
    assert t2["addr_street"].iloc[0] != t2["addr_street"].iloc[1]


def test_unparseable_or_blank_lines_give_no_token() -> None:
    t = tokens(["", "No fixed abode", "   "], "LS6 2AB")
    assert t.isna().all().all()
    t = address_tokens(KEY, address_parts(pd.Series(["14 Mill Lane"], dtype="string")),
                       pd.Series([pd.NA], dtype="string"), None)
    assert t.isna().all().all(), "no postcode, no address token: number + street alone is too loose"


def test_house_names_and_uprns() -> None:
    parts = address_parts(pd.Series(["Rose Cottage, Mill Lane", "ROSE COTTAGE, MILL LN, LEEDS"], dtype="string"))
    assert parts["number"].tolist() == ["ROSE COTTAGE"] * 2 and parts["street"].tolist() == ["MILL LANE"] * 2
    uprn = normalise_uprn(pd.Series(["000072012345", "72012345 ", "7201234567890", "72-01", None]))
    assert uprn.tolist()[:2] == ["72012345", "72012345"] and uprn.iloc[2:].isna().all()


def test_tokens_are_keyed_per_project_and_kind() -> None:
    parts = address_parts(pd.Series(["Flat 2, 14 Mill Lane"], dtype="string"))
    pc = pd.Series(["LS6 2AB"], dtype="string")
    mine = address_tokens(KEY, parts, pc, pd.Series(["72012345"], dtype="string"))
    theirs = address_tokens(ProjectKey("other", b"k" * 32), parts, pc, pd.Series(["72012345"], dtype="string"))
    assert (mine.iloc[0] != theirs.iloc[0]).all()
    assert mine.iloc[0].nunique() == 3


@settings(max_examples=max(1, EXAMPLES // 4))
@given(st.data())
def test_a_line_normalises_the_same_alone_or_among_others(data: st.DataObject) -> None:
    """Work is done over the distinct lines of a batch, abbreviated ones apart: no line's parts may depend on
    which other lines share its batch."""
    lines = [data.draw(spelling(data.draw(address()))) for _ in range(data.draw(st.integers(2, 6)))]
    together = address_parts(pd.Series(lines, dtype="string"))
    for i, line in enumerate(lines):
        alone = address_parts(pd.Series([line], dtype="string"))
        assert together.iloc[[i]].reset_index(drop=True).equals(alone), i
