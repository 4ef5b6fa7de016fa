"""The rows one batch of an extract's accepted rows adds to the warehouse, built in Arrow.

The accepted rows are Arrow (`quality/accepted.py`), and so is what both backends insert (DuckDB reads
Arrow; PostgreSQL's COPY takes CSV that Arrow writes), so the merge's batches never become pandas: a pandas
round trip made a Python string per token and text value and back (1M-row extract: 4.5 s of the merge's row
loop, bench/ingest.py).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.linkage.fields import IDENT
from ptp_pipeline.privacy.centroids import COLUMNS as CENTROID_COLUMNS
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.location import ALCOHOL, LOC, LOCATION_COLUMNS
from ptp_pipeline.privacy.pseudonymise import ADDR, KEY, TOKEN
from ptp_pipeline.privacy.tokens import hmac_array

Column: TypeAlias = "pa.Array | pa.ChunkedArray"
TEXT = pa.large_string()


def event_ids(key: ProjectKey, extract_id: str, rows: Column) -> Column:
    """Opaque event ids: keyed, so they carry no file hash or row number and cannot be recomputed
    by a partner; the same extract row always gets the same id (reruns replace, never duplicate)."""
    text = pc.binary_join_element_wise(pa.scalar(extract_id), pc.cast(rows, pa.string()), ":")
    return hmac_array(key.subkey("event-id"), text)


def column(data: pa.Table, name: str, kind: pa.DataType = TEXT) -> Column:
    """The column, or nulls of `kind` where the extract has none (a protocol without that field)."""
    return data.column(name) if name in data.column_names else pa.nulls(data.num_rows, kind)


def constant(value: str, rows: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.large_string()), rows)


def dates(values: Column) -> Column:
    """Calendar dates: the stage files hold them as timestamps at midnight (a time of day is dropped, as
    pandas' `.dt.date` did)."""
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        return pc.cast(values, pa.date32(), safe=False)
    return pa.array(pd.to_datetime(values.to_pandas()).dt.date, pa.date32())


def link_rows(data: pa.Table, record_id: Column, extract_id: str, partner: str) -> pa.Table:
    """restricted.link_record for the batch (no person yet)."""
    n = data.num_rows
    return pa.table({
        "record_id": record_id, "extract_id": constant(extract_id, n), "source_row": data.column(SOURCE_ROW),
        "partner": constant(partner, n), "birth_year": column(data, "birth_year", pa.int64()),
        "sex": column(data, "sex"), "district": column(data, "district"), "event_date": dates(data["event_date"]),
        IDENT: column(data, TOKEN + IDENT),
    })


def event_rows(data: pa.Table, record_id: Column, extract_id: str, partner: str, dataset: str) -> pa.Table:
    """shared.pathway_event for the batch (no person yet)."""
    n = data.num_rows
    return pa.table({
        "event_id": record_id, "agency": constant(partner, n), "dataset": constant(dataset, n),
        "event_type": data.column("event_type"), "event_date": dates(data["event_date"]),
        "setting": column(data, "setting"), "cost": column(data, "cost", pa.float64()),
        "attributes": column(data, "attributes"), "extract_id": constant(extract_id, n),
    })


def address_records(data: pa.Table, record_id: Column, extract_id: str) -> pa.Table:
    """Keyed address tokens per record that has any (households only; never person match keys)."""
    cols = [c for c in data.column_names if c.startswith(ADDR)]
    if not cols:
        return pa.table({})
    out: dict[str, Any] = {"record_id": record_id, "extract_id": constant(extract_id, data.num_rows)}
    out.update({c.removeprefix(KEY): data.column(c) for c in cols})
    out["communal"] = column(data, "address_communal", pa.bool_())
    out["address_from"] = dates(column(data, "address_from", pa.date32()))
    table = pa.table(out)
    return table.filter(any_valid(table, [c.removeprefix(KEY) for c in cols]))


def location_records(accepted: pa.Table, record_id: Column, extract_id: str) -> pa.Table:
    """Rows of restricted.event_location (Arrow) for the accepted rows that carry a location or an alcohol flag."""
    names = accepted.column_names
    if not any(c.startswith(LOC) for c in names) and ALCOHOL not in names:
        return pa.table({})
    out = {"event_id": record_id, "extract_id": constant(extract_id, accepted.num_rows)}
    out.update({name: column(accepted, LOC + name) for name in LOCATION_COLUMNS})
    out.update({name: column(accepted, LOC + name, pa.float64()) for name in CENTROID_COLUMNS})
    out["alcohol_related"] = column(accepted, ALCOHOL, pa.bool_())
    table = pa.table(out)
    alcohol = pc.fill_null(table.column("alcohol_related"), False)
    return table.filter(pc.or_(any_valid(table, list(LOCATION_COLUMNS)), alcohol))


def any_valid(table: pa.Table, names: list[str]) -> pa.ChunkedArray | pa.Array:
    """Per row: does any of these columns hold a value?"""
    has: Any = pc.is_valid(table.column(names[0]))
    for name in names[1:]:
        has = pc.or_(has, pc.is_valid(table.column(name)))
    return has


class PersonIndex:
    """Each identity token's person, looked up for a column of tokens at a time."""

    def __init__(self, person: pd.Series) -> None:
        self.idents = pa.array(person.index.to_numpy(dtype=object), pa.large_string())
        self.ids = pa.array(person.to_numpy(dtype="int64"), pa.int64())

    def of(self, idents: Column) -> np.ndarray:
        """Person ids as int64, -1 for a token with no person (or no token)."""
        found = pc.take(self.ids, pc.index_in(pc.cast(idents, pa.large_string()), value_set=self.idents))
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype("int64", copy=True)
