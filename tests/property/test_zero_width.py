"""Issue 17 (hostile input): zero-width characters pasted into an identifier never change its token.

Copy-and-paste from web forms and Word leaves invisible U+200B-U+200D, U+2060 and U+FEFF inside values.
Left in, "Jo<ZWSP>hn" would not link to "John". Inserting any number of them anywhere must give the same
normalised value and the same keyed tokens.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.linkage.fields import linkage_tokens
from ptp_pipeline.privacy.address import address_parts
from ptp_pipeline.privacy.identifiers import normalise_ni_number, normalise_shared_ref, normalise_uln
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.normalise import normalise_name, normalise_nhs_number, normalise_postcode

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
KEY = ProjectKey("zw-test", bytes(range(32)))
#: Values of each kind as partners send them (valid and not).
VALUES = st.one_of(
    st.sampled_from(["John", "Mary Ann", "O'Brien", "José", "Smith-Jones", "943 476 5919", "4010232137",
                     "LS6 2AB", "ls62ab", "AB 12 34 56 C", "1234567899", "12 Main Street", "Flat 2, 14 Oak Rd"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
)


@st.composite
def with_zero_width(draw: st.DrawFn) -> tuple[str, str]:
    """A value, and the same value with zero-width characters inserted at drawn places."""
    value = draw(VALUES.map(lambda v: "".join(c for c in v if c not in ZERO_WIDTH)))
    inserts = draw(st.lists(st.tuples(st.integers(0, len(value)), st.text(ZERO_WIDTH, min_size=1, max_size=3)),
                            min_size=1, max_size=4))
    dirty = value
    for position, chars in sorted(inserts, reverse=True):
        dirty = dirty[:position] + chars + dirty[position:]
    return value, dirty


def _same(a: pd.Series | pd.DataFrame, b: pd.Series | pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(pd.DataFrame(a).reset_index(drop=True), pd.DataFrame(b).reset_index(drop=True))


@settings(max_examples=60, deadline=None)
@given(with_zero_width())
def test_zero_width_characters_never_change_a_normalised_identifier(case: tuple[str, str]) -> None:
    clean, dirty = (pd.Series([v], dtype="string") for v in case)
    for normalise in (normalise_name, normalise_nhs_number, normalise_postcode, normalise_ni_number,
                      normalise_uln, normalise_shared_ref, address_parts):
        _same(normalise(clean), normalise(dirty))


@settings(max_examples=12, deadline=None)
@given(with_zero_width(), with_zero_width(), st.sampled_from(["9434765919", "943 476 5919", "0000000000"]),
       st.sampled_from(["LS6 2AB", "LS62AB"]))
def test_zero_width_characters_never_change_a_token(forename: tuple[str, str], surname: tuple[str, str],
                                                     nhs: str, postcode: str) -> None:
    """Row 0 clean, row 1 with zero-width characters: every linkage token of the two rows is equal."""
    zw = "\u200b\ufeff"

    def text(values: list[str]) -> pd.Series:
        return pd.Series(values, dtype="string")

    parts = pd.DataFrame({
        "forename": normalise_name(text(list(forename))),
        "surname": normalise_name(text(list(surname))),
        "nhs": normalise_nhs_number(text([nhs, zw + nhs + zw]))["nhs_number"],
        "postcode": normalise_postcode(text([postcode, postcode[:2] + zw + postcode[2:]]))["postcode"],
        "date_of_birth": text(["1990-02-03", "1990-02-03"]),
    })
    tokens = linkage_tokens(KEY, parts)
    _same(tokens.iloc[[0]], tokens.iloc[[1]])
