"""Keyed HMAC-SHA256 tokens, computed in bulk inside DuckDB.

HMAC(K, m) = SHA256((K ^ opad) || SHA256((K ^ ipad) || m)). The pads are bound as parameters,
so the key never appears in SQL text, and no per-value Python runs on the hot path.
Tokens keep 128 bits (32 hex characters).

Why not plain SHA-256? There are under 10^10 NHS numbers (and about 10^9 valid ones): anyone
can hash them all in minutes and reverse an unkeyed hash. Only a secret key stops that.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pandas as pd
import pyarrow as pa

from ptp_pipeline.privacy.names import ARROW_STRING

TOKEN_HEX_CHARS = 32
_BLOCK = 64
SMALL_ROWS = 200_000
_SCRATCH: dict[tuple[int, bool], duckdb.DuckDBPyConnection] = {}
_SCRATCH_LOCK = threading.Lock()


@contextmanager
def scratch(rows: int) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB cursor for bulk work on `rows` values; the database is kept per process.

    Why: opening DuckDB costs 30-60 ms, and a pseudonymise stage asks for one per token column; for a
    small extract its thread pool also costs more than it saves on a busy machine (a 700-row query:
    89 ms with the pool, 7 ms on one thread, two busy cores). Small inputs get a one-thread database.
    """
    small = rows < SMALL_ROWS
    key = (os.getpid(), small)  # a forked process opens its own
    with _SCRATCH_LOCK:
        con = _SCRATCH.get(key)
        if con is None:
            con = _SCRATCH[key] = duckdb.connect(config={"threads": 1} if small else {})
        # Its own connection to that database: registrations stay its own, and a stage's worker threads
        # (ptp_pipeline.parallel) each use theirs.
        cursor = con.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_token(key: bytes, value: str) -> str:
    """Reference implementation for one value (tests and small look-ups)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:TOKEN_HEX_CHARS]


def hmac_tokens(key: bytes, values: pd.Series) -> pd.Series:
    """Tokens for a Series of normalised text; <NA> stays <NA> (nothing to match on)."""
    tokens = hmac_array(key, pa.array(values.astype(ARROW_STRING).array))  # Arrow text as is: no Python str per value
    return pd.Series(pd.arrays.ArrowStringArray(tokens), index=values.index)


def hmac_array(key: bytes, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`hmac_tokens` for Arrow text (large_string out); nulls stay null."""
    ipad, opad = _pads(key)
    vals = pa.table({"m": values})
    with scratch(len(vals)) as con:
        con.register("vals", vals)
        out = con.sql(
            "SELECT CASE WHEN m IS NULL THEN NULL ELSE "
            "left(sha256($opad || unhex(sha256($ipad || encode(m)))), $n) END AS t FROM vals",
            params={"ipad": ipad, "opad": opad, "n": TOKEN_HEX_CHARS},
        ).to_arrow_table()
    return out.column("t").combine_chunks().cast(pa.large_string())
