"""Strong identifiers other themes need: National Insurance number, Unique Learner Number, and a
cross-partner shared reference. Each normalises to one canonical text, or <NA> when it breaks the
scheme's rules (a wrong identifier would link a person to someone else)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ptp_pipeline.privacy.names import SPACE_CHARS, apply_to_uniques, to_text

# HMRC's rules for a National Insurance number: two prefix letters, six digits, suffix A-D. The first
# letter is never D, F, I, Q, U or V; the second never D, F, I, O, Q, U or V; the prefixes BG, GB, KN,
# NK, NT, TN and ZZ are never issued. The suffix adds nothing to who it is (it is often left off), so
# the canonical form is the prefix and digits.
_NI = r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]?"
_NEVER_ISSUED = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def _ni_text(u: pd.Series) -> pd.Series:
    compact = u.str.replace(f"[{SPACE_CHARS}\\-]+", "", regex=True).str.upper()
    valid = compact.str.fullmatch(_NI).fillna(False) & ~compact.str.slice(0, 2).isin(_NEVER_ISSUED).fillna(False)
    return compact.str.slice(0, 8).where(valid)


def normalise_ni_number(s: pd.Series) -> pd.Series:
    """`AB 12 34 56 C` -> `AB123456`; <NA> for anything HMRC would not issue."""
    return apply_to_uniques(to_text(s.astype("string")), _ni_text)


def uln_is_valid(digits: str) -> bool:
    """The Learning Records Service check: weights 10..2 on the first nine digits; the remainder of
    their sum by 11, taken from 10, is the tenth digit (a remainder of 0 gives no valid number)."""
    if len(digits) != 10 or not digits.isdigit() or digits[0] == "0":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    remainder = total % 11
    return remainder != 0 and 10 - remainder == int(digits[9])


def _uln_text(u: pd.Series) -> pd.Series:
    compact = u.str.replace(f"[{SPACE_CHARS}\\-]+", "", regex=True)
    ok = np.array([isinstance(v, str) and uln_is_valid(v) for v in compact.astype(object)], dtype=bool)
    return compact.where(ok)


def normalise_uln(s: pd.Series) -> pd.Series:
    """A Unique Learner Number with a correct check digit, as ten digits; <NA> otherwise."""
    return apply_to_uniques(to_text(s.astype("string")), _uln_text)


def normalise_shared_ref(s: pd.Series) -> pd.Series:
    """A reference the partners agreed to share (case and spaces forgiven)."""
    text = to_text(s.astype("string")).str.replace(f"[{SPACE_CHARS}]+", "", regex=True).str.upper()
    return text.mask(text == "")
