"""Clusters from scored links, with the over-merge guards: conflicting strong identifiers, size.

Links arrive strongest first (cascade keys in order, then probabilistic links by probability).
Components are found in bulk (scipy); only a component that would break a guard is walked link by
link (union-find), so the common case costs no per-link Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class Guards:
    max_size: int  # identities per person
    veto: bool  # differing strong identifiers never join, whatever the other evidence


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def cluster(n: int, size: np.ndarray, strong: list[frozenset[str]], edges: pd.DataFrame,
            guards: Guards) -> np.ndarray:
    """Component label per node.

    `size[i]`: identities node i already stands for (1, or an existing person's count);
    `strong[i]`: strong-identifier tokens it carries ("nhs:<token>"); `edges`: a, b (node numbers),
    probability, conflict (the pair itself has differing strong identifiers), ordered strongest first.
    """
    if edges.empty:
        return np.arange(n)
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    comp = components(n, a, b)
    comp_size = np.bincount(comp, weights=size, minlength=n)
    kinds = pd.DataFrame([(i, s.split(":", 1)[0], s) for i in range(n) for s in strong[i]],
                         columns=["node", "kind", "token"])
    bad = set(np.flatnonzero(comp_size > guards.max_size))
    if not kinds.empty:
        kinds["comp"] = comp[kinds["node"].to_numpy()]
        per = kinds.groupby(["comp", "kind"]).token.nunique()
        bad |= set(per[per > 1].index.get_level_values("comp"))
    if not bad:
        return comp
    label = comp.copy()
    in_bad = np.isin(comp, list(bad))
    label[in_bad] = -1
    # Walk the links of guarded components one by one, strongest first.
    parent = {int(i): int(i) for i in np.flatnonzero(in_bad)}
    weight = {i: float(size[i]) for i in parent}
    ids = {i: set(strong[i]) for i in parent}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    sel = in_bad[a]
    for x, y, conflict in zip(a[sel], b[sel], edges["conflict"].to_numpy()[sel], strict=True):
        rx, ry = find(int(x)), find(int(y))
        if rx == ry or weight[rx] + weight[ry] > guards.max_size:
            continue
        joined = ids[rx] | ids[ry]
        kinds_joined = [t.split(":", 1)[0] for t in joined]
        clash = len(kinds_joined) != len(set(kinds_joined))
        # A direct pair with differing identifiers may still join on the rest of its evidence
        # (a mistyped identifier), unless the project vetoes it; a chain through others never does.
        if clash and (guards.veto or not conflict):
            continue
        parent[ry] = rx
        weight[rx] += weight[ry]
        ids[rx] = joined
    for i in parent:
        label[i] = n + find(i)
    return label
