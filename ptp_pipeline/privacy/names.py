"""Name normalisers: fold, clean and canonicalise person names so partners' spellings link.

Names repeat heavily in an extract (a million rows hold a few tens of thousands of distinct
forenames), so every function here works on the distinct values and maps the answer back to
the rows. The cleaning itself is vectorised with Arrow regular expressions (RE2); only values
with non-ASCII characters go through a per-distinct-value Unicode fold in Python.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ptp_pipeline.privacy.nicknames import NICKNAMES

__all__ = ["canonical_forename", "first_token", "normalise_name", "soundex"]

Frame = TypeVar("Frame", pd.Series, pd.DataFrame)

#: Arrow-backed strings, so ``.str`` methods run as Arrow compute kernels (RE2), not Python loops.
ARROW_STRING = pd.StringDtype("pyarrow")

#: Titles and generational suffixes dropped wherever they stand. Words that are also surnames
#: (LORD, LADY, DAME, MAJOR, MASTER) are left alone: dropping them would damage real names.
TITLES = frozenset(
    {"MR", "MRS", "MS", "MISS", "MX", "MSTR", "DR", "REV", "REVD", "SIR", "PROF", "FR",
     "JR", "JNR", "SR", "SNR", "ESQ", "II", "III", "IV"}
)  # fmt: skip

# Apostrophes and hyphens join the parts they separate (O'Brien -> OBRIEN, Smith-Jones ->
# SMITHJONES), with any spaces around them. Typographic and full-width forms are included, as
# are the accents people type for an apostrophe (´ `), since NFKD would turn those into marks.
_JOINERS = "'`´ʹʻʼʽˈ′‘’‛＇\u00ad\\-‐‑‒–—―⁃−﹘﹣－"
#: Characters that act as spaces in extracts (no-break and other Unicode spaces included), for
#: use inside a regex character class.
SPACE_CHARS = "\\s\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
_JOIN_RE = f"[{SPACE_CHARS}]*[{_JOINERS}]+[{SPACE_CHARS}]*"
_NON_LETTERS_RE = r"[^\p{L}\p{M}]+"
_TITLES_RE = " (?:" + "|".join(sorted(TITLES)) + ") "
_LATIN_NAME = re.compile(r"LATIN (?:CAPITAL |SMALL )?(?:LETTER|LIGATURE) (?:SMALL CAPITAL )?([A-Z]{1,2})(?: WITH .*)?")
_LATIN_SPECIAL = {"ETH": "D", "THORN": "TH", "ENG": "NG", "SHARP S": "SS", "KRA": "K"}


#: Invisible characters (zero-width space, non-joiner and joiner, word joiner, byte-order mark) that
#: copy-and-paste leaves inside values: removed before any identifier is normalised or tokenised.
ZERO_WIDTH = "[\u200b-\u200d\u2060\ufeff]"


def to_text(series: pd.Series) -> pd.Series:
    """Arrow-backed text of any column, without zero-width characters; whole-number floats lose
    their ``.0``.

    Readers that meet a blank cell turn a numeric column into floats, so ``9434765919`` would
    arrive as ``9434765919.0``; rendering it as an integer keeps it a candidate identifier.
    """
    if pd.api.types.is_float_dtype(series.dtype):
        known = series.dropna().to_numpy(dtype="float64")
        if len(known) and bool(np.all((np.mod(known, 1) == 0) & (np.abs(known) < 2**53))):
            series = series.astype("Int64")
    text = series.astype(ARROW_STRING)
    if pc.all(pc.string_is_ascii(pa.array(text.array))).as_py() is not False:  # the usual case: a fast scan
        return text
    return text.str.replace(ZERO_WIDTH, "", regex=True)


def _arrow(s: pd.Series) -> pa.Array:
    return pa.array(s.astype(ARROW_STRING).array)


def is_in(values: pd.Series, among: pd.Series) -> np.ndarray:
    """Which text values are among others, in Arrow (pandas' isin on Arrow text runs Python per value)."""
    wanted = _arrow(among.dropna()).unique()
    return pc.is_in(_arrow(values), value_set=wanted).to_numpy(zero_copy_only=False).astype(bool)


def regex_replace(s: pd.Series, pattern: str, repl: str) -> pd.Series:
    """Regex replacement in Arrow (RE2), backreferences such as \\1 included, where pandas would run
    Python's `re` once per value. Patterns must not need what RE2 lacks (lookarounds, backreferences
    inside the pattern)."""
    out = pc.replace_substring_regex(_arrow(s), pattern=pattern, replacement=repl)
    return pd.Series(pd.arrays.ArrowStringArray(out.cast(pa.large_string())), index=s.index)


def regex_extract(s: pd.Series, pattern: str) -> pd.DataFrame:
    """Named groups of the first match per value, in Arrow (RE2); <NA> where the value does not match or
    a group took no part (as `Series.str.extract` gives, without a Python call per value)."""
    found = pc.extract_regex(_arrow(s), pattern=pattern)
    groups = re.compile(pattern).groupindex
    out = pd.DataFrame(index=s.index)
    for name in groups:
        col = pd.Series(pd.arrays.ArrowStringArray(pc.struct_field(found, name).cast(pa.large_string())),
                        index=s.index)
        out[name] = col.where(col != "")
    return out


def apply_to_uniques(s: pd.Series, func: Callable[[pd.Series], Frame]) -> Frame:
    """Run a vectorised text function once per distinct value and map the results to the rows.

    ``func`` gets the distinct values as Arrow-backed text (missing ones as <NA>) and returns
    string Series or DataFrame aligned to them; the answer comes back in the pandas
    ``"string"`` dtype on ``s``'s index.
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    done = func(to_text(pd.Series(uniques))).astype("string")
    return done.take(codes).set_axis(s.index)


@lru_cache(maxsize=4096)
def _is_latin(char: str) -> bool:
    return char.isascii() or unicodedata.name(char, "").startswith("LATIN")


@lru_cache(maxsize=4096)
def _latin_to_ascii(char: str) -> str:
    """ASCII for a Latin letter NFKD cannot take apart (Ø -> O, Æ -> AE, Þ -> TH), else itself."""
    if char.isascii() or not char.isalpha():
        return char
    name = unicodedata.name(char, "")
    match = _LATIN_NAME.fullmatch(name)
    if match:
        return match.group(1)
    for word, ascii_form in _LATIN_SPECIAL.items():
        if name.startswith("LATIN") and name.endswith(word):
            return ascii_form
    return char


def _fold(value: str) -> str:
    """Upper-case one value; fold Latin letters to ASCII, keep other scripts with their marks.

    Marks are dropped only after a Latin letter (José -> JOSE): in Cyrillic, Arabic or Indic
    scripts they are part of the letter (Й is not И), so there they stay and NFC recomposes them.
    """
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", value).casefold().upper())
    out: list[str] = []
    keep_marks = False
    for char in text:
        if char.isascii():
            keep_marks = False
            out.append(char)
        elif unicodedata.category(char).startswith("M"):
            if keep_marks:
                out.append(char)
        else:
            keep_marks = char.isalpha() and not _is_latin(char)
            out.append(char if keep_marks else _latin_to_ascii(char))
    return unicodedata.normalize("NFC", "".join(out))


def _fold_by_word(values: pd.Series) -> pd.Series:
    """:func:`_fold` each distinct word once: names share words far more often than whole values.

    Folding never reaches across a space, so word by word gives the same answer as whole values.
    """
    lists = pc.split_pattern(pa.array(values, type=pa.large_string()), " ")
    codes, uniques = pd.factorize(pd.Series(pd.arrays.ArrowStringArray(pc.list_flatten(lists))))
    folded = pa.array([word.upper() if word.isascii() else _fold(word) for word in uniques], pa.large_string())
    words = pa.ListArray.from_arrays(lists.offsets, folded.take(pa.array(codes)))
    joined = pc.binary_join(words, pa.scalar(" ", pa.large_string()))
    return pd.Series(pd.arrays.ArrowStringArray(joined), index=values.index)


def _normalise_text(u: pd.Series) -> pd.Series:
    """normalise_name on Arrow-backed text (the distinct values)."""
    u = u.str.replace(_JOIN_RE, "", regex=True)
    folded = u.str.upper()
    non_ascii = u.str.contains(r"[^\x00-\x7F]", regex=True).fillna(False).to_numpy(dtype=bool)
    if non_ascii.any():
        folded[non_ascii] = _fold_by_word(u[non_ascii])
        # Folding can produce joiners of its own (ŉ -> ʼN), so join once more.
        folded = folded.str.replace(_JOIN_RE, "", regex=True)
    # Words end up wrapped in one space each (" REV  DR  ANN "), so adjacent titles all match
    # and, once they are cut out, two spaces always separate the words left. Literal replaces:
    # a regex with many matches a value (" +") costs RE2 several times more.
    spaced = " " + folded.str.replace(_NON_LETTERS_RE, "  ", regex=True) + " "
    cleaned = spaced.str.replace(_TITLES_RE, "", regex=True).str.replace("  ", " ", regex=False).str.strip(" ")
    return cleaned.mask(cleaned == "")


def _first_token_text(u: pd.Series) -> pd.Series:
    return _normalise_text(u).str.replace(" .*", "", regex=True)


def _canonical_text(u: pd.Series) -> pd.Series:
    first = _first_token_text(u)
    return first.map(NICKNAMES).fillna(first).astype(ARROW_STRING)


# American Soundex digit for each letter; vowels (and Y) are "0" separators, H and W vanish.
_SOUNDEX_CODES = {"1": "BFPV", "2": "CGJKQSXZ", "3": "DT", "4": "L", "5": "MN", "6": "R", "0": "AEIOUY"}


def _soundex_text(u: pd.Series) -> pd.Series:
    """American Soundex (first letter + three digits) as a chain of RE2 rewrites.

    H and W are dropped before repeated digits collapse, so letters with one code either side
    of them count once; a vowel between them keeps both. The first letter's own code is
    written, collapsed, then removed, so a second letter with the same code is skipped too.
    A leading H or W has no code, so it is held by a placeholder digit instead.
    """
    token = _first_token_text(u)
    token = token.where(token.str.fullmatch("[A-Z]+").fillna(False))
    digits = token.str.replace("^[HW]", "9", regex=True)
    for digit, letters in _SOUNDEX_CODES.items():
        digits = digits.str.replace(f"[{letters}]", digit, regex=True)
    digits = digits.str.replace("[HW]", "", regex=True)
    for digit in "0123456":
        digits = digits.str.replace(f"{digit}+", digit, regex=True)
    tail = digits.str.slice(1).str.replace("0", "", regex=False)
    return (token.str.slice(0, 1) + tail + "000").str.slice(0, 4)


def normalise_name(s: pd.Series) -> pd.Series:
    """Fold a name to the form partners' spellings agree on; <NA> when nothing is left.

    Latin letters lose accents (José -> JOSE), everything is upper case, apostrophes and
    hyphens join (O'Brien -> OBRIEN), other punctuation and digits become single spaces, and
    titles and suffixes (MR, DR, JNR ...) go. Other scripts keep their letters (Иван -> ИВАН).
    """
    return apply_to_uniques(s, _normalise_text)


def first_token(s: pd.Series) -> pd.Series:
    """First word of :func:`normalise_name`, so "Mary Ann" and "Mary" agree as forenames."""
    return apply_to_uniques(s, _first_token_text)


def canonical_forename(s: pd.Series) -> pd.Series:
    """First word mapped through the nickname table (BILL -> WILLIAM), for a looser match key."""
    return apply_to_uniques(s, _canonical_text)


def soundex(s: pd.Series) -> pd.Series:
    """American Soundex of the first word (ROBERT, RUPERT -> R163): a typo-tolerant linkage key.

    <NA> unless the word is all A-Z after folding: Soundex encodes English spelling only.
    """
    return apply_to_uniques(s, _soundex_text)
