"""Address normaliser and keyed address tokens: households are found on these, never on raw text.

Partners write one property many ways ("Flat 2, 14 Hyde Park Rd." / "2/14 HYDE PARK ROAD" /
"flat 2 14 hyde park road, Leeds LS6 2AB"; "14B High St" / "Flat B, 14 High Street"). The
normaliser reduces a line to (flat, number-or-house-name, street) so those agree, and the
tokens are keyed HMACs, strictest first:

- ``addr_uprn``: the UPRN (Unique Property Reference Number) where a partner supplies one;
- ``addr_flat``: flat + number + postcode, only for a line that names a flat;
- ``addr_street``: number + street + postcode.

Work is done once per distinct line (an extract repeats addresses), with regular expressions
over the distinct values; nothing loops over rows. Nothing here logs or raises with a value.
"""

from __future__ import annotations

import re

import pandas as pd

from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.names import apply_to_uniques, regex_extract, regex_replace, to_text
from ptp_pipeline.privacy.tokens import hmac_tokens

__all__ = ["ADDRESS_KEYS", "address_parts", "address_tokens", "normalise_uprn", "person_address"]

#: Address token names, strictest first; columns in the pseudonymised frame are KEY + name.
ADDRESS_KEYS = ("addr_uprn", "addr_flat", "addr_street")
UPRN_MAX_DIGITS = 12

# Street-type abbreviations as partners write them (Royal Mail / BS 7666 style long forms).
ABBREVIATIONS = {
    "RD": "ROAD", "AVE": "AVENUE", "AV": "AVENUE", "LN": "LANE", "DR": "DRIVE", "CL": "CLOSE",
    "CRES": "CRESCENT", "CRESC": "CRESCENT", "GDNS": "GARDENS", "GRN": "GREEN", "GR": "GROVE",
    "GRO": "GROVE", "PL": "PLACE", "SQ": "SQUARE", "TER": "TERRACE", "TERR": "TERRACE", "TCE": "TERRACE",
    "CT": "COURT", "PK": "PARK", "MT": "MOUNT", "WY": "WAY", "WK": "WALK", "HTS": "HEIGHTS", "VW": "VIEW",
    "BLDGS": "BUILDINGS", "HSE": "HOUSE", "STR": "STREET",
}  # fmt: skip
# A street ends at the first of these that follows another word: the rest is locality or town
# ("HYDE PARK ROAD HEADINGLEY LEEDS" -> "HYDE PARK ROAD"). PARK, GREEN, VIEW are left out on purpose:
# they start or sit inside street names (Hyde Park Road).
STREET_ENDS = ("ROAD", "STREET", "AVENUE", "LANE", "DRIVE", "CLOSE", "CRESCENT", "TERRACE", "GROVE",
               "GARDENS", "PLACE", "SQUARE", "WAY", "WALK", "ROW", "HILL", "MOUNT", "COURT")
FLAT_WORDS = ("FLAT", "FLT", "APARTMENT", "APPT", "APT", "UNIT", "ROOM", "RM", "STUDIO", "FLATLET")

_FLAT_ID = r"[0-9]+[A-Z]?|[A-Z]"
_POSTCODE_TAIL = r"\s*,?\s*[A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2}\s*$"
_PATTERNS = (
    # FLAT 2, 14 HIGH STREET / FLAT B 14 HIGH STREET
    re.compile(rf"^FLAT (?P<flat>{_FLAT_ID}) ?,? ?(?P<number>[0-9]+[A-Z]?(?:-[0-9]+)?) ?,? (?P<street>[^,]+)"),
    # 2/14 HIGH STREET
    re.compile(r"^(?P<flat>[0-9]+[A-Z]?) ?/ ?(?P<number>[0-9]+(?:-[0-9]+)?) ?,? (?P<street>[^,]+)"),
    # 14B HIGH STREET / 14 HIGH STREET / 14-16 HIGH STREET
    re.compile(r"^(?P<number>[0-9]+(?:-[0-9]+)?)(?P<letter>[A-Z])? ?,? (?P<street>[^,]+)"),
    # [FLAT 2,] ROSE COTTAGE, [3] MILL LANE: a house name stands in for the number
    re.compile(rf"^(?:FLAT (?P<flat>{_FLAT_ID}) ?,? )?(?P<number>[A-Z][A-Z ]*[A-Z]) ?, ?(?:[0-9]+ )?(?P<street>[^,]+)"),
)


def normalise_uprn(s: pd.Series) -> pd.Series:
    """UPRN as digits without leading zeros; <NA> unless it is 1-12 digits (spaces forgiven)."""
    digits = to_text(s).str.replace(r"\s+", "", regex=True).str.replace(r"\.0$", "", regex=True)
    ok = digits.str.fullmatch(f"[0-9]{{1,{UPRN_MAX_DIGITS}}}").fillna(False).astype(bool)
    out = digits.where(ok).str.lstrip("0")
    return out.where(out != "").astype("string")


def _clean(text: pd.Series) -> pd.Series:
    """Upper case, '&' as AND, apostrophes and dots gone, other punctuation a space, one space."""
    t = text.str.upper().str.replace("&", " AND ", regex=False)
    t = t.str.replace(r"['’`.]", "", regex=True)
    t = t.str.replace(r"[^A-Z0-9/,\-]+", " ", regex=True)
    t = t.str.replace(r" *, *", ", ", regex=True).str.replace(r" *- *", "-", regex=True)
    t = t.str.replace(r"(?:, )+", ", ", regex=True).str.strip(" ,")
    t = t.str.replace(_POSTCODE_TAIL, "", regex=True).str.strip(" ,")
    flat_words = "|".join(FLAT_WORDS)
    t = regex_replace(t, rf"\b(?:{flat_words})(?: NO| NUMBER)?(?: ([0-9A-Z])|([0-9]))", r"FLAT \1\2")
    t = t.str.replace(r"\bFLAT +", "FLAT ", regex=True)
    # A flat written after the street ("14 HIGH STREET, FLAT 2[, LEEDS]") moves to the front.
    return regex_replace(t, rf"^(.+?),? FLAT ({_FLAT_ID})((?:[ ,].*)?)$", r"FLAT \2, \1\3")


_ABBREVIATED = rf"\b(?:{'|'.join(ABBREVIATIONS)})\b"


def _street(street: pd.Series) -> pd.Series:
    words = street.str.strip()
    # One pass finds the streets holding any abbreviation; only those take the pass per abbreviation
    # (a long form never contains a short one as a word, so the others would come out unchanged).
    short_form = words.str.contains(_ABBREVIATED, regex=True).fillna(False).astype(bool)
    if short_form.any():
        some = words[short_form]
        for short, long in ABBREVIATIONS.items():
            some = some.str.replace(rf"\b{short}\b", long, regex=True)
        words = words.mask(short_form, some)
    words = words.str.replace(r"^ST\b", "SAINT", regex=True).str.replace(r"\bST\b", "STREET", regex=True)
    ends = "|".join(STREET_ENDS)
    words = regex_replace(words, rf"^(\S.*? (?:{ends}))\b.*$", r"\1")
    return words.str.replace(r"\s+", " ", regex=True).str.strip()


def _parts(text: pd.Series) -> pd.DataFrame:
    clean = _clean(text)
    columns = ("flat", "number", "street")
    found_by: list[pd.DataFrame] = []  # one frame per pattern, over rows no earlier pattern took
    todo = clean.notna() & (clean != "")
    for pattern in _PATTERNS:
        if not todo.any():
            break
        found = regex_extract(clean[todo], pattern.pattern).astype("string")
        found = found[found["street"].notna()]
        flat = found["flat"] if "flat" in found else pd.Series(pd.NA, index=found.index, dtype="string")
        if "letter" in found:
            flat = flat.fillna(found["letter"]) if "flat" in found else found["letter"]
        found_by.append(pd.DataFrame({"flat": flat.str.lstrip("0").replace("", "0"), "number": found["number"],
                                      "street": found["street"]}))
        todo &= ~clean.index.isin(found.index)
    # Put together once (setting rows of Arrow text column by column costs a Python object per value).
    out = (pd.concat(found_by) if found_by else pd.DataFrame(columns=list(columns))).reindex(text.index)
    out = out[list(columns)].astype("string")
    out["street"] = _street(out["street"])
    return out


def _lines(text: pd.Series) -> pd.DataFrame:
    parts = _parts(text)
    # A line with no number or house name ("Mill Lane") still names a street: as person evidence it
    # counts (households need the number, so address_parts leaves it out).
    parts["person_street"] = parts["street"]
    bare = parts["street"].isna() & text.notna()
    if bare.any():
        clean = _clean(text[bare]).str.replace(r"^(?:FLAT [0-9A-Z]+,? )?", "", regex=True)
        street = _street(clean.str.replace(r",.*$", "", regex=True)).replace("", pd.NA)
        parts.loc[bare, "person_street"] = street.where(street.str.contains("[A-Z]", regex=True).fillna(False))
    return parts


def address_lines(line: pd.Series) -> pd.DataFrame:
    """Both readings of each address line from one parse: `flat`, `number`, `street` as
    :func:`address_parts` gives them and `person_street` as :func:`person_address` does (pseudonymise
    needs both: parsing twice was 2.5 s of the 1M-row extract's pseudonymise, bench/ingest.py)."""
    return apply_to_uniques(line, _lines)


def address_parts(line: pd.Series) -> pd.DataFrame:
    """Normalised flat (or <NA>), number or house name, and street of each address line.

    Case, punctuation, spacing, street-type abbreviations (RD/ROAD, ST/STREET; a leading ST is
    SAINT), flat notations ("Flat 2", "Apt 2", "2/14", "14B" = flat B at 14, a trailing
    ", Flat 2"), a locality or town after the street and a postcode written into the line are
    all forgiven. A line that fits no pattern gives <NA> parts (no token, no household link):
    guessing would put people in the wrong home.
    """
    return apply_to_uniques(line, _parts)


def person_address(line: pd.Series) -> pd.DataFrame:
    """House number (or name) and street of each line, as evidence that two records are one person.

    The same normalisation as :func:`address_parts` (so "14 Hyde Park Rd." and "14 HYDE PARK ROAD"
    agree); a line without a number keeps its street. Flats are left out: a person's flat is written
    far less consistently than the building, and the number with the street says enough.
    """
    return of_lines(address_lines(line))


def of_lines(parsed: pd.DataFrame) -> pd.DataFrame:
    """`person_address`'s columns (number, street) from `address_lines`'s."""
    return pd.DataFrame({"number": parsed["number"], "street": parsed["person_street"]})


def _joined(*cols: pd.Series) -> pd.Series:
    out = cols[0].astype("string")
    for c in cols[1:]:
        out = out + "|" + c.astype("string")
    return out


def address_tokens(key: ProjectKey, parts: pd.DataFrame, postcode: pd.Series, uprn: pd.Series | None
                   ) -> pd.DataFrame:
    """Keyed tokens, one column per ADDRESS_KEYS name; <NA> where the record lacks a part.

    ``parts`` from :func:`address_parts`; ``postcode`` canonical ("LS6 2AB") or <NA>.
    Each key has its own project sub-key ("address/<name>"), so tokens of one kind can never be
    compared with another kind or with person match keys.
    """
    index = parts.index
    values = {
        "addr_uprn": uprn if uprn is not None else pd.Series(pd.NA, index=index, dtype="string"),
        "addr_flat": _joined(parts["flat"], parts["number"], postcode),
        "addr_street": _joined(parts["number"], parts["street"], postcode),
    }
    return pd.DataFrame({name: hmac_tokens(key.subkey("address/" + name), values[name].astype("string"))
                         for name in ADDRESS_KEYS}, index=index)
