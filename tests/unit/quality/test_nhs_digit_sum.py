"""The NHS digit sum GX checks agrees with the normaliser's verdict on every NHS number."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.extract.check import nhs_mod11_sum
from ptp_pipeline.privacy.nhs_number import is_valid
from ptp_pipeline.privacy.normalise import normalise_nhs_number

nhs_like = st.one_of(
    st.from_regex(r"[0-9]{10}", fullmatch=True),
    st.from_regex(r"[0-9]{3} [0-9]{3} [0-9]{4}", fullmatch=True),
    st.from_regex(r"[0-9]{3}-[0-9]{3}-[0-9]{4}", fullmatch=True),
    st.text(alphabet="0123456789 -.xX", max_size=14),
    st.just("9434765919" * 20),
)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.lists(nhs_like, min_size=1, max_size=20))
def test_digit_sum_divides_by_11_exactly_when_the_number_is_valid(values: list[str]) -> None:
    raw = pd.Series(values, dtype="string")
    sums = nhs_mod11_sum(raw)
    status = normalise_nhs_number(raw)["nhs_status"]
    gx_valid = ((sums >= 0) & (sums % 11 == 0)).fillna(False)
    assert gx_valid.tolist() == (status == "valid").tolist()
    assert sums.isna().tolist() == (status == "missing").tolist()
    # -2 (NEVER_ISSUED_SUM): check digit right, but a number never issued such as 0000000000.
    assert sums.dropna().between(-2, 495).all(), "the sum must stay a small, non-identifying number"


def test_known_numbers() -> None:
    sums = nhs_mod11_sum(pd.Series(["943 476 5919", "9434765918", "12345", None, ""], dtype="string"))
    assert sums.tolist()[:3] == [11 * (sums.iloc[0] // 11), sums.iloc[0] - 1, -1]
    assert sums.isna().tolist() == [False, False, False, True, True]
    assert is_valid("9434765919") and not is_valid("9434765918")
