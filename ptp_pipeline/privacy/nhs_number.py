"""NHS number check digit (modulus 11), shared by the normaliser and the synthetic generator."""

from __future__ import annotations

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


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
    """True when ten digits carry a correct modulus-11 check digit."""
    if len(ten_digits) != 10 or not ten_digits.isdigit():
        return False
    return check_digit(ten_digits[:9]) == int(ten_digits[9])
