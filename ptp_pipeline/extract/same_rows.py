"""Which rows hold the same values: exact group codes over many columns, without hashing.

Used for exact duplicate rows (check) and for an extract's distinct identities (pseudonymise).
pandas' groupby and row hashing over many Arrow text columns convert each value through Python;
here each column is dictionary-encoded in Arrow, and the per-column codes are combined into one
integer and re-coded only when the combination could overflow, so no two different rows can
ever share a code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ptp_pipeline.parallel import ordered_map
from ptp_pipeline.privacy.names import ARROW_STRING


def _column_codes(column: pd.Series, blank_is_missing: bool) -> tuple[np.ndarray, int]:
    """Dense codes of one column's values (missing values share one), and how many there are."""
    if not (pd.api.types.is_string_dtype(column.dtype) or column.dtype == object):
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        return codes.astype(np.int64), max(len(uniques), 1)
    text = pa.array(column.astype(ARROW_STRING).array)
    if isinstance(text, pa.ChunkedArray):  # one chunk first: unifying per-chunk dictionaries is far slower
        text = text.combine_chunks()
    encoded = pc.dictionary_encode(text, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    words = encoded.dictionary
    if blank_is_missing and words.null_count:
        # The empty text's code becomes the missing value's: filling the nulls with "" first copied the
        # column's whole text (1M-row check: a third of its duplicate search).
        blank = pc.index(words, "").as_py()
        if blank >= 0:
            codes[codes == blank] = int(np.flatnonzero(words.is_null().to_numpy(zero_copy_only=False))[0])
    return codes, max(len(words), 1)


def group_codes(frame: pd.DataFrame, *, blank_is_missing: bool = False, workers: int = 1) -> np.ndarray:
    """One code per row, equal exactly when the rows' values are equal; codes number the groups 0, 1, ...
    in order of first appearance. `blank_is_missing`: an empty text and a missing value count as the same.
    The columns are encoded on up to `workers` threads (Arrow's encoding runs outside Python's lock)."""
    group = np.zeros(len(frame), dtype=np.int64)
    bound = 1  # every code < bound
    # Taken on this thread: the workers never touch the frame (pandas' lazy column look-ups are not thread-safe).
    columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    encoded = ordered_map(lambda i: _column_codes(columns[i], blank_is_missing), len(columns), workers)
    for codes, n in encoded:
        if bound * n >= 2**62:  # re-code only when the combined code could overflow
            group = pd.factorize(group)[0].astype(np.int64)
            bound = int(group.max()) + 1 if len(group) else 1
        group, bound = group * n + codes, bound * n
    return pd.factorize(group)[0].astype(np.int64)


def first_positions(codes: np.ndarray) -> np.ndarray:
    """The position of each group's first row, for codes numbered in order of first appearance."""
    if not len(codes):
        return codes
    top = np.maximum.accumulate(codes)  # a new group starts where the running maximum grows
    return np.flatnonzero(np.r_[True, top[1:] > top[:-1]])
