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

from ptp_pipeline.privacy.names import ARROW_STRING


def _column_codes(column: pd.Series, blank_is_missing: bool) -> tuple[np.ndarray, int]:
    """Dense codes of one column's values (missing values share one), and how many there are."""
    if not (pd.api.types.is_string_dtype(column.dtype) or column.dtype == object):
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        return codes.astype(np.int64), max(len(uniques), 1)
    text = pa.array(column.astype(ARROW_STRING).array)
    if isinstance(text, pa.ChunkedArray):  # one chunk first: unifying per-chunk dictionaries is far slower
        text = text.combine_chunks()
    if blank_is_missing:
        text = pc.fill_null(text, "")
    encoded = pc.dictionary_encode(text, null_encoding="encode")
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), max(len(encoded.dictionary), 1)


def group_codes(frame: pd.DataFrame, *, blank_is_missing: bool = False) -> np.ndarray:
    """One code per row, equal exactly when the rows' values are equal; codes number the groups 0, 1, ...
    in order of first appearance. `blank_is_missing`: an empty text and a missing value count as the same."""
    group = np.zeros(len(frame), dtype=np.int64)
    bound = 1  # every code < bound
    for name in frame.columns:
        codes, n = _column_codes(frame[name], blank_is_missing)
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
