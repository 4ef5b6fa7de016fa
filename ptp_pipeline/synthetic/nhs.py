"""NHS numbers for synthetic people: valid modulus 11, unique, formatted as partners write them.

The weighted sum is the one in ``ptp_pipeline.privacy.nhs_number`` (same WEIGHTS), done in
numpy because 50,000 people would otherwise mean 50,000 Python calls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ptp_pipeline.privacy.nhs_number import WEIGHTS, check_digit

_WEIGHTS = np.asarray(WEIGHTS, dtype=np.int64)
_POWERS = 10 ** np.arange(8, -1, -1, dtype=np.int64)  # place value of each of the nine digits

NHS_FORMATS = ("plain", "spaced", "hyphen")


def check_digits(first_nine: NDArray[np.int64]) -> NDArray[np.int64]:
    """Check digit for each nine-digit integer; 10 marks nine digits that can't be issued."""
    digits = (first_nine[:, None] // _POWERS) % 10
    check = 11 - (digits @ _WEIGHTS) % 11
    return np.where(check == 11, 0, check)


def unique_nhs_numbers(rng: np.random.Generator, n: int, prefixes: tuple[str, ...]) -> NDArray[np.object_]:
    """n distinct valid ten-digit NHS numbers, each starting with one of ``prefixes``."""
    found: NDArray[np.int64] = np.empty(0, dtype=np.int64)
    while found.size < n:
        want = int((n - found.size) * 1.25) + 16
        which = rng.integers(0, len(prefixes), want)
        lengths = np.array([len(p) for p in prefixes])[which]
        heads = np.array([int(p) for p in prefixes], dtype=np.int64)[which]
        span = 10 ** (9 - lengths)
        first_nine = heads * span + (rng.random(want) * span).astype(np.int64)
        check = check_digits(first_nine)
        candidates = first_nine[check != 10] * 10 + check[check != 10]
        merged = np.concatenate([found, candidates])
        _, first_seen = np.unique(merged, return_index=True)
        found = merged[np.sort(first_seen)]
    return found[:n].astype(str).astype(object)


def wrong_check_digit(number: str, shift: int) -> str:
    """The same first nine digits with a check digit that is certainly wrong (1 <= shift <= 9)."""
    correct = check_digit(number[:9])
    base = 0 if correct is None else correct
    return number[:9] + str((base + shift) % 10)


def format_nhs(numbers: pd.Series, styles: NDArray[np.int64]) -> pd.Series:
    """Write ten-digit numbers plain, spaced 3-3-4 or hyphenated 3-3-4 per row (NHS_FORMATS)."""
    a, b, c = numbers.str[:3], numbers.str[3:6], numbers.str[6:]
    spaced = a + " " + b + " " + c
    hyphen = a + "-" + b + "-" + c
    out = numbers.where(styles == 0, spaced.where(styles == 1, hyphen))
    return out
