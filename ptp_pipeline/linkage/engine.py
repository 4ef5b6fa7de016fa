"""Incremental linkage: a batch of new identities against the persons already in the warehouse.

Cost is O(batch): identities already known are looked up by their identity token; new ones find
candidate existing identities through token joins in the warehouse (one per blocking rule or match
key, indexed on PostgreSQL), then two passes run on those candidates only:
1. the keyed cascade: exact equality of the project's match keys (strictest first);
2. the probabilistic pass: Splink scores new-vs-candidate and new-vs-new pairs on token levels.
Links at or above the threshold join persons (with the guards of cluster.py); pairs between the
review threshold and the threshold are kept for clerical review. Existing person ids never change,
except when a new record proves two persons are one (the smaller id is kept; the merge is returned).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ptp_pipeline.linkage import frequencies
from ptp_pipeline.linkage.cluster import Guards, cluster
from ptp_pipeline.linkage.fields import IDENT, STRONG, TOKEN_COLUMNS
from ptp_pipeline.linkage.model import BLOCKING_RULES, quiet_splink, settings, uses_term_frequencies
from ptp_pipeline.linkage.model import with_term_frequencies as with_tf
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.warehouse.base import Warehouse

IDENTITY_TABLE = "restricted.link_identity"
PART_COLUMN = {"nhs_number": "nhs", "ni_number": "ni", "uln": "uln", "shared_ref": "shared_ref",
               "local_id": "local_id", "forename": "fn", "surname": "sn",
               "date_of_birth": "dob", "postcode": "pc", "birth_year": "dob_y", "district": "pc_dist", "sex": "sex"}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkConfig:
    match_keys: list[tuple[str, list[str]]]
    max_per_token: int = 20
    threshold: float = 0.95
    review_from: float = 0.5
    guards: Guards = field(default_factory=lambda: Guards(max_size=200, veto=False))
    probabilistic: bool = True
    term_frequencies: bool = True  # exact name/postcode matches weighted by how common the token is


DEFAULT_KEYS = [("nhs", ["nhs_number"]), ("ni", ["ni_number"]), ("uln", ["uln"]), ("shared_ref", ["shared_ref"]),
                ("local_id", ["local_id"]),
                ("name_dob_postcode", ["forename", "surname", "date_of_birth", "postcode"]),
                ("name_dob", ["forename", "surname", "date_of_birth"])]


def config_from(project: ProjectConfig | None) -> LinkConfig:
    if project is None:
        keys = DEFAULT_KEYS
        return LinkConfig([(n, [PART_COLUMN[p] for p in parts]) for n, parts in keys])
    lk = project.linkage
    return LinkConfig(
        match_keys=[(mk.name, [PART_COLUMN[p] for p in mk.parts]) for mk in lk.match_keys],
        max_per_token=lk.max_persons_per_token, threshold=lk.threshold, review_from=lk.review_threshold,
        guards=Guards(max_size=lk.max_identities_per_person, veto=lk.strong_id_conflict == "veto"),
        probabilistic=lk.probabilistic, term_frequencies=lk.term_frequencies)


@dataclass(frozen=True)
class Linked:
    """What a batch of new identities became."""

    identities: pd.DataFrame  # ident, person_id, link_pass, match_probability + token columns (new rows)
    known: pd.DataFrame  # ident, person_id: identities already in the warehouse
    merges: pd.DataFrame  # absorbed, kept: existing persons found to be one
    review: pd.DataFrame  # ident_l, ident_r, match_probability: the clerical-review band
    links: dict[str, int]  # identities linked per pass / key
    next_person_id: int


def _rule_sql(rule: str, left: str, right: str) -> str:
    return rule.replace("l.", f"{left}.").replace("r.", f"{right}.")


def _join_rules(cfg: LinkConfig) -> list[str]:
    rules = list(BLOCKING_RULES) if cfg.probabilistic else []
    rules += [" AND ".join(f"l.{c} = r.{c}" for c in cols) for _, cols in cfg.match_keys]
    return rules


def _candidates(wh: Warehouse, cfg: LinkConfig) -> pd.DataFrame:
    """Existing identities sharing a blocking rule or match key with a new one (token joins)."""
    rules = _join_rules(cfg)
    selects = []
    for rule in rules:
        for a, b in (("e", "n"), ("n", "e")):
            selects.append(f"SELECT e.ident FROM {IDENTITY_TABLE} e JOIN _ptp_new n ON {_rule_sql(rule, a, b)}")
    cols = ", ".join(["c.ident", "c.person_id", *(f"c.{t}" for t in TOKEN_COLUMNS)])
    sql = f"SELECT {cols} FROM {IDENTITY_TABLE} c WHERE c.ident IN ({' UNION '.join(selects)})"
    return wh.query(sql)


def _strong_sets(frame: pd.DataFrame) -> list[frozenset[str]]:
    out: list[set[str]] = [set() for _ in range(len(frame))]
    for sid in STRONG:
        if sid not in frame:
            continue
        vals = frame[sid].to_numpy(dtype=object)
        for i in np.flatnonzero(pd.notna(vals)):
            out[i].add(f"{sid}:{vals[i]}")
    return [frozenset(s) for s in out]


def cascade_pairs(con: duckdb.DuckDBPyConnection, cfg: LinkConfig) -> pd.DataFrame:
    """Exact match-key pairs new-new and new-existing (tables u and c in `con`), guards applied."""
    frames = []
    for name, cols in cfg.match_keys:
        on = " AND ".join(f"x.{c} = y.{c}" for c in cols)
        notnull = " AND ".join(f"x.{c} IS NOT NULL" for c in cols)
        # Persons per key value: existing persons plus new identities (a guard against hubs).
        key = ", ".join(f"x.{c}" for c in cols)
        sql = f"""
        WITH allr AS (SELECT ident, CAST(person_id AS VARCHAR) AS who, {', '.join(TOKEN_COLUMNS)} FROM c
                      UNION ALL SELECT ident, 'new:' || ident AS who, {', '.join(TOKEN_COLUMNS)} FROM u),
             crowd AS (SELECT {key}, count(DISTINCT x.who) AS n FROM allr x WHERE {notnull} GROUP BY {key}),
             ok AS (SELECT * FROM crowd WHERE n > 1 AND n <= {int(cfg.max_per_token)})
        SELECT x.ident AS ident_l, y.ident AS ident_r, '{name}' AS key
        FROM u x JOIN allr y ON {on} AND x.ident <> y.ident
        JOIN ok ON {' AND '.join(f'ok.{c} = x.{c}' for c in cols)}
        WHERE {' AND '.join(f'(x.{s} IS NULL OR y.{s} IS NULL OR x.{s} = y.{s})' for s in STRONG)}
        """
        frames.append(con.execute(sql).df())
    if not frames:
        return pd.DataFrame(columns=["ident_l", "ident_r", "key"])
    return pd.concat(frames, ignore_index=True)


def splink_pairs(new: pd.DataFrame, existing: pd.DataFrame, model: dict[str, Any], floor: float,
                 tf: frequencies.Lookups | None = None) -> pd.DataFrame:
    """Splink match probabilities >= floor for new-new and new-existing pairs.

    A model with term-frequency levels needs `tf`: frequencies over the whole population (not the batch).
    """
    tf = tf if tf is not None else frequencies.of_frame(new)
    from splink import DuckDBAPI, Linker

    quiet_splink()
    cols = [IDENT, *TOKEN_COLUMNS]
    con = duckdb.connect()
    try:
        db = DuckDBAPI(connection=con)
        u = db.register(new[cols].reset_index(drop=True), dataset_display_name="new")
        # The settings were validated when the model was made (and are ours): skip Splink's re-check.
        linker = Linker(u, model, log_level=logging.WARNING, validate_settings=False)
        if uses_term_frequencies(model):
            frequencies.register(db, linker, tf)
        frames = []
        within = linker.inference.predict_within(u, threshold_match_probability=floor, warning_mode="never")
        frames.append(within.as_pandas_dataframe())
        if len(existing):
            c = db.register(existing[cols].reset_index(drop=True), dataset_display_name="existing")
            between = linker.inference.predict_between(u, c, threshold_match_probability=floor,
                                                       warning_mode="never")
            frames.append(between.as_pandas_dataframe())
    finally:
        con.close()
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if out.empty:
        return pd.DataFrame(columns=["ident_l", "ident_r", "match_probability"])
    return out.rename(columns={f"{IDENT}_l": "ident_l", f"{IDENT}_r": "ident_r"})[
        ["ident_l", "ident_r", "match_probability"]]


def forenames_disagree(pairs: pd.DataFrame, tokens: pd.DataFrame) -> pd.Series:
    """Pairs whose forenames share nothing (not the name, nickname, sound, first letters or initial, nor a
    swap with the surname). Such a pair is never linked on the other fields alone: twins share surname,
    date of birth and address, and only their forenames tell them apart."""
    if pairs.empty:
        return pd.Series(False, index=pairs.index)
    left = tokens.reindex(pairs["ident_l"].to_numpy())
    right = tokens.reindex(pairs["ident_r"].to_numpy())

    def col(side: pd.DataFrame, name: str, missing: str) -> np.ndarray:
        return side[name].astype(object).where(side[name].notna(), missing).to_numpy(dtype=str)

    both = left["fn"].notna().to_numpy() & right["fn"].notna().to_numpy()
    agree = np.zeros(len(pairs), dtype=bool)
    for name in ("fn", "fn_full", "fn_ph", "fn3", "fn_l3", "fn_srt", "fn_i"):
        agree |= col(left, name, "<l>") == col(right, name, "<r>")
    agree |= col(left, "fn", "<l>") == col(right, "sn", "<r>")
    agree |= col(left, "sn", "<l>") == col(right, "fn", "<r>")
    return pd.Series(both & ~agree, index=pairs.index)


def link_batch(new: pd.DataFrame, existing: pd.DataFrame, cfg: LinkConfig, model: dict[str, Any] | None,
               next_person_id: int, touched: pd.DataFrame | None = None,
               decisions: pd.DataFrame | None = None, tf: frequencies.Lookups | None = None) -> Linked:
    """Link new identities (unique `ident`, token columns) given candidate existing identities.

    `existing`: ident, person_id and token columns of candidates. `touched`: for each existing
    person among them, its identity count and strong-identifier tokens (size and conflict guards).
    `tf`: token frequencies over the whole population (`{}`: no adjustment); by default those among
    `new`, which is right when `new` is the whole population (`link_frame`, a full relink).
    """
    new = new.drop_duplicates(IDENT).reset_index(drop=True)
    empty = pd.DataFrame(columns=["absorbed", "kept"])
    if new.empty:
        none = new.assign(person_id=pd.Series(dtype="int64"), link_pass=pd.Series(dtype="string"),
                          match_probability=pd.Series(dtype="float64"))
        return Linked(none, pd.DataFrame(columns=[IDENT, "person_id"]),
                      empty, pd.DataFrame(columns=["ident_l", "ident_r", "match_probability"]), {}, next_person_id)
    con = duckdb.connect()
    try:
        con.register("u", new[[IDENT, *TOKEN_COLUMNS]])
        ex = existing if len(existing) else pd.DataFrame(
            {IDENT: pd.Series(dtype="string"), "person_id": pd.Series(dtype="int64"),
             **{t: pd.Series(dtype="string") for t in TOKEN_COLUMNS}})
        con.register("c", ex[[IDENT, "person_id", *TOKEN_COLUMNS]])
        casc = cascade_pairs(con, cfg)
    finally:
        con.close()
    if tf is None:
        tf = frequencies.of_frame(new) if cfg.probabilistic and cfg.term_frequencies else {}
    model = with_tf(model or settings(), cfg.term_frequencies and bool(tf))
    scored = (splink_pairs(new, existing, model, cfg.review_from, tf) if cfg.probabilistic
              else pd.DataFrame(columns=["ident_l", "ident_r", "match_probability"]))
    # Nodes: new identities, then existing persons.
    n_new = len(new)
    persons = np.unique(existing["person_id"].to_numpy()) if len(existing) else np.array([], dtype=np.int64)
    node_of: dict[str, int] = dict(zip(new[IDENT], range(n_new), strict=True))
    person_node = {int(p): n_new + i for i, p in enumerate(persons)}
    if len(existing):
        for ident, pid in zip(existing[IDENT], existing["person_id"], strict=True):
            node_of[ident] = person_node[int(pid)]
    n = n_new + len(persons)
    size = np.ones(n)
    new_strong = _strong_sets(new)
    strong = new_strong + [frozenset() for _ in persons]
    if touched is not None and len(touched):
        for row in touched.itertuples(index=False):
            i = person_node.get(int(row.person_id))
            if i is not None:
                size[i] = row.identities
                strong[i] = frozenset(row.strong)
    strong_of = dict(zip(new[IDENT], new_strong, strict=True))
    if len(existing):
        strong_of.update(zip(existing[IDENT], _strong_sets(existing), strict=True))
    casc = casc.assign(match_probability=1.0, order=0)
    casc["order"] = casc["key"].map({k: i for i, (k, _) in enumerate(cfg.match_keys)})
    tokens = pd.concat([new[[IDENT, *TOKEN_COLUMNS]], existing[[IDENT, *TOKEN_COLUMNS]] if len(existing) else None])
    scored = scored[~forenames_disagree(scored, tokens.drop_duplicates(IDENT).set_index(IDENT))]
    links = scored[scored.match_probability >= cfg.threshold].assign(key="probabilistic", order=len(cfg.match_keys))
    if decisions is not None and len(decisions):
        # Clerical decisions stand: a rejected pair never links directly; an accepted pair always does.
        rejected = {frozenset(p) for p, d in zip(zip(decisions.ident_l, decisions.ident_r, strict=True),
                                                   decisions.decision, strict=True) if d == "reject"}
        keep = [frozenset(p) not in rejected for p in zip(links.ident_l, links.ident_r, strict=True)]
        links = links[np.array(keep, dtype=bool)]
        accepted = decisions[decisions.decision == "accept"]
        links = pd.concat([links, pd.DataFrame({"ident_l": accepted.ident_l, "ident_r": accepted.ident_r,
                                                "match_probability": 1.0, "key": "clerical",
                                                "order": len(cfg.match_keys) + 1})], ignore_index=True)
    parts = [f for f in (casc, links) if len(f)] or [casc]
    edges = pd.concat(parts, ignore_index=True).sort_values(["order", "match_probability"],
                                                                    ascending=[True, False], kind="stable")
    edges["a"] = edges["ident_l"].map(node_of)
    edges["b"] = edges["ident_r"].map(node_of)
    edges = edges.dropna(subset=["a", "b"]).astype({"a": np.int64, "b": np.int64})

    def clash(l_id: str, r_id: str) -> bool:
        lk = {s.split(":", 1)[0]: s for s in strong_of.get(l_id, ())}
        return any(lk.get(s.split(":", 1)[0], s) != s for s in strong_of.get(r_id, ()))

    edges["conflict"] = [clash(x, y) for x, y in zip(edges["ident_l"], edges["ident_r"], strict=True)]
    label = cluster(n, size, strong, edges, cfg.guards)
    # Persons per label: the smallest existing id kept, others absorbed; new labels get new ids.
    frame = pd.DataFrame({"label": label, "node": np.arange(n)})
    frame["person"] = pd.array([pd.NA] * n_new + list(persons), dtype="Int64")
    kept = frame.dropna(subset=["person"]).groupby("label")["person"].min()
    absorbed = frame.dropna(subset=["person"]).assign(kept=lambda d: kept.reindex(d.label).to_numpy())
    merges = absorbed[absorbed.person != absorbed.kept].rename(columns={"person": "absorbed"})[["absorbed", "kept"]]
    new_labels = pd.unique(label[:n_new][~np.isin(label[:n_new], kept.index.to_numpy())])
    fresh = pd.Series(np.arange(next_person_id, next_person_id + len(new_labels)), index=new_labels)
    person_of_label = pd.concat([kept.astype("int64"), fresh])
    out = new.copy()
    out["person_id"] = person_of_label.reindex(label[:n_new]).to_numpy().astype(np.int64)
    # How each new identity was placed: the strongest link touching it.
    touching = pd.concat([edges[["ident_l", "key", "match_probability", "order"]].rename(columns={"ident_l": IDENT}),
                          edges[["ident_r", "key", "match_probability", "order"]].rename(columns={"ident_r": IDENT})])
    touching = touching.sort_values(["order", "match_probability"], ascending=[True, False]).drop_duplicates(IDENT)
    best = touching.set_index(IDENT)
    placed = out[IDENT].map(best["key"])
    out["link_pass"] = placed.fillna("new person").map(
        lambda k: k if k in ("probabilistic", "new person", "clerical") else f"cascade:{k}")
    out["match_probability"] = out[IDENT].map(best["match_probability"]).astype("float64")
    # A singleton person (no link at all) has no link probability.
    counts = out["link_pass"].value_counts().to_dict()
    review = scored[(scored.match_probability < cfg.threshold)].copy()
    if len(review):
        pid = dict(zip(out[IDENT], out["person_id"], strict=True))
        if len(existing):
            merged_into = dict(zip(merges["absorbed"], merges["kept"], strict=True))
            pid.update({i: merged_into.get(int(p), int(p)) for i, p in zip(existing[IDENT], existing["person_id"],
                                                                            strict=True)})
        same = [pid.get(x) == pid.get(y) for x, y in zip(review.ident_l, review.ident_r, strict=True)]
        review = review[~np.array(same, dtype=bool)]
    return Linked(out, pd.DataFrame(columns=[IDENT, "person_id"]), merges.reset_index(drop=True),
                  review.reset_index(drop=True), {str(k): int(v) for k, v in counts.items()},
                  next_person_id + len(new_labels))


def link_into(wh: Warehouse, new: pd.DataFrame, cfg: LinkConfig, model: dict[str, Any] | None) -> Linked:
    """Link a batch of identities into the warehouse's persons (reads only; the caller writes)."""
    new = new.drop_duplicates(IDENT).reset_index(drop=True)
    columns = ", ".join(f"{t} VARCHAR" for t in TOKEN_COLUMNS)
    wh.execute(f"CREATE TEMP TABLE IF NOT EXISTS _ptp_new (ident VARCHAR, {columns})")
    wh.execute("DELETE FROM _ptp_new")
    wh.insert_frame("_ptp_new", new[[IDENT, *TOKEN_COLUMNS]])
    known = wh.query(f"SELECT i.ident, i.person_id FROM {IDENTITY_TABLE} i JOIN _ptp_new n ON n.ident = i.ident")
    next_id = int(wh.scalar(f"SELECT coalesce(max(person_id), 0) FROM {IDENTITY_TABLE}") or 0) + 1
    unknown = new[~new[IDENT].isin(known[IDENT])]
    if unknown.empty:
        linked = link_batch(unknown, pd.DataFrame(), cfg, model, next_id)
        return Linked(linked.identities, known, linked.merges, linked.review, {"known": len(known)}, next_id)
    if len(known):
        wh.execute("DELETE FROM _ptp_new WHERE ident IN (SELECT ident FROM restricted.link_identity)")
    existing = _candidates(wh, cfg)
    touched = pd.DataFrame(columns=["person_id", "identities", "strong"])
    if len(existing):
        wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_touched (person_id BIGINT)")
        wh.execute("DELETE FROM _ptp_touched")
        wh.insert_frame("_ptp_touched", pd.DataFrame({"person_id": existing["person_id"].unique()}))
        strong_cols = " || ',' || ".join(f"coalesce('{s}:' || {s}, '')" for s in STRONG)
        rows = wh.query(f"SELECT i.person_id, {strong_cols} AS s FROM {IDENTITY_TABLE} i "
                        "JOIN _ptp_touched t ON t.person_id = i.person_id")
        grouped = rows.groupby("person_id")["s"]
        touched = pd.DataFrame({
            "person_id": grouped.size().index,
            "identities": grouped.size().to_numpy(),
            "strong": [frozenset(x for v in vals for x in str(v).split(",") if x) for _, vals in grouped],
        })
    tf = frequencies.for_batch(wh, unknown) if cfg.probabilistic and cfg.term_frequencies else {}
    linked = link_batch(unknown, existing, cfg, model, next_id, touched, tf=tf)
    links = dict(linked.links)
    links["known"] = len(known)
    return Linked(linked.identities, known, linked.merges, linked.review, links, linked.next_person_id)
