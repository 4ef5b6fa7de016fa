"""NI number and ULN rules against independent oracles written out here, over generated values."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from ptp_pipeline.privacy.identifiers import normalise_ni_number, normalise_shared_ref, normalise_uln, uln_is_valid

BAD_FIRST, BAD_SECOND = set("DFIQUV"), set("DFIOQUV")
NEVER = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def ni_oracle(text: str) -> str | None:
    s = "".join(text.translate(dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))).split())
    s = s.replace("-", "").upper()
    if not (8 <= len(s) <= 9) or not s[:2].isalpha() or not s[:2].isascii() or not s[2:8].isdigit():
        return None
    if not s[2:8].isascii() or s[0] in BAD_FIRST or s[1] in BAD_SECOND or s[:2] in NEVER:
        return None
    if len(s) == 9 and s[8] not in "ABCD":
        return None
    return s[:8]


def uln_oracle(digits: str) -> bool:
    # Written from the Learning Records Service description, not from the production code.
    if len(digits) != 10 or not digits.isdigit() or digits.startswith("0"):
        return False
    weighted = sum(int(digits[i]) * (10 - i) for i in range(9))
    r = weighted % 11
    return r != 0 and int(digits[9]) == 10 - r


letters = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@given(letters, letters, st.integers(0, 999_999), st.sampled_from(["", "A", "B", "C", "D", "E", "Z"]),
       st.sampled_from(["", " ", "-"]))
def test_ni_numbers_follow_hmrc_rules(a: str, b: str, n: int, suffix: str, sep: str) -> None:
    raw = f"{a}{b}{sep}{n:06d}{sep}{suffix}".lower()
    got = normalise_ni_number(pd.Series([raw])).iloc[0]
    want = ni_oracle(raw)
    assert (None if pd.isna(got) else got) == want


@given(st.text(max_size=12))
def test_ni_number_never_fails_on_any_text(text: str) -> None:
    got = normalise_ni_number(pd.Series([text])).iloc[0]
    assert pd.isna(got) or (len(got) == 8 and got == ni_oracle(text))


@given(st.integers(0, 9_999_999_999))
def test_uln_check_digit_matches_the_published_rule(n: int) -> None:
    digits = f"{n:010d}"
    assert uln_is_valid(digits) == uln_oracle(digits)
    got = normalise_uln(pd.Series([digits[:5] + " " + digits[5:]])).iloc[0]
    assert (not pd.isna(got)) == uln_oracle(digits)


def test_a_worked_uln_example() -> None:
    # 1234567893: 1*10+2*9+3*8+4*7+5*6+6*5+7*4+8*3+9*2 = 210; 210 % 11 = 1; 10 - 1 = 9 -> not 3.
    assert not uln_is_valid("1234567893")
    assert uln_is_valid("1234567899")


@given(st.text(max_size=20))
def test_shared_references_ignore_case_and_spaces(text: str) -> None:
    a = normalise_shared_ref(pd.Series([text])).iloc[0]
    b = normalise_shared_ref(pd.Series([" ".join(text.lower())])).iloc[0]
    if not pd.isna(a) and text.upper().lower() == text.lower() and text.upper() == text.lower().upper():
        assert a == b
