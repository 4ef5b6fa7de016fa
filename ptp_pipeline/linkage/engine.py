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

import copy
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ptp_pipeline.linkage import frequencies
from ptp_pipeline.linkage.cluster import Guards, cluster, components
from ptp_pipeline.linkage.fields import IDENT, STRONG, TOKEN_COLUMNS, at_a_house
from ptp_pipeline.linkage.model import (
    BLOCKING_RULES,
    TWIN_SHARE,
    forename_rule,
    given_as_other,
    quiet_splink,
    settings,
    swapped_alike,
    uses_term_frequencies,
    with_current_conditions,
)
from ptp_pipeline.linkage.model import with_term_frequencies as with_tf
from ptp_pipeline.linkage.scratch import token_table
from ptp_pipeline.privacy.names import ARROW_STRING, is_in
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.duckdb_backend import scratch_duckdb

IDENTITY_TABLE = "restricted.link_identity"
#: Column Splink sees beside the tokens: pairs in one cascade group are not scored (`apart`).
CASCADE_GROUP = "cascade_group"
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
    # Forenames that share nothing: veto, evidence, or auto (`model.forename_rule`).
    forename_conflict: Literal["auto", "veto", "evidence"] = "auto"
    twin_share: float = TWIN_SHARE  # auto: the share of matching pairs twins could explain


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
        probabilistic=lk.probabilistic, term_frequencies=lk.term_frequencies,
        forename_conflict=lk.forename_conflict, twin_share=lk.twin_share)


@dataclass(frozen=True)
class Linked:
    """What a batch of new identities became."""

    identities: pd.DataFrame  # ident, person_id, link_pass, match_probability + token columns (new rows)
    known: pd.DataFrame  # ident, person_id: identities already in the warehouse (persons after `merges`)
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


_EQUALITY = re.compile(r"\b([lr])\.(\w+) = ([lr])\.(\w+)")


def _symmetric(rule: str) -> bool:
    """The rule holds for (a, b) exactly when it holds for (b, a), as its text shows: with l and r swapped it
    reads the same once each equality's sides are in one order. (False when unsure: both directions are joined.)"""
    def canonical(text: str) -> str:
        text = _EQUALITY.sub(lambda m: " = ".join(sorted((f"{m[1]}.{m[2]}", f"{m[3]}.{m[4]}"))), text)
        # A flat conjunction in any order ("l.fn = r.sn AND l.sn = r.fn" is its own mirror); nested: as written.
        return text if "(" in text else " AND ".join(sorted(text.split(" AND ")))

    swapped = rule.replace("l.", "\0").replace("r.", "l.").replace("\0", "r.")
    return canonical(rule) == canonical(swapped)


#: The new identities' table for the warehouse's joins (`Warehouse.query_frame`).
NEW_COLUMNS = ", ".join([f"{IDENT} VARCHAR", *(f"{t} VARCHAR" for t in TOKEN_COLUMNS)])


#: New identities up to which the candidate search is one statement (a nightly file's few thousand: its joins'
#: hash tables are small); a larger batch searches a rule at a time (`_candidates`).
CANDIDATES_AT_ONCE = 10_000


def _candidates(wh: Warehouse, cfg: LinkConfig, new: pd.DataFrame) -> pd.DataFrame:
    """Existing identities sharing a blocking rule or match key with a new one (`new`; token joins).

    A symmetric rule is joined one way round only: the other finds the same identities (each join scans the
    stored identities). A batch of more than `CANDIDATES_AT_ONCE` identities runs one query per rule, each
    keeping the distinct stored identities it finds: as one statement (a UNION of every rule's join) DuckDB holds
    every rule's hash table at once, and a partner's second large extract, which meets nearly every stored
    identity, went past its limit (250,000 identities against 250,000 at 1 GB). Below that, one statement saves
    the queries' overhead (bench/growth.py, a 10k-row increment: 0.3-0.5 s)."""
    joins = [f"FROM {IDENTITY_TABLE} e JOIN _ptp_new n ON {_rule_sql(rule, a, b)}" for rule in _join_rules(cfg)
             for a, b in ((("e", "n"),) if _symmetric(rule) else (("e", "n"), ("n", "e")))]
    cols = ", ".join(["c.ident", "c.person_id", *(f"c.{t}" for t in TOKEN_COLUMNS)])
    # In ident order: the candidates' codes break ties between equally strong links (`in_cluster_order`).
    new = new[[IDENT, *TOKEN_COLUMNS]]
    if len(new) <= CANDIDATES_AT_ONCE:
        union = " UNION ".join(f"SELECT e.ident {join}" for join in joins)
        return wh.query_frame("_ptp_new", new, NEW_COLUMNS,
                              f"SELECT {cols} FROM {IDENTITY_TABLE} c WHERE c.ident IN ({union}) ORDER BY c.ident")
    found: pa.Array = pa.array([], pa.large_string())
    for part in wh.query_frame_each("_ptp_new", new, NEW_COLUMNS, [f"SELECT DISTINCT e.ident {j}" for j in joins]):
        # Each rule's identities join the distinct set in Arrow and are dropped (a Python set of them: 5 s).
        found = pc.unique(pa.chunked_array([found, pa.array(part[IDENT], pa.large_string())]))
    return wh.query_frame("_ptp_found", pd.DataFrame({IDENT: pd.Series(found, dtype=ARROW_STRING)}),
                          f"{IDENT} VARCHAR",
                          f"SELECT {cols} FROM {IDENTITY_TABLE} c JOIN _ptp_found k ON k.ident = c.ident "
                          "ORDER BY c.ident")


def _strong_sets(frame: pd.DataFrame, rows: np.ndarray) -> list[frozenset[str]]:
    """Strong-identifier tokens of each row where `rows` is true (others: none)."""
    found: dict[int, set[str]] = {}
    for sid in STRONG:  # token columns: every frame link_batch takes has them all
        vals = frame[sid].to_numpy(dtype=object)
        for i in np.flatnonzero(pd.notna(vals) & rows):
            found.setdefault(int(i), set()).add(f"{sid}:{vals[i]}")
    # One shared empty set for the rest (a set per row was 2.7 s of the 3M-row extract's 701,339 identities).
    out: list[frozenset[str]] = [frozenset()] * len(frame)
    for row, tokens in found.items():
        out[row] = frozenset(tokens)
    return out


def cascade_pairs(con: duckdb.DuckDBPyConnection, cfg: LinkConfig, forename_veto: bool = False) -> pd.DataFrame:
    """Exact match-key pairs new-new and new-existing (tables u and c in `con`, whose integer `ident`
    codes number the new identities before the existing ones), guards applied; each pair once.

    With `forename_veto` (the twin guard holds: `forename_rule`), a key of neither an identifier nor the forename
    never joins two records at different addresses whose forenames share nothing, as the probabilistic pass
    never does: in a county-sized population two people share a surname, a date of birth and a postcode district
    often enough (240,000 synthetic persons: a third of the false merges came through `surname_dob_district`,
    bench/linkage.py; docs/linkage.md)."""
    frames = []
    for name, cols in cfg.match_keys:
        # Keys on an identifier (a strong one, or a partner's own reference) name one person whatever the names.
        # At one address (the same full postcode) the key stands: that is where a person's own records meet,
        # whatever has happened to a short forename's spelling.
        guard = (f" AND (coalesce(x.pc = y.pc, false) OR NOT ({forenames_disagree('x', 'y')}))"
                 if forename_veto and not {"fn", "fn_full", *STRONG, "local_id"} & set(cols) else "")
        on = " AND ".join(f"x.{c} = y.{c}" for c in cols)
        notnull = " AND ".join(f"x.{c} IS NOT NULL" for c in cols)
        # Persons per key value: existing persons plus new identities (a guard against hubs).
        key = ", ".join(f"x.{c}" for c in cols)
        sql = f"""
        WITH allr AS (SELECT ident, CAST(person_id AS VARCHAR) AS who, {', '.join(TOKEN_COLUMNS)} FROM c
                      UNION ALL SELECT ident, 'new:' || CAST(ident AS VARCHAR) AS who, {', '.join(TOKEN_COLUMNS)}
                      FROM u),
             crowd AS (SELECT {key}, count(DISTINCT x.who) AS n FROM allr x WHERE {notnull} GROUP BY {key}),
             ok AS (SELECT * FROM crowd WHERE n > 1 AND n <= {int(cfg.max_per_token)})
        SELECT x.ident AS ident_l, y.ident AS ident_r, '{name}' AS key
        FROM u x JOIN allr y ON {on} AND x.ident < y.ident
        JOIN ok ON {' AND '.join(f'ok.{c} = x.{c}' for c in cols)}
        WHERE {' AND '.join(f'(x.{s} IS NULL OR y.{s} IS NULL OR x.{s} = y.{s})' for s in STRONG)}{guard}
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
    cols = [IDENT, *TOKEN_COLUMNS, *([CASCADE_GROUP] if CASCADE_GROUP in new else [])]
    with scratch_duckdb() as con:
        token_table(con, "u", new[cols])
        token_table(con, "c", existing[cols] if len(existing) else new[cols].iloc[:0])
        return _scored(con, model, floor, tf, bool(len(existing)), CASCADE_GROUP in new)


def _aliased(name: str, record: str) -> str:
    return f"{record}.{name}"  # a token column of a table alias: x.fn, y.sn (the model's SQL says fn_l, sn_r)


def forenames_disagree(a: str = "l", b: str = "r") -> str:
    """SQL: records `a` and `b` both have a forename and the two share nothing (not the name, nickname, sound,
    first or last letters, letters, initial, nor a likeness to the other's surname: names swapped, then mistyped).
    Such a pair is never linked on the other fields alone unless the project says evidence, as twins share
    surname, date of birth and address and only their forenames tell them apart."""
    return f"{a}.fn IS NOT NULL AND {b}.fn IS NOT NULL AND NOT (" + " OR ".join(
        [f"coalesce({a}.{c} = {b}.{c}, false)" for c in ("fn", "fn_full", "fn_ph", "fn3", "fn_l3", "fn_srt", "fn_i")]
        # The model's levels for a forename given as the other's surname and for names swapped then mistyped.
        + [f"coalesce({given_as_other('fn', 'sn', _aliased, a, b)}, false)",
           f"coalesce({swapped_alike(_aliased, a, b)}, false)"]) + ")"


#: Pair flags worked out in the scratch database beside Splink's scores (tables u, c; l and r the pair).
FORENAMES_DISAGREE = forenames_disagree()
STRONG_CONFLICT = " OR ".join(f"coalesce(l.{s} <> r.{s}, false)" for s in STRONG)


def _scored(con: duckdb.DuckDBPyConnection, model: dict[str, Any], floor: float, tf: frequencies.Lookups,
            with_existing: bool, grouped: bool) -> pd.DataFrame:
    """Scores >= floor of new-new and new-existing pairs (tables u and c of `con`, tokens as integers), with
    each pair's `forenames_disagree` and `strong_conflict` flags, worked out in DuckDB rather than by
    looking up both identities' tokens in pandas for every scored pair."""
    from splink import DuckDBAPI, Linker

    quiet_splink()
    if grouped:
        model = apart(model)
    db = DuckDBAPI(connection=con)
    u = db.register("u", dataset_display_name="new")
    # The settings were validated when the model was made (and are ours): skip Splink's re-check.
    linker = Linker(u, model, log_level=logging.WARNING, validate_settings=False)
    if uses_term_frequencies(model):
        frequencies.register(db, linker, tf)
    n_new = int(con.execute("SELECT count(*) FROM u").fetchall()[0][0])
    c = db.register("c", dataset_display_name="existing") if with_existing else None
    if n_new <= SCORE_BATCH:
        scored = [linker.inference.predict_within(u, threshold_match_probability=floor, warning_mode="never")]
        if c is not None:
            scored.append(linker.inference.predict_between(u, c, threshold_match_probability=floor,
                                                           warning_mode="never"))
    else:
        scored = _scored_in_parts(con, db, linker, model, floor, n_new, u, c)
    names = ", ".join([IDENT, *TOKEN_COLUMNS])
    pairs = " UNION ALL ".join(f"SELECT {IDENT}_l, {IDENT}_r, match_probability FROM {t.physical_name}"
                               for t in scored)
    return con.execute(f"""
        WITH everyone AS (SELECT {names} FROM u UNION ALL SELECT {names} FROM c)
        SELECT s.{IDENT}_l AS ident_l, s.{IDENT}_r AS ident_r, s.match_probability,
               {FORENAMES_DISAGREE} AS forenames_disagree, {STRONG_CONFLICT} AS strong_conflict
        FROM ({pairs}) s JOIN everyone l ON l.{IDENT} = s.{IDENT}_l JOIN everyone r ON r.{IDENT} = s.{IDENT}_r""").df()


#: New identities (integer codes 0..n-1 in table u) scored against the others at a time (issue 15): Splink
#: blocks and scores a part's pairs only, so its working memory follows this, not the batch. 3M-row extract
#: (701,339 identities): the scratch database no longer fills its limit; 100,000 -> 50,000 (stop 38) took the
#: merge's scoring peak 1,622 -> 1,382 MB for the same time (77.8 / 78.8 s).
SCORE_BATCH = 50_000


def _scored_in_parts(con: duckdb.DuckDBPyConnection, db: Any, linker: Any, model: dict[str, Any], floor: float,
                     n_new: int, u: Any, c: Any) -> list[Any]:
    """`predict_within(u)` (and `predict_between(u, c)`) a part of u at a time: the same pairs, scored the same.

    Within u Splink joins each rule where `l.ident < r.ident`; each part is joined to all of u under that
    condition (added to every rule, so the rules' order and the pairs each leaves to the next are kept), so
    every pair comes once, from the part of its smaller code, and in the same orientation."""
    rules = [r["blocking_rule"] if isinstance(r, dict) else str(r)
             for r in model["blocking_rules_to_generate_predictions"]]
    ordered = [{"blocking_rule": f"({rule}) AND l.{IDENT} < r.{IDENT}"} for rule in rules]
    scored: list[Any] = []
    for start in range(0, n_new, SCORE_BATCH):
        name = f"_ptp_u_{start}"
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM u WHERE {IDENT} >= {start} "
                    f"AND {IDENT} < {start + SCORE_BATCH}")
        part = db.register(name, dataset_display_name=name)
        for other in (u, c) if c is not None else (u,):
            found = linker.inference.predict_between(part, other, blocking_rules_to_generate_predictions=ordered,
                                                     threshold_match_probability=floor, warning_mode="never")
            # Kept as a table of its own: Splink reuses its table names from one call to the next.
            kept = f"_ptp_scored_{len(scored)}"
            con.execute(f"CREATE TABLE {kept} AS SELECT {IDENT}_l, {IDENT}_r, match_probability "
                        f"FROM {found.physical_name}")
            found.drop_table_from_database_and_remove_from_cache()
            scored.append(db.register(kept))
        con.execute(f"DROP TABLE {name}")
    return scored


def apart(model: dict[str, Any]) -> dict[str, Any]:
    """The model scoring only pairs in different cascade groups: a pair the keyed cascade already joined
    (directly or through others) is linked whatever Splink says, so scoring it is wasted work.

    The rules are the project's current `BLOCKING_RULES`, not those a stored model was saved with: the
    candidate search finds stored identities by the same rules, and rules are not learned."""
    out = copy.deepcopy(model)
    out["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": f"({rule}) AND l.{CASCADE_GROUP} <> r.{CASCADE_GROUP}"} for rule in BLOCKING_RULES]
    return out


def cascade_groups(n: int, casc: pd.DataFrame, existing_person: np.ndarray) -> np.ndarray:
    """Group per identity code (new ones first): joined by a cascade pair, or identities of one existing person."""
    n_new = n - len(existing_person)
    persons = np.unique(existing_person)
    # Nodes: identity codes, then one node per existing person (its identities hang on it).
    a = np.concatenate([casc["ident_l"].to_numpy(dtype=np.int64), np.arange(n_new, n)])
    b = np.concatenate([casc["ident_r"].to_numpy(dtype=np.int64), n + np.searchsorted(persons, existing_person)])
    return components(n + len(persons), a, b)[:n]


def strong_conflict(pairs: pd.DataFrame, tokens: pd.DataFrame) -> np.ndarray:
    """Pairs whose identities both hold a strong identifier of one kind, and the two differ."""
    strong = tokens[list(STRONG)]
    left = strong.reindex(pairs["ident_l"].to_numpy())
    right = strong.reindex(pairs["ident_r"].to_numpy())
    out = np.zeros(len(pairs), dtype=bool)
    for sid in STRONG:
        a = left[sid].astype(object).fillna("<l>").to_numpy(dtype=str)
        b = right[sid].astype(object).fillna("<r>").to_numpy(dtype=str)
        out |= left[sid].notna().to_numpy() & right[sid].notna().to_numpy() & (a != b)
    return out


def one_link_each(edges: pd.DataFrame, weak: np.ndarray, free: np.ndarray, node: np.ndarray) -> pd.DataFrame:
    """`edges` (strongest first, `in_cluster_order`) with each weak identity's (`fields.at_a_house`: one name or the
    date of birth at a house) cut to one. Such a record cannot tell a household's people apart ("Lee at 4 Whiteside
    Court" is like Amy Lee and John Lee of that house), so it joins the one it is clearly most like and never makes
    two people one: each weak identity points at one other, so a component holds at most one person that is not
    weak. Where its strongest links are equally strong to two persons (`node`), it stays alone. Only a `free` weak
    identity links: a new one, or a stored one still alone in its person; a stored one that made its link is never
    the way a later record joins that person (the person's other identities are). A data officer's accepted pair
    (key "clerical") stands, and is the weak identity's one link."""
    if not weak.any() or edges.empty:
        return edges
    left, right = edges["ident_l"].to_numpy(dtype=np.int64), edges["ident_r"].to_numpy(dtype=np.int64)
    clerical = (edges["key"] == "clerical").to_numpy(dtype=bool)
    keep = clerical | ~((weak[left] & ~free[left]) | (weak[right] & ~free[right]))
    n = len(edges)
    rank = np.where(clerical, -n, 0) + np.arange(n)  # a clerical decision first: it is the one link
    # Per weak end: its edges in rank order, the other end's node, and the edge's strength (key order, probability).
    ends, ranks = np.concatenate([left, right]), np.concatenate([rank, rank])
    mine = weak[ends] & np.concatenate([keep, keep])
    edge = np.concatenate([np.arange(n), np.arange(n)])[mine]
    table = pd.DataFrame({"end": ends[mine], "other": node[np.concatenate([right, left])][mine], "rank": ranks[mine],
                          "order": edges["order"].to_numpy(dtype=np.int64)[edge],
                          "p": edges["match_probability"].to_numpy(dtype="float64")[edge]}).sort_values("rank")
    first = table.drop_duplicates("end").set_index("end")
    # Ambiguous: another person as strong as the first (a clerical link never is).
    top = table.join(first[["order", "p"]], on="end", rsuffix="_best")
    top = top[(top["order"] == top["order_best"]) & (top["p"] == top["p_best"]) & (top["rank"] >= 0)]
    tied = top.groupby("end")["other"].nunique()
    first = first[~first.index.isin(tied[tied > 1].index) | (first["rank"] < 0)]
    return edges[keep & (clerical | _weak_ends_first(left, right, weak, first["rank"], rank))]


def _persons_without(edges: pd.DataFrame, weak: np.ndarray, node: np.ndarray, n: int) -> np.ndarray:
    """For each identity code, the person its links to identities that are not weak make it part of (before the
    guards): two records of one person equally like a weak one are no ambiguity (FEBRL 3's people
    with several records; `one_link_each`)."""
    left, right = edges["ident_l"].to_numpy(dtype=np.int64), edges["ident_r"].to_numpy(dtype=np.int64)
    named = ~(weak[left] | weak[right])
    return components(n, node[left[named]], node[right[named]])[node]


def weak_review(review: pd.DataFrame, weak: np.ndarray, free: np.ndarray, linked: np.ndarray) -> pd.DataFrame:
    """The review band without pairs that would let a weak identity make a second link (accepting a pair joins the
    two persons whole): a weak identity is offered while it is free and still unlinked (`linked`), and then in its
    likeliest pair only, as `one_link_each` keeps its strongest link."""
    if not weak.any() or review.empty:
        return review
    left, right = review["ident_l"].to_numpy(dtype=np.int64), review["ident_r"].to_numpy(dtype=np.int64)
    unlinked = free & ~linked
    review = review[(~weak[left] | unlinked[left]) & (~weak[right] | unlinked[right])]
    review = review.sort_values("match_probability", ascending=False, kind="stable")
    left, right = review["ident_l"].to_numpy(dtype=np.int64), review["ident_r"].to_numpy(dtype=np.int64)
    n = len(review)
    ends, pos = np.concatenate([left, right]), np.concatenate([np.arange(n), np.arange(n)])
    mine = weak[ends]
    first = pd.Series(pos[mine]).groupby(ends[mine]).min()
    return review[_weak_ends_first(left, right, weak, first, np.arange(n))].sort_index()


def _weak_ends_first(left: np.ndarray, right: np.ndarray, weak: np.ndarray, first: pd.Series,
                     rank: np.ndarray) -> np.ndarray:
    """Pairs to keep: those with no weak end, and those that are the first (`first`: the rank kept per weak
    code) of a weak end they have; an edge between two weak ones is one's pointer, the other keeps its own."""
    chosen = ~(weak[left] | weak[right])
    for end in (left, right):
        chosen |= weak[end] & (first.reindex(end).to_numpy() == rank)
    return chosen


def in_cluster_order(edges: pd.DataFrame) -> pd.DataFrame:
    """Edges strongest first (key order, then probability), ties by identity codes: the size and conflict
    guards keep the first edges that fit, so the order decides who is linked. DuckDB returns pairs in no
    fixed order (threads), so without the codes two runs on the same data could link differently."""
    edges = edges.astype({"ident_l": np.int64, "ident_r": np.int64})
    return edges.sort_values(["order", "match_probability", "ident_l", "ident_r"],
                             ascending=[True, False, True, True], kind="stable")


def link_batch(new: pd.DataFrame, existing: pd.DataFrame, cfg: LinkConfig, model: dict[str, Any] | None,
               next_person_id: int, touched: pd.DataFrame | None = None,
               decisions: pd.DataFrame | None = None, tf: frequencies.Lookups | None = None) -> Linked:
    """Link new identities (unique `ident`, token columns) given candidate existing identities.

    `existing`: ident, person_id and token columns of candidates. `touched`: for each existing
    person among them, its identity count and strong-identifier tokens (size and conflict guards).
    `tf`: token frequencies over the whole population (`{}`: no adjustment); by default those among
    `new`, which is right when `new` is the whole population (`link_frame`, a full relink).
    """
    new = distinct(new)
    empty = pd.DataFrame(columns=["absorbed", "kept"])
    if new.empty:
        none = new.assign(person_id=pd.Series(dtype="int64"), link_pass=pd.Series(dtype="string"),
                          match_probability=pd.Series(dtype="float64"))
        return Linked(none, pd.DataFrame(columns=[IDENT, "person_id"]),
                      empty, pd.DataFrame(columns=["ident_l", "ident_r", "match_probability"]), {}, next_person_id)
    # Work on integer codes, new identities first and then the candidates: a pair is two small numbers
    # rather than two 64-character tokens, so the pairs of a large batch stay small.
    n_new, n_ex = len(new), len(existing)
    idents = np.concatenate([new[IDENT].to_numpy(dtype=object),
                             existing[IDENT].to_numpy(dtype=object) if n_ex else np.array([], dtype=object)])
    u = new[TOKEN_COLUMNS].assign(**{IDENT: np.arange(n_new)})[[IDENT, *TOKEN_COLUMNS]]
    ex_person = existing["person_id"].to_numpy(dtype=np.int64) if n_ex else np.array([], dtype=np.int64)
    c = (existing[TOKEN_COLUMNS].assign(**{IDENT: np.arange(n_new, n_new + n_ex)}) if n_ex else pd.DataFrame(
        {IDENT: pd.Series(dtype="int64"), **{t: pd.Series(dtype="string") for t in TOKEN_COLUMNS}}))
    c = c[[IDENT, *TOKEN_COLUMNS]].assign(person_id=ex_person)
    if tf is None:
        tf = frequencies.of_frame(new) if cfg.probabilistic and cfg.term_frequencies else {}
    model = with_tf(with_current_conditions(model) if model else settings(), cfg.term_frequencies and bool(tf))
    forename_veto, model = forename_rule(model, cfg.forename_conflict, cfg.twin_share)
    # One scratch database for both passes: the tokens go in once, as integers (`token_table`).
    with scratch_duckdb() as con:
        token_table(con, "u", u)
        token_table(con, "c", c)
        casc = cascade_pairs(con, cfg, forename_veto)
        if cfg.probabilistic:
            group = cascade_groups(n_new + n_ex, casc, ex_person)
            con.register("_ptp_groups", pd.DataFrame({IDENT: np.arange(n_new + n_ex), CASCADE_GROUP: group}))
            for table in ("u", "c"):
                con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT t.*, g.{CASCADE_GROUP} FROM {table} t "
                            f"JOIN _ptp_groups g ON g.{IDENT} = t.{IDENT}")
            scored = _scored(con, model, cfg.review_from, tf, n_ex > 0, grouped=True)
        else:
            scored = pd.DataFrame({"ident_l": pd.Series(dtype="int64"), "ident_r": pd.Series(dtype="int64"),
                                   "match_probability": pd.Series(dtype="float64"),
                                   "forenames_disagree": pd.Series(dtype=bool),
                                   "strong_conflict": pd.Series(dtype=bool)})
    # Nodes: new identities, then existing persons; `node[code]` is the node of an identity code.
    persons = np.unique(ex_person)
    node = np.concatenate([np.arange(n_new), n_new + np.searchsorted(persons, ex_person)]).astype(np.int64)
    n = n_new + len(persons)
    size = np.ones(n)
    person_strong: dict[int, frozenset[str]] = {}
    if touched is not None and len(touched):
        person_node = {int(p): n_new + i for i, p in enumerate(persons)}
        for row in touched.itertuples(index=False):
            i = person_node.get(int(row.person_id))
            if i is not None:
                size[i] = row.identities
                person_strong[i] = frozenset(row.strong)
    # Cascade pairs never join differing strong identifiers (`cascade_pairs` leaves such pairs out).
    casc = casc.assign(match_probability=1.0, order=0, strong_conflict=False)
    casc["order"] = casc["key"].map({k: i for i, (k, _) in enumerate(cfg.match_keys)})
    # One edge per pair: the strictest key it matched (the others add nothing).
    casc = casc.sort_values("order", kind="stable").drop_duplicates(["ident_l", "ident_r"])
    if forename_veto:
        scored = scored[~scored["forenames_disagree"].to_numpy(dtype=bool)]
    scored = scored.drop(columns="forenames_disagree")
    links = scored[scored.match_probability >= cfg.threshold].assign(key="probabilistic", order=len(cfg.match_keys))
    # The review band is all that is kept of the scores: the pairs go before clustering (3M-row extract: 168 MB).
    review = scored[(scored.match_probability < cfg.threshold)].copy()
    del scored
    if decisions is not None and len(decisions):
        # Clerical decisions stand: a rejected pair never links directly; an accepted pair always does.
        code_of = pd.Series(np.arange(len(idents)), index=idents)
        decided = decisions.assign(ident_l=decisions.ident_l.map(code_of), ident_r=decisions.ident_r.map(code_of))
        decided = decided.dropna(subset=["ident_l", "ident_r"]).astype({"ident_l": np.int64, "ident_r": np.int64})
        rejected = {frozenset(p) for p, d in zip(zip(decided.ident_l, decided.ident_r, strict=True),
                                                   decided.decision, strict=True) if d == "reject"}
        keep = [frozenset(p) not in rejected for p in zip(links.ident_l, links.ident_r, strict=True)]
        links = links[np.array(keep, dtype=bool)]
        accepted = decided[decided.decision == "accept"]
        tokens = (pd.concat([u, c]) if n_ex else u)[[IDENT, *STRONG]].set_index(IDENT)
        links = pd.concat([links, pd.DataFrame({"ident_l": accepted.ident_l, "ident_r": accepted.ident_r,
                                                "match_probability": 1.0, "key": "clerical",
                                                "order": len(cfg.match_keys) + 1,
                                                "strong_conflict": strong_conflict(accepted, tokens)})],
                          ignore_index=True)
    parts = [f for f in (casc, links) if len(f)] or [casc]
    edges = in_cluster_order(pd.concat(parts, ignore_index=True))
    weak = np.concatenate([at_a_house(new).to_numpy(dtype=bool),
                           at_a_house(existing).to_numpy(dtype=bool) if n_ex else np.zeros(0, dtype=bool)])
    # A stored weak identity alone in its person has not made its one link yet.
    free = weak & ((np.arange(len(weak)) < n_new) | (size[node] == 1))
    edges = one_link_each(edges, weak, free, _persons_without(edges, weak, node, n))
    edges["a"] = node[edges["ident_l"].to_numpy()]
    edges["b"] = node[edges["ident_r"].to_numpy()]

    edges["conflict"] = edges.pop("strong_conflict").to_numpy(dtype=bool)
    # Strong identifiers matter only where a link could join them: a new identity without links stays alone
    # (at 1M rows most have none, and building their sets was a second of the merge).
    linked = np.zeros(n, dtype=bool)
    linked[edges["a"].to_numpy()] = True
    linked[edges["b"].to_numpy()] = True
    strong = _strong_sets(new, linked[:n_new]) + [person_strong.get(n_new + i, frozenset())
                                                  for i in range(len(persons))]
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
    touching = pd.concat([edges[[end, "key", "match_probability", "order"]].rename(columns={end: "code"})
                          for end in ("ident_l", "ident_r")])
    touching = touching[touching.code < n_new].sort_values(["order", "match_probability"], ascending=[True, False])
    best = touching.drop_duplicates("code").set_index("code").reindex(np.arange(n_new))
    out["link_pass"] = best["key"].fillna("new person").map(
        lambda k: k if k in ("probabilistic", "new person", "clerical") else f"cascade:{k}").to_numpy()
    out["match_probability"] = best["match_probability"].astype("float64").to_numpy()
    # A singleton person (no link at all) has no link probability.
    counts = out["link_pass"].value_counts().to_dict()
    if len(review):
        merged_into = dict(zip(merges["absorbed"], merges["kept"], strict=True))
        pid = np.concatenate([out["person_id"].to_numpy(dtype=np.int64),
                              np.array([merged_into.get(int(p), int(p)) for p in ex_person], dtype=np.int64)])
        review = review[pid[review.ident_l.to_numpy()] != pid[review.ident_r.to_numpy()]]
        has_link = np.zeros(len(weak), dtype=bool)
        has_link[edges["ident_l"].to_numpy(dtype=np.int64)] = True
        has_link[edges["ident_r"].to_numpy(dtype=np.int64)] = True
        review = weak_review(review, weak, free, has_link)
    review = review.assign(ident_l=idents[review.ident_l.to_numpy(dtype=np.int64)],
                           ident_r=idents[review.ident_r.to_numpy(dtype=np.int64)])[
        ["ident_l", "ident_r", "match_probability"]]
    return Linked(out, pd.DataFrame(columns=[IDENT, "person_id"]), merges.reset_index(drop=True),
                  review.reset_index(drop=True), {str(k): int(v) for k, v in counts.items()},
                  next_person_id + len(new_labels))


def distinct(new: pd.DataFrame) -> pd.DataFrame:
    """One row per identity, numbered from 0: `new` itself when it already is (a merge's identities are), not
    a copy (`drop_duplicates` copies every token column even when nothing repeats, and `link_into` and
    `link_batch` each made one)."""
    if new[IDENT].duplicated().any():
        new = new.drop_duplicates(IDENT)
    return new if isinstance(new.index, pd.RangeIndex) and new.index.start == 0 and new.index.step == 1 \
        else new.reset_index(drop=True)


_HIGHEST_PERSON = (f"greatest(coalesce((SELECT max(person_id) FROM {IDENTITY_TABLE}), 0), "
                   "coalesce((SELECT max(person_id) FROM restricted.link_record), 0))")


def next_person_id(wh: Warehouse) -> int:
    """The first id never given to a person: after every identity's person, every unlinkable record's (a record
    too sparse to link is a person with no identity, so the identities alone would hand its id out again), and
    every id given before whose records are gone (superseded, opted out, purged: `ops.person_id_high`), so an
    export or audit entry naming a person never comes to mean someone else."""
    return int(wh.scalar(f"SELECT greatest({_HIGHEST_PERSON}, (SELECT max(high) FROM ops.person_id_high))")) + 1


def remember_person_ids(wh: Warehouse) -> None:
    """Raise `ops.person_id_high` to the highest person id now given (in the transaction that gave it)."""
    wh.execute(f"UPDATE ops.person_id_high SET high = greatest(high, {_HIGHEST_PERSON})")


def touched_persons(wh: Warehouse, persons: np.ndarray) -> pd.DataFrame:
    """For each of these stored persons: its identities and strong-identifier tokens (the size and conflict guards).

    Counted and gathered per person in SQL: grouping the identities' rows in pandas made a Series per person
    (a second large extract touching 220,000 persons: 8 s)."""
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_touched (person_id BIGINT)")
    wh.execute("DELETE FROM _ptp_touched")
    wh.insert_frame("_ptp_touched", pd.DataFrame({"person_id": persons}))
    tokens = " || ',' || ".join(f"coalesce('{s}:' || {s}, '')" for s in STRONG)
    rows = wh.query(f"SELECT i.person_id, count(*) AS identities, string_agg({tokens}, ',') AS strong "
                    f"FROM {IDENTITY_TABLE} i JOIN _ptp_touched t ON t.person_id = i.person_id "
                    "GROUP BY i.person_id ORDER BY i.person_id")
    return pd.DataFrame({"person_id": rows["person_id"].to_numpy(dtype=np.int64),
                         "identities": rows["identities"].to_numpy(dtype=np.int64),
                         "strong": [frozenset(filter(None, str(v).split(","))) for v in rows["strong"]]})


def after_merges(person: pd.Series, merges: pd.DataFrame) -> pd.Series:
    """`person` with each absorbed person replaced by the one it joined (`merges`: absorbed, kept)."""
    if merges.empty:
        return person
    kept = pd.Series(merges["kept"].to_numpy(dtype=np.int64), index=merges["absorbed"].to_numpy(dtype=np.int64))
    ids = person.to_numpy(dtype=np.int64).copy()
    hit = np.isin(ids, kept.index.to_numpy())
    ids[hit] = kept.reindex(ids[hit]).to_numpy()
    return pd.Series(ids, index=person.index)


def link_into(wh: Warehouse, new: pd.DataFrame, cfg: LinkConfig, model: dict[str, Any] | None) -> Linked:
    """Link a batch of identities into the warehouse's persons (reads only; the caller writes)."""
    new = distinct(new)
    known = wh.query_frame("_ptp_new", new[[IDENT]], NEW_COLUMNS,
                           f"SELECT i.ident, i.person_id FROM {IDENTITY_TABLE} i JOIN _ptp_new n ON n.ident = i.ident")
    next_id = next_person_id(wh)
    unknown = new[~is_in(new[IDENT], known[IDENT])] if len(known) else new
    if unknown.empty:
        linked = link_batch(unknown, pd.DataFrame(), cfg, model, next_id)
        return Linked(linked.identities, known, linked.merges, linked.review, {"known": len(known)}, next_id)
    # Into an empty warehouse (a first extract) there is nothing to search: on PostgreSQL the search still
    # copied every new identity to the server for its joins (1M-row extract: 0.9 s).
    stored = wh.scalar(f"SELECT 1 FROM {IDENTITY_TABLE} LIMIT 1") is not None
    existing = _candidates(wh, cfg, unknown) if stored else pd.DataFrame()
    touched = pd.DataFrame(columns=["person_id", "identities", "strong"])
    if len(existing):
        touched = touched_persons(wh, existing["person_id"].unique())
    tf = frequencies.for_batch(wh, unknown) if cfg.probabilistic and cfg.term_frequencies else {}
    linked = link_batch(unknown, existing, cfg, model, next_id, touched, tf=tf)
    links = dict(linked.links)
    links["known"] = len(known)
    # A known identity's person may be one this batch proved the same as another: it goes with the person kept.
    known = known.assign(person_id=after_merges(known["person_id"].astype("int64"), linked.merges))
    return Linked(linked.identities, known, linked.merges, linked.review, links, linked.next_person_id)
