"""NHS number check digit (modulus 11) and the ranges never issued, shared by the normaliser and the
synthetic generator.

A correct check digit is not enough: every number of ten equal digits passes it (the weights sum to
55 = 5 x 11), and partners type 0000000000 or 9999999999 for "unknown". The ranges are those the
`nhs-number` package (MIT) keeps in `nhs_number.constants`, from NHS Digital's published allocation:
unallocated 0000000010-0099999999, 3113000000-3199999999 and 8600000000-8999999999, "not to be issued"
5000000000-5999999999, and Scottish CHI numbers (0100000000-3112999999) whose first six digits are not
a DDMMYY date. The 9xx "not to be issued" range stays accepted: it holds the test numbers synthetic
data and partners' test exports use.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
#: Inclusive ranges no NHS number is issued from (0-9 included: the package's full range starts at 10).
NEVER_ISSUED = ((0, 99_999_999), (3_113_000_000, 3_199_999_999), (5_000_000_000, 5_999_999_999),
                (8_600_000_000, 8_999_999_999))
CHI = (100_000_000, 3_112_999_999)
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def check_digit(first_nine: str) -> int | None:
    """Return the modulus-11 check digit for nine digits, or None when no valid number exists.

    A remainder giving 10 means no NHS number can be issued with those nine digits.
    """
    if len(first_nine) != 9 or not first_nine.isdigit():
        raise ValueError("expected exactly nine digits")
    total = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True))
    digit = 11 - (total % 11)
    if digit == 11:
        return 0
    if digit == 10:
        return None
    return digit


def is_valid(ten_digits: str) -> bool:
    """True when ten digits carry a correct modulus-11 check digit (the ranges are `never_issued`)."""
    if len(ten_digits) != 10 or not ten_digits.isdigit():
        return False
    return check_digit(ten_digits[:9]) == int(ten_digits[9])


def never_issued(numbers: NDArray[np.int64]) -> NDArray[np.bool_]:
    """True for each ten-digit number (as an integer) that cannot be a real person's NHS number:
    ten equal digits, a never-issued range, or a CHI number not starting with a DDMMYY date."""
    n = np.asarray(numbers, dtype=np.int64)
    out = n % 1_111_111_111 == 0
    for low, high in NEVER_ISSUED:
        out |= (n >= low) & (n <= high)
    chi = (n >= CHI[0]) & (n <= CHI[1])
    day, month, year = n // 10**8, (n // 10**6) % 100, (n // 10**4) % 100
    month_ok = (month >= 1) & (month <= 12)
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] - ((month == 2) & (year % 4 != 0))
    out |= chi & ~(month_ok & (day >= 1) & (day <= days))
    return out
