"""Term frequencies of name and postcode tokens: a match on a rare surname counts for more than one
on the commonest (Splink's term-frequency adjustment of the exact levels).

Frequencies are over the whole stored identity population, never just the batch being linked:
`restricted.link_token_tf` keeps, per adjusted token column, a count of identities per token, and
`restricted.link_token_total` the column's total. A merge reads the counts of its own batch's tokens
only (O(batch)) and adds the batch's counts when its identities are stored. Anything that removes or
re-makes identities (removals, key rotation, `ptp linkage relink`) recounts from the identities.
Frequencies measured on a few identities say little (one "Roger" among six is not a common name),
so the adjustment starts, as training does, once a column is counted over `TF_FROM` identities;
until then `{}` (no adjustment). Tokens only: no raw value is ever counted here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from ptp_pipeline.linkage.model import TRAIN_FROM
from ptp_pipeline.linkage.scratch import token_table
from ptp_pipeline.warehouse.base import Warehouse

#: Token column of each exact level that is adjusted: full forename, surname (compact), postcode, street.
TF_COLUMNS = ("fn_full", "sn", "pc", "ad_st")
#: Adjust only once a column's tokens are counted over at least this many identities.
TF_FROM = TRAIN_FROM
#: A frequency lookup per column: a frame with the token column and `tf_<column>` (share of identities).
Lookups = dict[str, pd.DataFrame]
COUNTS_TABLE = "restricted.link_token_tf"
TOTALS_TABLE = "restricted.link_token_total"


def _arrow_text(dtype: object) -> bool:
    """Text already held as text: pandas' own, or an Arrow dictionary of text (a merge's identities,
    `merge.extract_identities`)."""
    if isinstance(dtype, pd.StringDtype):
        return True
    arrow = dtype.pyarrow_dtype if isinstance(dtype, pd.ArrowDtype) else None
    return arrow is not None and pa.types.is_dictionary(arrow) and (
        pa.types.is_string(arrow.value_type) or pa.types.is_large_string(arrow.value_type))


def counts_of(identities: pd.DataFrame) -> pd.DataFrame:
    """Identities per token of each adjusted column: col, token, n."""
    frames = []
    for col in TF_COLUMNS:
        if col not in identities:
            continue
        values = identities[col].dropna()
        # Counted as they are when already text (Arrow text: a Python string per token was most of the cost).
        n = (values if _arrow_text(values.dtype) else values.astype(str)).value_counts()
        frames.append(pd.DataFrame({"col": col, "token": n.index.to_numpy(dtype=object), "n": n.to_numpy()}))
    if not frames:
        return pd.DataFrame(
            {"col": pd.Series(dtype=object), "token": pd.Series(dtype=object), "n": pd.Series(dtype="int64")}
        )
    return pd.concat(frames, ignore_index=True).astype({"n": "int64"})


def lookups(counts: pd.DataFrame, totals: dict[str, int]) -> Lookups:
    """Splink's lookup shape (`<col>`, `tf_<col>`) from counts and each column's total; `{}` (no
    adjustment) while the population is too small to measure frequencies on."""
    out: Lookups = {}
    if max(totals.values(), default=0) < TF_FROM:
        return out
    for col in TF_COLUMNS:
        part = counts[counts["col"] == col]
        total = totals.get(col, 0)
        out[col] = pd.DataFrame(
            {
                col: part["token"].astype("string").to_numpy(),
                f"tf_{col}": (part["n"] / total).astype("float64").to_numpy() if total else 0.0,
            }
        )
    return out


def of_frame(identities: pd.DataFrame) -> Lookups:
    """Frequencies among these identities (the whole population, as in `link_frame` and a full relink)."""
    counts = counts_of(identities)
    return lookups(counts, counts.groupby("col")["n"].sum().to_dict())


def _stage(wh: Warehouse, counts: pd.DataFrame) -> None:
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_tf (col VARCHAR, token VARCHAR, n BIGINT)")
    wh.execute("DELETE FROM _ptp_tf")
    wh.insert_frame("_ptp_tf", counts[["col", "token", "n"]])


def for_batch(wh: Warehouse, new: pd.DataFrame) -> Lookups:
    """Frequencies of the batch's tokens over the stored identities plus the batch's new ones.

    Reads the stored counts of these tokens only (a join on the batch), so the cost follows the batch.
    """
    batch = counts_of(new)
    _stage(wh, batch)
    stored = wh.query(
        f"SELECT t.col, t.token, t.n FROM {COUNTS_TABLE} t JOIN _ptp_tf b ON b.col = t.col AND b.token = t.token"
    )
    totals = wh.query(f"SELECT col, n FROM {TOTALS_TABLE}").set_index("col")["n"]
    combined = pd.concat([batch, stored], ignore_index=True).groupby(["col", "token"], as_index=False)["n"].sum()
    batch_totals = batch.groupby("col")["n"].sum()
    return lookups(combined, {c: int(totals.get(c, 0)) + int(batch_totals.get(c, 0)) for c in TF_COLUMNS})


def add(wh: Warehouse, identities: pd.DataFrame) -> None:
    """Count newly stored identities in (call with exactly the identities inserted)."""
    batch = counts_of(identities)
    if batch.empty:
        return
    _stage(wh, batch)
    wh.execute(
        f"INSERT INTO {COUNTS_TABLE} (col, token, n) SELECT col, token, n FROM _ptp_tf "
        f"ON CONFLICT (col, token) DO UPDATE SET n = {COUNTS_TABLE.split('.')[1]}.n + excluded.n"
    )
    wh.execute(
        f"INSERT INTO {TOTALS_TABLE} (col, n) SELECT col, sum(n) FROM _ptp_tf GROUP BY col "
        f"ON CONFLICT (col) DO UPDATE SET n = {TOTALS_TABLE.split('.')[1]}.n + excluded.n"
    )


RECOUNT_SQL = [
    f"DELETE FROM {COUNTS_TABLE}",
    f"DELETE FROM {TOTALS_TABLE}",
    *(
        f"INSERT INTO {COUNTS_TABLE} (col, token, n) SELECT '{c}', {c}, count(*) FROM restricted.link_identity "
        f"WHERE {c} IS NOT NULL GROUP BY {c}"
        for c in TF_COLUMNS
    ),
    f"INSERT INTO {TOTALS_TABLE} (col, n) SELECT col, sum(n) FROM {COUNTS_TABLE} GROUP BY col",
]


def recount(wh: Warehouse) -> None:
    """Counts from the stored identities, in the database (after identities were removed or re-made)."""
    for sql in RECOUNT_SQL:
        wh.execute(sql)


def register(db: Any, linker: Any, tf: Lookups) -> None:
    """Give Splink the lookups, so `predict_within` / `predict_between` adjust by population frequency."""
    for col, frame in tf.items():
        table = token_table(db.duckdb_con, f"ptp_tf_{col}", frame, tokens=col)  # as the tokens it looks up
        sdf = db.register(table, dataset_display_name=f"tf_{col}")
        linker.table_management.register_term_frequency_lookup(sdf, col)
