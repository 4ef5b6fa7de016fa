"""Bulk tokens (HMAC computed inside DuckDB from its two pads) against Python's own `hmac` (RFC 2104).

Keys of every length that matters to the pad construction: shorter than the 64-byte SHA-256 block,
exactly a block, one byte over (hashed first), and much longer; values including the empty string,
non-Latin text and missing values, on an index that is not 0..n-1.
"""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from ptp_pipeline.privacy.tokens import TOKEN_HEX_CHARS, hmac_token, hmac_tokens

VALUES = ["9434765919", "", "a", "QUILLON ZAFFARONI", "Ŀúçïńdà", "x" * 1000, "LS6 2AB"]


def reference(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@pytest.mark.parametrize("length", [1, 32, 63, 64, 65, 200])
def test_bulk_and_single_tokens_equal_rfc_2104_hmac_for_every_key_length(length: int) -> None:
    key = bytes((7 * i + length) % 256 for i in range(length))
    index = pd.Index([10 + 3 * i for i in range(len(VALUES) + 1)])
    got = hmac_tokens(key, pd.Series([*VALUES, None], index=index, dtype="string"))
    assert got.index.equals(index)
    assert str(got.dtype) == "string" and got.dtype.storage == "pyarrow"  # type: ignore[attr-defined]
    assert got.iloc[:-1].tolist() == [reference(key, v) for v in VALUES]
    assert got.isna().tolist() == [False] * len(VALUES) + [True]
    assert [hmac_token(key, v) for v in VALUES] == got.iloc[:-1].tolist()
    assert TOKEN_HEX_CHARS == 32


def test_tokens_differ_for_keys_that_differ_only_past_the_block() -> None:
    base = bytes(range(64))
    longer, other = base + b"\x01", base + b"\x02"
    values = pd.Series(VALUES, dtype="string")
    assert hmac_tokens(longer, values).tolist() != hmac_tokens(other, values).tolist()
    assert hmac_tokens(base, values).tolist() != hmac_tokens(base + b"\x00", values).tolist()
