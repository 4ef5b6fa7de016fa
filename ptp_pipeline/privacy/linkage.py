"""Person linkage on keyed match-key tokens: a deterministic cascade, strictest key first.

Records sharing a token join one person. Guards: a token shared by more distinct clusters than
`max_persons_per_token` is ignored (common name at a hostel postcode); two clusters with different
valid NHS numbers never merge. Person ids stay stable: a cluster keeps the existing id most of its
records carry; new clusters get new ids. Everything is vectorised (groupby + scipy graph
components), no per-record Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

NHS_KEY = "nhs"


@dataclass(frozen=True)
class LinkResult:
    assignment: pd.DataFrame  # record_id, person_id
    merges: pd.DataFrame  # person_id kept, person_id absorbed
    matched_on: pd.DataFrame  # key_type, records linked by that key at its step


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def cluster(records: pd.Series, keys: pd.DataFrame, key_order: list[str], max_per_token: int
            ) -> tuple[np.ndarray, pd.DataFrame]:
    """Cluster labels per record (positions in `records`) and per-key link counts.

    `keys` has columns record_pos, key_type, token.
    """
    n = len(records)
    # Records with identical identity (the same token for every key) are one identity vector:
    # start from those, so a person with many events counts once in the per-token guard.
    wide = keys.pivot_table(index="record_pos", columns="key_type", values="token", aggfunc="first")
    wide = wide.reindex(np.arange(n))
    if wide.shape[1]:
        label = wide.fillna("").groupby(list(wide.columns), sort=False).ngroup().to_numpy()
        label = pd.Series(np.arange(n)).groupby(label).transform("min").to_numpy()
    else:
        label = np.arange(n)
    nhs = keys[keys.key_type == NHS_KEY].drop_duplicates("record_pos").set_index("record_pos")["token"]
    nhs_codes = np.full(n, -1, dtype=np.int64)
    if len(nhs):
        nhs_codes[nhs.index.to_numpy()] = pd.factorize(nhs)[0]
    matched: list[tuple[str, int]] = []
    for key_type in key_order:
        k = keys[keys.key_type == key_type][["record_pos", "token"]]
        if k.empty:
            matched.append((key_type, 0))
            continue
        k = k.assign(label=label[k.record_pos.to_numpy()])
        # Component NHS number: one per label by construction (or -1 for none).
        lab_nhs = pd.Series(nhs_codes).groupby(label).max()
        k = k.assign(nhs=lab_nhs.reindex(k.label).to_numpy())
        n_labels = k.groupby("token").label.nunique()
        n_nhs = k[k.nhs >= 0].groupby("token").nhs.nunique().reindex(n_labels.index, fill_value=0)
        usable = n_labels.index[(n_labels > 1) & (n_labels <= max_per_token) & (n_nhs <= 1)]
        k = k[k.token.isin(usable)]
        if k.empty:
            matched.append((key_type, 0))
            continue
        root = k.groupby("token").label.transform("min").to_numpy()
        component = _components(n, k.label.to_numpy(), root)[label]
        # Revert components that would join two different NHS numbers through a chain of tokens.
        check = pd.DataFrame({"comp": component, "nhs": nhs_codes})
        per_comp = check[check.nhs >= 0].groupby("comp").nhs.nunique()
        conflicted = np.isin(component, per_comp[per_comp > 1].index.to_numpy())
        before = label
        comp_min = pd.Series(np.arange(n)).groupby(component).transform("min").to_numpy()
        label = np.where(conflicted, label, comp_min)
        matched.append((key_type, int((label != before).sum())))
    return label, pd.DataFrame(matched, columns=["key_type", "records_joined"])


def link(records: pd.DataFrame, keys: pd.DataFrame, key_order: list[str], max_per_token: int,
         next_person_id: int) -> LinkResult:
    """Assign person ids. `records`: record_id, person_id (existing or <NA>); `keys`: record_id, key_type, token."""
    records = records.sort_values("record_id").reset_index(drop=True)
    pos = pd.Series(np.arange(len(records)), index=records.record_id)
    keys = keys.assign(record_pos=pos.reindex(keys.record_id).to_numpy())
    keys = keys[keys.record_pos.notna()].astype({"record_pos": np.int64})
    labels, matched = cluster(records.record_id, keys, key_order, max_per_token)
    frame = pd.DataFrame({"record_id": records.record_id, "cluster": labels,
                          "old": records.person_id.astype("Int64")})
    # Existing ids: each old id goes to the cluster holding most of its records.
    votes = frame.dropna(subset=["old"]).groupby(["old", "cluster"]).size().rename("n").reset_index()
    votes = votes.sort_values(["old", "n", "cluster"], ascending=[True, False, True])
    home = votes.drop_duplicates("old")
    # A cluster with several old ids keeps the one with most records (then the smallest id).
    home = home.sort_values(["cluster", "n", "old"], ascending=[True, False, True])
    kept = home.drop_duplicates("cluster").set_index("cluster")["old"]
    merges = home[~home.old.isin(kept.to_numpy())].assign(into=lambda d: kept.reindex(d.cluster).to_numpy())
    cluster_id = pd.Series(kept.reindex(np.unique(labels)).to_numpy(), index=np.unique(labels))
    missing = cluster_id[cluster_id.isna()].index
    # A cluster's label is its smallest record position, and records are sorted by id: new ids
    # follow the order of each cluster's first record.
    order = np.sort(missing.to_numpy())
    cluster_id.loc[order] = np.arange(next_person_id, next_person_id + len(order))
    frame["person_id"] = cluster_id.reindex(frame.cluster).to_numpy().astype(np.int64)
    merge_table = pd.DataFrame({"kept": merges["into"].astype("Int64"), "absorbed": merges["old"].astype("Int64")})
    merge_table = merge_table.dropna()
    return LinkResult(frame[["record_id", "person_id"]], merge_table.reset_index(drop=True), matched)
