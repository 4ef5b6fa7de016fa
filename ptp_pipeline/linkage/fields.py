"""Per-field keyed tokens for linkage: exact and fuzzy forms, made inside the pseudonymise stage.

Splink (and the cascade) compare tokens only: two records agree on a level when their tokens for
that form are equal. So every fuzzy form a comparison needs (phonetic code, first and last
letters, date parts, day/month swapped, postcode sector and district, house number and street of
the address line) is worked out here from the normalised identifiers and keyed, and no raw value
leaves this stage.

Name forms of forename and surname share one sub-key, so a swapped forename/surname shows up as
`fn_l = sn_r`; everything else has its own sub-key. Values are worked out once per distinct value
(an extract holds far fewer names than rows), so no per-row Python runs.
"""

from __future__ import annotations

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ptp_pipeline.privacy.address import person_address
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.names import ARROW_STRING, apply_to_uniques, regex_replace
from ptp_pipeline.privacy.nicknames import NICKNAMES
from ptp_pipeline.privacy.normalise import normalise_name
from ptp_pipeline.privacy.tokens import hmac_tokens

#: Strong identifiers: one person each (NHS number, or another kind a protocol declares).
STRONG = ("nhs", "ni", "uln", "shared_ref")
#: Token column -> sub-key family. Columns of one family are comparable with each other.
TOKEN_FAMILY: dict[str, str] = {
    "nhs": "nhs", "ni": "ni", "uln": "uln", "shared_ref": "shared_ref", "local_id": "local_id",
    "fn": "name", "fn_full": "name", "sn": "name", "fn_ph": "name_ph", "sn_ph": "name_ph",
    "fn3": "name3", "sn3": "name3", "fn_l3": "name_l3", "sn_l3": "name_l3",
    "fn_srt": "name_srt", "sn_srt": "name_srt", "fn_i": "initial",
    "dob": "dob", "dob_sw": "dob", "dob_y": "dob_y", "dob_m": "dob_m", "dob_d": "dob_d",
    "pc": "pc", "pc_sec": "pc_sec", "pc_dist": "pc_dist", "sex": "sex",
    "ad_no": "ad_no", "ad_st": "ad_st", "ad_st5": "ad_st5", "ad_loc": "ad_loc",
}
TOKEN_COLUMNS = list(TOKEN_FAMILY)
#: The identity: what makes two records the same record for linkage (every derived form follows).
IDENTITY_PARTS = ("nhs", "ni", "uln", "shared_ref", "local_id", "forename", "surname", "date_of_birth",
                  "postcode", "sex", "address_line")
#: Address forms: in the identity text only where a record has an address, so the identity tokens of
#: records without one are those made before addresses were person evidence (stored idents still match).
ADDRESS_COLUMNS = ("ad_no", "ad_st", "ad_loc")
IDENT = "ident"
TOKEN_HEX = 16  # 64 bits per field token: collisions negligible at national scale for fuzzy features


def _metaphone_text(u: pd.Series) -> pd.Series:
    def code(v: object) -> object:
        if not isinstance(v, str) or not v.isascii() or not v.isalpha():
            return v if isinstance(v, str) else None
        return jellyfish.metaphone(v) or None

    return pd.Series([code(v) for v in u], index=u.index, dtype="string")


def _sorted_letters(u: pd.Series) -> pd.Series:
    return pd.Series(["".join(sorted(v)) if isinstance(v, str) and len(v) > 2 else None for v in u],
                     index=u.index, dtype="string")


def metaphone(s: pd.Series) -> pd.Series:
    """Metaphone code of a compact A-Z name (jellyfish); other scripts keep their letters."""
    return apply_to_uniques(s.astype("string"), _metaphone_text)


def _compact(name: pd.Series) -> pd.Series:
    """A normalised name without spaces: "MC DONALD" and "MCDONALD" agree."""
    return name.astype("string").str.replace(" ", "", regex=False).replace("", pd.NA)


def comparison_values(parts: pd.DataFrame) -> pd.DataFrame:
    """Raw comparison forms (restricted, in memory only) from normalised identity parts.

    `parts` columns (any may be absent): forename and surname as `normalise_name` gives them,
    date_of_birth (ISO text), postcode, sector, district (canonical UK forms, or text as given),
    sex, nhs (and other strong ids), local_id (already partner-prefixed), address_line (as written:
    its house number and street are worked out here, as for households) or house_number and street
    as `person_address` gives them, locality.
    """
    na = pd.Series(pd.NA, index=parts.index, dtype="string")
    out = pd.DataFrame(index=parts.index)
    for sid in (*STRONG, "local_id"):
        out[sid] = parts[sid].astype("string") if sid in parts else na
    forename = parts["forename"].astype("string") if "forename" in parts else na
    surname = parts["surname"].astype("string") if "surname" in parts else na
    first = regex_replace(forename, " .*$", "").replace("", pd.NA)  # the first word (in Arrow)
    out["fn"] = apply_to_uniques(first, lambda u: u.map(lambda v: NICKNAMES.get(v, v) if isinstance(v, str) else v))
    out["fn_full"] = _compact(forename)
    out["sn"] = _compact(surname)
    out["fn_ph"] = metaphone(first)
    out["sn_ph"] = metaphone(out["sn"])
    out["fn3"] = first.str.slice(0, 3)
    out["fn_l3"] = first.str.slice(-3).where(first.str.len() > 3)
    # The same letters in another order (a transposition typo): Aliosn, lAison -> AILNOS.
    out["fn_srt"] = apply_to_uniques(first, _sorted_letters)
    out["sn_srt"] = apply_to_uniques(out["sn"], _sorted_letters)
    out["sn3"] = out["sn"].str.slice(0, 3)
    out["sn_l3"] = out["sn"].str.slice(-3)
    out["fn_i"] = first.str.slice(0, 1)
    dob = parts["date_of_birth"].astype("string") if "date_of_birth" in parts else na
    dob = dob.where(dob.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False))
    out["dob"] = dob
    y, m, d = dob.str.slice(0, 4), dob.str.slice(5, 7), dob.str.slice(8, 10)
    swapped = (y + "-" + d + "-" + m).where(d.astype("Int64") <= 12) if len(dob) else dob
    out["dob_sw"] = swapped.where(d != m)
    out["dob_y"], out["dob_m"], out["dob_d"] = y, m, d
    out["pc"] = parts["postcode"].astype("string") if "postcode" in parts else na
    out["pc_sec"] = parts["sector"].astype("string") if "sector" in parts else na
    out["pc_dist"] = parts["district"].astype("string") if "district" in parts else na
    out["sex"] = parts["sex"].astype("string").str.upper().str.slice(0, 1) if "sex" in parts else na
    if "address_line" in parts and "street" not in parts:
        parts = pd.concat([parts, person_address(parts["address_line"].astype("string"))
                           .rename(columns={"number": "house_number"})], axis=1)
    out["ad_no"] = parts["house_number"].astype("string") if "house_number" in parts else na
    out["ad_st"] = _compact(parts["street"]) if "street" in parts else na  # "COPE PLACE" = "COPEPLACE"
    out["ad_st5"] = out["ad_st"].str.slice(0, 5)  # the street's name with its type mistyped
    out["ad_loc"] = _compact(normalise_name(parts["locality"].astype("string"))) if "locality" in parts else na
    return out.astype("string")


def identity_text(values: pd.DataFrame) -> pd.Series:
    """One text per record holding every identity part; <NA> when the record has none at all."""
    cols = ["nhs", "ni", "uln", "shared_ref", "local_id", "fn_full", "fn", "sn", "dob", "pc", "sex"]
    # One Arrow join of all parts ("~" for a missing one, never NUL: Arrow text hashing stops at it),
    # rather than ten pandas concatenations each making a new column.
    parts = [pc.fill_null(pa.array(values[c].astype(ARROW_STRING).array), "~") for c in cols]
    joined = pc.binary_join_element_wise(*parts, pa.scalar("|", pa.large_string()))
    has_address = values[list(ADDRESS_COLUMNS)].notna().any(axis=1).to_numpy()
    if has_address.any():
        address = [pc.fill_null(pa.array(values[c].astype(ARROW_STRING).array), "~") for c in ADDRESS_COLUMNS]
        with_address = pc.binary_join_element_wise(joined, pa.scalar("@", pa.large_string()), *address,
                                                  pa.scalar("|", pa.large_string()))
        joined = pc.if_else(pa.array(has_address), with_address, joined)
    text = pd.Series(pd.arrays.ArrowStringArray(joined.cast(pa.large_string())),
                     index=values.index)
    return text.where(linkable(values))


def linkable(values: pd.DataFrame) -> pd.Series:
    """Enough to tell one person from another: a strong or partner identifier, a name with a date
    of birth, a full name with a postcode, or a name or date of birth at a house (`at_a_house`).
    Anything less (a postcode and a sex) would make many strangers one identity, so such a record is
    its own person, counted as unlinkable. Works on values and on their tokens alike (presence only)."""
    return _named(values) | at_a_house(values)


def _named(values: pd.DataFrame) -> pd.Series:
    strong = values[["nhs", "ni", "uln", "shared_ref", "local_id"]].notna().any(axis=1)
    name = values["fn"].notna() | values["sn"].notna()
    full_name = values["fn"].notna() & values["sn"].notna()
    return strong | (name & values["dob"].notna()) | (full_name & values["pc"].notna())


def at_a_house(values: pd.DataFrame) -> pd.Series:
    """Linkable only by a house (number and street) with one name or the date of birth: "Lee at 4 Whiteside
    Court" (FEBRL: a fifth of the true pairs the project left apart had such a record). It cannot tell the people
    of one household apart, so it joins at most one person, the most likely (`engine.one_link_each`)."""
    house = values["ad_no"].notna() & values["ad_st"].notna()
    some = values["fn"].notna() | values["sn"].notna() | values["dob"].notna()
    return house & some & ~_named(values)


def _tokens_of(key: bytes, values: pd.Series) -> pd.Series:
    """HMAC once per distinct value, mapped back to every row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series(pd.NA, index=values.index, dtype="string")
    toks = pa.array(hmac_tokens(key, pd.Series(uniques, dtype="string")).array)
    short = pc.utf8_slice_codeunits(toks, 0, TOKEN_HEX)
    # Back to the rows in Arrow (a missing value's code is -1: a null index takes a null).
    rows = short.take(pa.array(np.maximum(codes, 0), mask=codes < 0))
    return pd.Series(pd.arrays.ArrowStringArray(rows), index=values.index)


def linkage_tokens(key: ProjectKey, parts: pd.DataFrame) -> pd.DataFrame:
    """Keyed tokens of every comparison form, plus the identity token `ident` (32 hex, or <NA>)."""
    values = comparison_values(parts)
    out = pd.DataFrame(index=parts.index)
    subkeys: dict[str, bytes] = {}
    for col in TOKEN_COLUMNS:
        family = TOKEN_FAMILY[col]
        sub = subkeys.setdefault(family, key.subkey("field/" + family))
        out[col] = _tokens_of(sub, values[col])
    ident = identity_text(values)
    codes, uniques = pd.factorize(ident, use_na_sentinel=True)
    if len(uniques):
        toks = hmac_tokens(key.subkey("identity"), pd.Series(uniques, dtype="string")).to_numpy(dtype=object)
        out[IDENT] = pd.Series(toks[codes], index=parts.index, dtype="string").mask(codes < 0)
    else:
        out[IDENT] = pd.Series(pd.NA, index=parts.index, dtype="string")
    return out


def strong_tokens(key: ProjectKey, kind: str, values: pd.Series) -> pd.Series:
    """Tokens of normalised strong identifiers as the identities hold them (opt-out look-ups)."""
    return _tokens_of(key.subkey("field/" + TOKEN_FAMILY[kind]), values.astype("string"))
