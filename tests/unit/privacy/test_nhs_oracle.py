"""NHS number check digit against oracles that share no code with the project.

1. The published algorithm (NHS Data Dictionary, "NHS Number"), written out here step by step.
2. Hand-worked numbers, with the weighted sum shown so a reader can redo them on paper.
3. A differential test against the `nhs-number` package (PyPI, MIT) over random ten-digit strings,
   including the reserved ranges (0xxx, 5xxx "not to be issued", 86xx-89xx, 9xxx test numbers).

The project accepts a number when its check digit holds and it could be issued: never ten equal digits
(they all pass the check digit, and partners type 0000000000 for "unknown"), nor a range the package
labels unallocated or reserved, nor a Scottish CHI number (0100000000-3112999999) whose first six digits
are not a DDMMYY date (the package's own rule). The 9xx test range stays accepted (synthetic data uses
it). The differential compares the check-digit verdict everywhere and, for the whole verdict, the
package's `is_valid` with its own range constants.
"""

from __future__ import annotations

import nhs_number as reference
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nhs_number.constants import FULL_RANGE, REGIONS

from ptp_pipeline.extract.check import nhs_mod11_sum
from ptp_pipeline.privacy.nhs_number import check_digit, is_valid
from ptp_pipeline.privacy.normalise import NEVER_ISSUED_SUM, normalise_nhs_number


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


def package_verdict(number: str) -> bool:
    """The `nhs-number` package's `is_valid`, less its ranges labelled unallocated or reserved and
    numbers of ten equal digits."""
    never = (REGIONS["UNALLOCATED"], REGIONS["RESERVED"])
    return (reference.is_valid(number) and not any(r.contains_number(number) for r in never)
            and int(number) >= FULL_RANGE.start and len(set(number)) > 1)


def check_digit_verdicts(numbers: list[str]) -> list[tuple[bool, bool]]:
    """The check digit alone, as the single-number check and the GX digit sum see it."""
    sums = nhs_mod11_sum(pd.Series(numbers, dtype="string"))
    by_sum = ((sums == NEVER_ISSUED_SUM) | ((sums >= 0) & (sums % 11 == 0))).fillna(False).astype(bool).tolist()
    return [(is_valid(x), s) for x, s in zip(numbers, by_sum, strict=True)]


def project_verdicts(numbers: list[str]) -> list[tuple[bool, bool, bool]]:
    """What each public entry point of the project says: normaliser, single-number check, GX digit sum
    (for numbers that could be issued, where the check digit decides)."""
    normalised = normalise_nhs_number(pd.Series(numbers, dtype="string"))["nhs_status"].eq("valid").tolist()
    return [(n, x, s) for n, (x, s) in zip(normalised, check_digit_verdicts(numbers), strict=True)]


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
    ("6234567886", 258, True),   # 258 = 23*11 + 5; 11 - 5 = 6
    ("6234567881", 258, False),
]


@pytest.mark.parametrize(("number", "weighted", "expected"), HAND_WORKED)
def test_hand_worked_numbers(number: str, weighted: int, expected: bool) -> None:
    assert sum(int(number[i]) * (10 - i) for i in range(9)) == weighted, "the table's arithmetic"
    assert published_rule(number) is expected
    assert project_verdicts([number]) == [(expected, expected, expected)]
    assert (check_digit(number[:9]) == int(number[9])) is expected


# Check digit right, but no one is given such a number.
@pytest.mark.parametrize("number", [
    "0000000000", "1111111111", "9999999999",  # ten equal digits: 55 x d always divides by 11
    "0000000019",  # unallocated 0000000010-0099999999
    "0123456789",  # a CHI number, but 01/23/45 is no DDMMYY date
    "3113000009", "8600000009",  # unallocated
    "5000000005",  # "not to be issued"
])
def test_numbers_never_issued_are_invalid_though_their_check_digit_holds(number: str) -> None:
    assert not package_verdict(number)
    if not published_rule(number):  # the table is of numbers whose check digit holds
        pytest.fail(f"{number}: pick a number with a correct check digit")
    assert project_verdicts([number]) == [(False, True, True)]
    assert nhs_mod11_sum(pd.Series([number], dtype="string")).tolist() == [NEVER_ISSUED_SUM]


@pytest.mark.parametrize(("number", "expected"), [
    ("2902030002", False),  # 29/02/03: no such day
    ("2902040008", True),   # 29/02/04: 2004 is a leap year
    ("0101000006", True),   # 01/01/00
])
def test_chi_numbers_must_start_with_a_date(number: str, expected: bool) -> None:
    assert package_verdict(number) is expected
    assert project_verdicts([number])[0][0] is expected


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


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(ten_digits, min_size=1, max_size=40))
def test_agrees_with_the_published_rule_and_the_nhs_number_package(numbers: list[str]) -> None:
    verdicts = project_verdicts(numbers)
    for number, (normalised, single, by_sum) in zip(numbers, verdicts, strict=True):
        expected = published_rule(number)
        assert (single, by_sum) == (expected, expected), number
        assert (reference.calculate_checksum(number[:9]) == int(number[9])) is expected, number
        assert normalised is package_verdict(number), number


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
    assert check_digit_verdicts([number, wrong]) == [(True, True), (False, False)]
    assert project_verdicts([number, wrong])[1] == (False, False, False)
