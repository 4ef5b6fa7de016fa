"""NHS number check digit against oracles that share no code with the project.

1. The published algorithm (NHS Data Dictionary, "NHS Number"), written out here step by step.
2. Hand-worked numbers, with the weighted sum shown so a reader can redo them on paper.
3. A differential test against the `nhs-number` package (PyPI, MIT) over random ten-digit strings,
   including the reserved ranges (0xxx, 5xxx "not to be issued", 86xx-89xx, 9xxx test numbers).

The project checks the check digit only: it accepts numbers from every range (the 9xx test range
included, which synthetic data uses) and does not apply `nhs-number`'s extra rule that a Scottish
CHI number (0100000000-3112999999) starts with a real DDMMYY date. The differential compares the
check-digit verdict everywhere and the package's whole `is_valid` outside the CHI range.
"""

from __future__ import annotations

import nhs_number as reference
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.extract.check import nhs_mod11_sum
from ptp_pipeline.privacy.nhs_number import check_digit, is_valid
from ptp_pipeline.privacy.normalise import normalise_nhs_number


def published_rule(number: str) -> bool:
    """The Data Dictionary's steps, literally: weights 10..2 on digits 1-9, sum, remainder by 11,
    11 minus the remainder is the check digit (11 means 0; 10 means the number is invalid), and it
    must equal digit 10."""
    if len(number) != 10 or any(c not in "0123456789" for c in number):
        return False
    step1 = [int(number[i]) * (10 - i) for i in range(9)]
    step2 = sum(step1)
    step3 = step2 % 11
    step4 = 11 - step3
    if step4 == 11:
        step4 = 0
    if step4 == 10:
        return False
    return step4 == int(number[9])


def project_verdicts(numbers: list[str]) -> list[tuple[bool, bool, bool]]:
    """What each public entry point of the project says: normaliser, single-number check, GX digit sum."""
    raw = pd.Series(numbers, dtype="string")
    normalised = normalise_nhs_number(raw)["nhs_status"].eq("valid").tolist()
    sums = nhs_mod11_sum(raw)
    by_sum = ((sums >= 0) & (sums % 11 == 0)).fillna(False).astype(bool).tolist()
    return [(n, is_valid(x), s) for n, x, s in zip(normalised, numbers, by_sum, strict=True)]


# number, weighted sum of digits 1-9 (10*d1 + 9*d2 + ... + 2*d9), expected verdict
HAND_WORKED = [
    ("9434765919", 299, True),   # 299 = 27*11 + 2; 11 - 2 = 9 = digit 10 (the Data Dictionary's example)
    ("9434765918", 299, False),  # same sum, wrong last digit
    ("4010232137", 92, True),    # 92 = 8*11 + 4; 11 - 4 = 7
    ("4000000004", 40, True),    # 40 = 3*11 + 7; 11 - 7 = 4
    ("9876543210", 330, True),   # 330 = 30*11 + 0; 11 - 0 = 11, which means check digit 0
    ("9876543211", 330, False),
    ("0000000060", 12, False),   # 12 = 11 + 1; 11 - 1 = 10: no check digit can make it valid
    ("0000000061", 12, False),
    ("0000000069", 12, False),
    ("0000000000", 0, True),     # remainder 0, check digit 0: the rule alone accepts it
    ("1234567881", 208, True),   # 208 = 18*11 + 10; 11 - 10 = 1
    ("1234567880", 208, False),
]


@pytest.mark.parametrize(("number", "weighted", "expected"), HAND_WORKED)
def test_hand_worked_numbers(number: str, weighted: int, expected: bool) -> None:
    assert sum(int(number[i]) * (10 - i) for i in range(9)) == weighted, "the table's arithmetic"
    assert published_rule(number) is expected
    assert project_verdicts([number]) == [(expected, expected, expected)]
    assert (check_digit(number[:9]) == int(number[9])) is expected


def test_nine_digits_giving_ten_have_no_check_digit() -> None:
    assert check_digit("000000006") is None
    assert check_digit("987654321") == 0 and check_digit("943476591") == 9
    for bad in ("94347659", "9434765919", "94347659x"):
        with pytest.raises(ValueError, match=r"^expected exactly nine digits$"):
            check_digit(bad)


@pytest.mark.parametrize("text", ["943 476 5919", "943-476-5919", " 9434765919 ", "943.476.5919"])
def test_layout_is_ignored(text: str) -> None:
    assert normalise_nhs_number(pd.Series([text], dtype="string"))["nhs_number"].tolist() == ["9434765919"]


@pytest.mark.parametrize("text", ["943476591", "94347659190", "943476591X", "9434765919a", "+9434765919"])
def test_anything_but_ten_digits_is_invalid(text: str) -> None:
    assert project_verdicts([text]) == [(False, False, False)]


RANGES = [(0, 99_999_999), (100_000_000, 3_112_999_999), (3_113_000_000, 3_199_999_999),
          (3_200_000_000, 3_999_999_999), (4_000_000_000, 4_999_999_999), (5_000_000_000, 5_999_999_999),
          (6_000_000_000, 7_999_999_999), (8_000_000_000, 8_599_999_999), (8_600_000_000, 8_999_999_999),
          (9_000_000_000, 9_999_999_999)]


def _with_check_digit(nine: int) -> int:
    """Nine digits plus the digit the rule asks for (a remainder of 1 gives 10, written 0: invalid)."""
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(f"{nine:09d}")) % 11
    return nine * 10 + (11 - remainder) % 11 % 10


ten_digits = st.one_of(
    st.integers(0, 9_999_999_999),
    *(st.integers(lo, hi) for lo, hi in RANGES),
    st.integers(0, 999_999_999).map(_with_check_digit),  # valid numbers are rare (1 in 11): make some
).map(lambda n: f"{n:010d}")
CHI = (100_000_000, 3_112_999_999)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(ten_digits, min_size=1, max_size=40))
def test_agrees_with_the_published_rule_and_the_nhs_number_package(numbers: list[str]) -> None:
    verdicts = project_verdicts(numbers)
    for number, verdict in zip(numbers, verdicts, strict=True):
        expected = published_rule(number)
        assert verdict == (expected, expected, expected), number
        assert (reference.calculate_checksum(number[:9]) == int(number[9])) is expected, number
        if not CHI[0] <= int(number) <= CHI[1]:
            assert reference.is_valid(number) is expected, number


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.integers(0, 999_999_999), st.integers(0, 9), st.integers(1, 9))
def test_every_single_digit_error_is_caught(first_nine: int, position: int, shift: int) -> None:
    prefix = f"{first_nine:09d}"
    digit = check_digit(prefix)
    if digit is None:
        assert not any(published_rule(prefix + str(d)) for d in range(10))
        return
    number = prefix + str(digit)
    assert published_rule(number)
    wrong = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1:]
    assert not published_rule(wrong)
    assert project_verdicts([number, wrong]) == [(True, True, True), (False, False, False)]
