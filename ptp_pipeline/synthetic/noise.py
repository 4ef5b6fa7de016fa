"""Identifier noise as partners really record it, so linkage is tested on realistic data.

Each function takes one column for one extract (one value per row) and returns a noisy
copy; the rows to change are drawn from ``rng`` at the configured rate. Only a few percent
of rows change, so the per-value Python here costs little even at 50,000 persons.
None of this makes a row invalid: noisy values stay well-formed (dates real, NHS numbers
valid), because invalid rows are made and marked separately in ``faults.py``.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from numpy.typing import NDArray

from ptp_pipeline.synthetic.names import NICKNAMES
from ptp_pipeline.synthetic.population import EPOCH

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _latin(s: str) -> bool:
    """True for names in Latin script (incl. accents); typos there are keyboard slips."""
    return all(ord(c) < 0x250 for c in s)


def typo(s: str, op: int, where: float, letter: str) -> str:
    """One keyboard slip: op 0 swaps two adjacent letters, 1 drops one, 2 replaces one."""
    positions = [i for i, c in enumerate(s) if c.isalpha()]
    if len(positions) < 2 or not _latin(s):
        return s
    k = positions[min(int(where * len(positions)), len(positions) - 1)]
    if op == 0 and k + 1 < len(s) and s[k + 1].isalpha() and s[k + 1].lower() != s[k].lower():
        return s[:k] + s[k + 1] + s[k] + s[k + 2 :]
    if op == 1 and len(positions) > 2:
        return s[:k] + s[k + 1 :]
    if letter == s[k].lower():
        letter = _ALPHABET[(_ALPHABET.index(letter) + 1) % 26]
    return s[:k] + (letter.upper() if s[k].isupper() else letter) + s[k + 1 :]


def apply_typos(values: NDArray[np.object_], mask: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.object_]:
    """Copy of ``values`` with one typo in each masked row."""
    out = values.copy()
    rows = np.flatnonzero(mask)
    ops = rng.integers(0, 3, rows.size)
    where = rng.random(rows.size)
    letters = rng.integers(0, 26, rows.size)
    for i, op, w, ch in zip(rows, ops, where, letters, strict=True):
        out[i] = typo(str(out[i]), int(op), float(w), _ALPHABET[ch])
    return out


def apply_nicknames(forenames: NDArray[np.object_], rate: float, rng: np.random.Generator) -> NDArray[np.object_]:
    """Replace a formal forename by a common nickname (Bill for William) in ``rate`` of rows that have one."""
    out = forenames.copy()
    u = rng.random(out.size)
    pick = rng.integers(0, 1 << 30, out.size)
    eligible = np.isin(out, np.array(list(NICKNAMES), dtype=object))
    for i in np.flatnonzero(eligible & (u < rate)):
        options = NICKNAMES[str(out[i])]
        out[i] = options[pick[i] % len(options)]
    return out


def surname_variant(s: str, kind: int) -> str:
    """Case or spacing variant: 0 UPPER, 1 lower, 2 punctuation/spacing (Smith Jones, OBrien, Mc Donald)."""
    if kind == 0:
        return s.upper()
    if kind == 1:
        return s.lower()
    if "-" in s:
        return s.replace("-", " ")
    if "'" in s:
        return s.replace("'", "")
    for prefix in ("Mac", "Mc"):
        if s.startswith(prefix) and len(s) > len(prefix):
            return prefix + " " + s[len(prefix) :]
    return s + " "


def apply_surname_variants(values: NDArray[np.object_], rate: float, rng: np.random.Generator) -> NDArray[np.object_]:
    """Copy of ``values`` with a case/spacing variant in ``rate`` of rows."""
    out = values.copy()
    mask = rng.random(out.size) < rate
    kinds = rng.integers(0, 3, out.size)
    for i in np.flatnonzero(mask):
        out[i] = surname_variant(str(out[i]), int(kinds[i]))
    return out


def apply_dob_errors(dob: NDArray[np.int64], rate: float, rng: np.random.Generator) -> NDArray[np.int64]:
    """Day/month transposed (when that is a real, different date) or one day out, in ``rate`` of rows."""
    out = dob.copy()
    mask = rng.random(out.size) < rate
    step = rng.choice(np.array([-1, 1]), out.size)
    for i in np.flatnonzero(mask):
        d = EPOCH + timedelta(days=int(out[i]))
        if d.day <= 12 and d.day != d.month:
            d = d.replace(month=d.day, day=d.month)
        else:
            d = d + timedelta(days=int(step[i]))
        out[i] = (d - EPOCH).days
    return out


def apply_unknown_sex(sex: NDArray[np.object_], rate: float, rng: np.random.Generator) -> NDArray[np.object_]:
    """Sex recorded as "U" (unknown) in ``rate`` of rows."""
    out: NDArray[np.object_] = np.where(rng.random(sex.size) < rate, "U", sex).astype(object)
    return out


def apply_postcode_noise(
    postcodes: NDArray[np.object_], missing_rate: float, format_rate: float, rng: np.random.Generator
) -> NDArray[np.object_]:
    """Blank postcodes (no fixed abode) and format slips (no space, lower case)."""
    out = postcodes.copy()
    u = rng.random(out.size)
    lower = rng.random(out.size) < 0.5
    for i in np.flatnonzero(u < format_rate):
        value = str(out[i])
        out[i] = value.lower() if lower[i] else value.replace(" ", "")
    out[rng.random(out.size) < missing_rate] = ""
    return out
