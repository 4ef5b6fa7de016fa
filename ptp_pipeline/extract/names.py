"""Header names in messages: shown only when they cannot be data (never echo an input value).

A file sent without its header line has its first data row read as the header, so the "column
names" a message would list are a person's NHS number, name, date of birth and postcode. Messages
therefore name a header column only when it cannot be a value: short, letters, spaces and
underscores only, holding no digit, date, postcode, e-mail address or NHS-number shape, in a header
that looks like a header (at least half of its names are the protocol's own).
Any other column is reported by its position (1 = first column) and counted.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence

#: A name that cannot be data: letters, spaces and underscores only, at most this long.
_SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z _]{0,31}")
_DATA_SHAPED = re.compile(
    r"\d"  # any digit: NHS numbers, dates, postcodes, house numbers, costs
    r"|@"  # e-mail addresses
    r"|^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$"  # a UK postcode
)
#: Positions listed in a message at most (the count is always given).
MAX_POSITIONS = 12


def looks_like_data(name: str) -> bool:
    return bool(_DATA_SHAPED.search(name.strip()))


def header_looks_like_data(header: Sequence[str], declared: Iterable[str]) -> bool:
    """True when the header line is probably a data row (the real header line is missing)."""
    names = [h for h in header if h]
    known = set(declared)
    return bool(names) and sum(h in known for h in names) * 2 < len(names)


def safe_name(name: str) -> bool:
    return bool(_SAFE_NAME.fullmatch(name)) and not looks_like_data(name)


def positions(indexes: Sequence[int]) -> str:
    """'position(s) 1, 2 and 5' (1-based), cut after MAX_POSITIONS."""
    shown = [str(i) for i in indexes[:MAX_POSITIONS]]
    more = len(indexes) - len(shown)
    text = ", ".join(shown) if len(shown) <= 1 or more else ", ".join(shown[:-1]) + " and " + shown[-1]
    return f"position{'s' if len(indexes) != 1 else ''} {text}" + (f" and {more} more" if more else "")


def describe_columns(header: Sequence[str], chosen: Sequence[str], *, data_like: bool) -> str:
    """`chosen` (names from `header`) in words safe for any message: names only where they cannot be data."""
    index = {name: i + 1 for i, name in reversed(list(enumerate(header)))}
    named = [c for c in chosen if not data_like and safe_name(c)]
    hidden = sorted(index[c] for c in chosen if c not in named)
    parts: list[str] = []
    if named:
        parts.append(", ".join(named))
    if hidden:
        word = "column" if len(hidden) == 1 else "columns"
        parts.append(f"{len(hidden)} {'other ' if named else ''}{word} at {positions(hidden)} "
                     "(not named here: the name could be a value from the file)")
    return "; ".join(parts)


def describe_duplicates(header: Sequence[str]) -> str:
    """Columns whose name repeats, each named only when it cannot be data, with every position it takes."""
    data_like = any(looks_like_data(h) for h in header)
    repeated = sorted({h for h in header if list(header).count(h) > 1}, key=list(header).index)
    parts = []
    for name in repeated:
        where = positions([i + 1 for i, h in enumerate(header) if h == name])
        label = repr(name) if safe_name(name) and not data_like else ("an empty name" if not name else "one name")
        parts.append(f"{label} at {where}")
    text = "; ".join(parts)
    if data_like:
        text += (". The first line looks like a data row, not a header (names are not quoted: they could be values "
                 "from the file): the file may have been sent without its header line")
    return text


def printable(text: str) -> str:
    """`text` with every control, format or separator character written as an escape (ESC as \\x1b, the
    right-to-left override as \\u202e): a file name or id can then neither drive a terminal nor reorder
    what a reader sees, on screen, in the ledger or in the audit log."""
    def shown(ch: str) -> str:
        if unicodedata.category(ch)[0] != "C" and ch not in "\u2028\u2029":
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return "".join(map(shown, text))


def hidden_characters(text: str) -> list[int]:
    """1-based positions of the characters `printable` would escape."""
    return [i + 1 for i, ch in enumerate(text) if printable(ch) != ch]


def _folded(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def did_you_mean(header: Sequence[str], unexpected: Sequence[str], wanted: Sequence[str], *,
                 data_like: bool) -> dict[str, str]:
    """Header column -> the protocol field it is probably meant to be ("DateOfBirth" -> date_of_birth),
    for unexpected columns whose name cannot be data only (a header that is a data row gets none)."""
    if data_like:
        return {}
    by_folded = {_folded(w): w for w in wanted}
    out: dict[str, str] = {}
    for name in unexpected:
        if not safe_name(name) or name not in header:
            continue
        close = difflib.get_close_matches(_folded(name), list(by_folded), n=1, cutoff=0.75)
        if close and by_folded[close[0]] not in out.values():
            out[name] = by_folded[close[0]]
    return out


def describe_suggestions(suggestions: dict[str, str]) -> str:
    """' Did you mean: DateOfBirth -> date_of_birth?' (empty when there is nothing to suggest)."""
    if not suggestions:
        return ""
    return " Did you mean: " + "; ".join(f"{have} -> {want}" for have, want in suggestions.items()) + "?"
