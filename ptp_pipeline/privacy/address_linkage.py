"""Which records name the same property: a cascade over keyed address tokens, strictest first.

Records sharing a UPRN token are one property; then records sharing flat + number + postcode;
then number + street + postcode. Guards: a step that would put two different UPRNs, or two
different flats, into one property is reverted for the property it would form (flats 1 and 2
of number 14 share a street token but are different homes). A record that names a building
but no flat, where the building holds several flats, is ambiguous and placed nowhere: a wrong
guess would invent a family. Works on the distinct token combinations (far fewer than
records) with scipy graph components; no per-record Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ptp_pipeline.privacy.address import ADDRESS_KEYS

UNPLACED = -1
#: Per step, the tokens of which at most one distinct value may share a property.
GUARDS = {"addr_uprn": (), "addr_flat": ("addr_uprn",), "addr_street": ("addr_uprn", "addr_flat")}


def _merge_on(label: np.ndarray, combos: pd.DataFrame, key: str) -> np.ndarray:
    """Labels after joining combos that share `key`'s token (min label wins)."""
    k = combos[key].notna().to_numpy()
    pos = np.flatnonzero(k)
    if pos.size == 0:
        return label
    codes = pd.factorize(combos[key].to_numpy()[pos])[0]
    root = pd.Series(label[pos]).groupby(codes).transform("min").to_numpy()
    n = len(label)
    graph = coo_matrix((np.ones(pos.size, dtype=np.int8), (label[pos], root)), shape=(n, n))
    comp = connected_components(graph, directed=False)[1][label]
    return pd.Series(label).groupby(comp).transform("min").to_numpy()


def _conflicted(label: np.ndarray, combos: pd.DataFrame, guards: tuple[str, ...]) -> np.ndarray:
    bad = np.zeros(len(label), dtype=bool)
    for g in guards:
        distinct = pd.Series(combos[g].to_numpy()).groupby(label).nunique()
        bad |= np.isin(label, distinct.index[distinct > 1].to_numpy())
    return bad


def resolve_addresses(tokens: pd.DataFrame) -> pd.Series:
    """Property number per record (dense from 0), or UNPLACED; `tokens` has the ADDRESS_KEYS columns."""
    keys = list(ADDRESS_KEYS)
    frame = tokens[keys].astype(object).where(tokens[keys].notna(), None)
    combos = frame.drop_duplicates().reset_index(drop=True)
    label = np.arange(len(combos))
    for key in keys:
        proposed = _merge_on(label, combos, key)
        label = np.where(_conflicted(proposed, combos, GUARDS[key]), label, proposed)
    # Ambiguous: only a street token, shared with a property the guards kept apart.
    street_only = combos["addr_uprn"].isna() & combos["addr_flat"].isna()
    per_street = pd.Series(label).groupby(combos["addr_street"].to_numpy(), dropna=True).nunique()
    shared = combos["addr_street"].map(per_street).fillna(0).to_numpy() > 1
    no_token = combos[keys].isna().all(axis=1).to_numpy()
    label = np.where((street_only.to_numpy() & shared) | no_token, UNPLACED, label)
    placed = label != UNPLACED
    dense = np.full(len(label), UNPLACED, dtype=np.int64)
    dense[placed] = pd.factorize(label[placed], sort=True)[0]
    lookup = combos.fillna("").assign(address_id=dense)
    out = frame.fillna("").merge(lookup, on=keys, how="left")["address_id"].to_numpy()
    return pd.Series(out, index=tokens.index, dtype="int64")
