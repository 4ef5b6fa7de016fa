"""Token tables for the linkage's scratch DuckDB, with each 16-hex token held as a 64-bit integer.

Every comparison and blocking rule is an equality of tokens, so the integer a token spells serves
as well as its text: the same token is the same number, a different one a different number. As
text, each token is a 16-character string DuckDB cannot keep inline, and the hash tables of the
blocking joins carry a dozen of them per identity. On the 1M-row bench extract's identities
(234,608) Splink's blocking took 7.3 s of CPU and 1.05 GB within the 1 GB scratch limit (it spilled;
3.7 s and 1.4 GB without the limit); over integers 1.9 s and 0.57 GB, the same 793,553 pairs.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from ptp_pipeline.linkage.fields import TOKEN_COLUMNS


def token_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, tokens: str = "") -> str:
    """Create table `name` in `con` from `frame`, its token columns (`TOKEN_COLUMNS`, or the one named
    `tokens`) as UBIGINT; other columns as they are. Returns the name, for Splink to read by."""
    token_cols = {tokens} if tokens else set(TOKEN_COLUMNS)
    view = f"_ptp_{name}_frame"
    con.register(view, frame.reset_index(drop=True))
    try:
        # A token that is not 16 hex digits fails the cast: tokens come from `fields` only, so it never does.
        cols = [f"CAST('0x' || \"{c}\" AS UBIGINT) AS \"{c}\"" if c in token_cols else f'"{c}"'
                for c in frame.columns]
        con.execute(f'CREATE TABLE "{name}" AS SELECT {", ".join(cols)} FROM "{view}"')
    finally:
        con.unregister(view)
    return name
