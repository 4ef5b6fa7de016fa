"""Linkage state in the warehouse: identities, the trained model, merges of persons, review pairs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ptp_pipeline.linkage import frequencies
from ptp_pipeline.linkage.engine import IDENTITY_TABLE, Linked, next_person_id, remember_person_ids
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.linkage.model import TRAIN_FROM, TRAIN_SAMPLE
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def load_model(wh: Warehouse) -> dict[str, Any] | None:
    text = wh.scalar("SELECT settings FROM restricted.linkage_model ORDER BY model_id DESC LIMIT 1")
    return json.loads(text) if text else None


def covers_every_comparison(model: dict[str, Any]) -> bool:
    """Whether a stored model compares every field the current settings compare, at every level they have (a
    model stored before a level was added, such as names swapped and mistyped, would never weigh it)."""
    from ptp_pipeline.linkage.model import settings

    have = {c.get("output_column_name"): {lv.get("label_for_charts") for lv in c.get("comparison_levels", [])}
            for c in model.get("comparisons", [])}
    return all(c["output_column_name"] in have
               and {lv["label_for_charts"] for lv in c["comparison_levels"]} <= have[c["output_column_name"]]
               for c in settings()["comparisons"])


def save_model(wh: Warehouse, model: dict[str, Any], identities: int) -> None:
    next_id = int(wh.scalar("SELECT coalesce(max(model_id), 0) FROM restricted.linkage_model") or 0) + 1
    wh.execute("INSERT INTO restricted.linkage_model VALUES (?, ?, ?, ?)",
               (next_id, _now(), identities, json.dumps(model, sort_keys=True)))


def model_for(wh: Warehouse, incoming: pd.DataFrame) -> dict[str, Any] | None:
    """The stored model; trained here (once) when there are first enough identities to learn from.

    A stored model that lacks a comparison the project now makes (one trained before address evidence)
    would ignore that evidence for good, so it is trained again (or the priors serve until it can be).
    """
    from ptp_pipeline.linkage.model import train

    model = load_model(wh)
    if model is not None and covers_every_comparison(model):
        return model
    stored = int(wh.scalar(f"SELECT count(*) FROM {IDENTITY_TABLE}") or 0)
    if stored + len(incoming) < TRAIN_FROM:
        return None
    cols = ", ".join([IDENT, *TOKEN_COLUMNS])
    sample = wh.query(f"SELECT {cols} FROM {IDENTITY_TABLE} LIMIT {TRAIN_SAMPLE}")
    frame = pd.concat([f for f in (sample, incoming[[IDENT, *TOKEN_COLUMNS]]) if len(f)], ignore_index=True)
    model = train(frame.drop_duplicates(IDENT))
    save_model(wh, model, len(frame))
    return model


def apply_merges(wh: Warehouse, linked: Linked, extract_id: str | None) -> None:
    """Existing persons shown to be one: their identities, records and events move to the kept id."""
    if linked.merges.empty:
        return
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_merges (absorbed BIGINT, kept BIGINT)")
    wh.execute("DELETE FROM _ptp_merges")
    wh.insert_frame("_ptp_merges", linked.merges.astype("int64"))
    for table in ("restricted.link_identity", "restricted.link_record", "shared.pathway_event"):
        wh.execute(f"UPDATE {table} SET person_id = m.kept FROM _ptp_merges m WHERE {table.split('.')[1]}.person_id"
                   " = m.absorbed")
    wh.execute("DELETE FROM shared.person WHERE person_id IN (SELECT absorbed FROM _ptp_merges)")
    for m in linked.merges.itertuples(index=False):
        audit.append(wh, "persons_merged", extract_id=extract_id,
                     detail=f"person {m.absorbed} joined person {m.kept}: a record links them")


def insert_identities(wh: Warehouse, linked: Linked, extract_id: str) -> None:
    rows = linked.identities
    if rows.empty:
        return
    frame = pd.DataFrame({IDENT: rows[IDENT], "person_id": rows["person_id"].astype("int64"),
                          "link_pass": rows["link_pass"], "match_probability": rows["match_probability"],
                          "first_extract": extract_id})
    for col in TOKEN_COLUMNS:
        frame[col] = rows[col]
    wh.insert_frame(IDENTITY_TABLE, frame)
    frequencies.add(wh, frame)


def insert_review(wh: Warehouse, linked: Linked, extract_id: str) -> None:
    """Pairs in the clerical-review band, numbered; a pair already listed (or decided) is not listed again."""
    if linked.review.empty:
        return
    pairs = linked.review.copy()
    swap = pairs["ident_l"] > pairs["ident_r"]
    pairs.loc[swap, ["ident_l", "ident_r"]] = pairs.loc[swap, ["ident_r", "ident_l"]].to_numpy()
    pairs = pairs.drop_duplicates(["ident_l", "ident_r"])
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_review (ident_l VARCHAR, ident_r VARCHAR)")
    wh.execute("DELETE FROM _ptp_review")
    wh.insert_frame("_ptp_review", pairs[["ident_l", "ident_r"]])
    seen = wh.query("SELECT r.ident_l, r.ident_r FROM restricted.link_review r JOIN _ptp_review n "
                    "ON n.ident_l = r.ident_l AND n.ident_r = r.ident_r")
    if len(seen):
        known = set(zip(seen.ident_l, seen.ident_r, strict=True))
        pairs = pairs[[(a, b) not in known for a, b in zip(pairs.ident_l, pairs.ident_r, strict=True)]]
    if pairs.empty:
        return
    start = int(wh.scalar("SELECT coalesce(max(review_id), 0) FROM restricted.link_review") or 0) + 1
    wh.insert_frame("restricted.link_review", pairs.assign(
        review_id=range(start, start + len(pairs)), found_in=extract_id, decision=None, decided_by=None,
        decided_at=None)[["review_id", "ident_l", "ident_r", "match_probability", "found_in", "decision",
                          "decided_by", "decided_at"]])


REVIEW_SQL = """
SELECT r.review_id, r.match_probability, a.person_id AS person_a, b.person_id AS person_b, r.decision,
       r.decided_by
FROM restricted.link_review r
JOIN restricted.link_identity a ON a.ident = r.ident_l
JOIN restricted.link_identity b ON b.ident = r.ident_r
"""


def review_pairs(wh: Warehouse, *, open_only: bool = True) -> pd.DataFrame:
    """Pairs for clerical review with the person ids a reviewer opens through `ptp reidentify` (audited)."""
    where = " WHERE r.decision IS NULL AND a.person_id <> b.person_id" if open_only else ""
    return wh.query(REVIEW_SQL + where + " ORDER BY r.match_probability DESC, r.review_id")


def decide(wh: Warehouse, review_id: int, decision: str, stated: str = "") -> pd.DataFrame:
    """Record a reviewer's decision. `accept` joins the two persons now (audited, the smaller id kept);
    `reject` keeps them apart and the pair is never queued again. Returns the persons merged.

    The decision names the database login (the OS account on DuckDB), as re-identification does, never
    free text; `stated` is a name the reviewer gives, recorded beside the login in the audit entry only.
    """
    from ptp_pipeline.warehouse.persons import refresh_persons, touch

    if decision not in ("accept", "reject"):
        raise ValueError("decision must be accept or reject")
    login = wh.login()
    with wh.transaction():
        pair = wh.query(REVIEW_SQL + " WHERE r.review_id = ?", (review_id,))
        if pair.empty:
            from ptp_pipeline.errors import ConfigError

            raise ConfigError(f"there is no review pair {review_id}",
                              hint="List the open pairs with `ptp linkage review list`.")
        wh.execute("UPDATE restricted.link_review SET decision = ?, decided_by = ?, decided_at = ? "
                   "WHERE review_id = ?", (decision, login, _now(), review_id))
        a, b = int(pair.person_a.iloc[0]), int(pair.person_b.iloc[0])
        merges = pd.DataFrame(columns=["absorbed", "kept"])
        if decision == "accept" and a != b:
            merges = pd.DataFrame({"absorbed": [max(a, b)], "kept": [min(a, b)]})
            touch(wh, frame=pd.DataFrame({"person_id": [min(a, b)]}))
            apply_merges(wh, Linked(pd.DataFrame(), pd.DataFrame(), merges, pd.DataFrame(), {}, 0), None)
            refresh_persons(wh)
        named = f"; stated reviewer: {stated}" if stated and stated != login else ""
        audit.append(wh, "link_review", actor=login,
                     detail=f"review pair {review_id} {decision}ed: persons {a} and {b}{named}")
    return merges


def full_relink(wh: Warehouse, cfg: Any, extract_id: str | None = None) -> dict[str, int]:
    """Re-cluster every identity from scratch (after key rotation or a change of threshold or model).

    Person ids stay stable where they can: each new cluster keeps the old id most of its identities
    carried (then the smallest); a cluster with none gets a new id. Splits and joins are audited.
    Rejected review pairs stay apart. Costs O(warehouse): an explicit run, never part of a merge.
    """
    from ptp_pipeline.linkage.engine import link_batch
    from ptp_pipeline.warehouse.persons import TOUCHED, refresh_persons, touch

    cols = ", ".join([IDENT, "person_id", *TOKEN_COLUMNS])
    with wh.transaction():
        wh.lock("ptp.merge")
        stored = wh.query(f"SELECT {cols} FROM {IDENTITY_TABLE}")
        if stored.empty:
            return {"identities": 0, "persons_before": 0, "persons_after": 0, "changed": 0}
        model = load_model(wh)
        next_id = next_person_id(wh)
        decisions = wh.query("SELECT ident_l, ident_r, decision FROM restricted.link_review "
                             "WHERE decision IS NOT NULL")
        linked = link_batch(stored.drop(columns=["person_id"]), pd.DataFrame(), cfg, model, next_id,
                            decisions=decisions)
        frame = linked.identities[[IDENT, "person_id", "link_pass", "match_probability"]].rename(
            columns={"person_id": "cluster"}).merge(stored[[IDENT, "person_id"]], on=IDENT)
        votes = frame.groupby(["cluster", "person_id"]).size().rename("n").reset_index()
        votes = votes.sort_values(["n", "person_id"], ascending=[False, True])
        kept: dict[int, int] = {}
        used: set[int] = set()
        for row in votes.itertuples(index=False):  # one old id per cluster, each old id used once
            if row.cluster in kept or row.person_id in used:
                continue
            kept[int(row.cluster)] = int(row.person_id)
            used.add(int(row.person_id))
        fresh = next_id + len(linked.identities)  # beyond any id link_batch handed out
        for c in sorted(set(frame.cluster) - set(kept)):
            kept[int(c)] = fresh
            fresh += 1
        frame["new_person"] = frame.cluster.map(kept).astype("int64")
        changed = frame[frame.new_person != frame.person_id]
        if len(changed):
            wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_relabel (ident VARCHAR, person_id BIGINT)")
            wh.execute("DELETE FROM _ptp_relabel")
            wh.insert_frame("_ptp_relabel", changed[[IDENT, "new_person"]].rename(columns={"new_person": "person_id"}))
            touch(wh, "SELECT DISTINCT person_id FROM restricted.link_identity WHERE ident IN "
                  "(SELECT ident FROM _ptp_relabel)")
            wh.execute("UPDATE restricted.link_identity SET person_id = r.person_id FROM _ptp_relabel r "
                       "WHERE link_identity.ident = r.ident")
            wh.execute("UPDATE restricted.link_record SET person_id = r.person_id FROM _ptp_relabel r "
                       "WHERE link_record.ident = r.ident")
            wh.execute("UPDATE shared.pathway_event SET person_id = l.person_id FROM restricted.link_record l "
                       "WHERE pathway_event.event_id = l.record_id AND l.ident IN (SELECT ident FROM _ptp_relabel)")
            touch(wh, "SELECT DISTINCT person_id FROM _ptp_relabel")
            wh.execute(f"DELETE FROM shared.person WHERE person_id IN (SELECT person_id FROM {TOUCHED})")
        passes = frame.set_index(IDENT)
        wh.execute("CREATE TEMP TABLE IF NOT EXISTS _ptp_pass (ident VARCHAR, link_pass VARCHAR, p DOUBLE PRECISION)")
        wh.execute("DELETE FROM _ptp_pass")
        wh.insert_frame("_ptp_pass", pd.DataFrame({"ident": passes.index, "link_pass": passes.link_pass,
                                                   "p": passes.match_probability}))
        wh.execute("UPDATE restricted.link_identity SET link_pass = x.link_pass, match_probability = x.p "
                   "FROM _ptp_pass x WHERE link_identity.ident = x.ident")
        refresh_persons(wh)
        remember_person_ids(wh)
        frequencies.recount(wh)
        result = {"identities": len(frame), "persons_before": int(stored.person_id.nunique()),
                  "persons_after": int(frame.new_person.nunique()), "changed": len(changed)}
        audit.append(wh, "linkage_relinked", extract_id=extract_id,
                     detail=f"full re-cluster: {result['identities']} identities, persons "
                     f"{result['persons_before']} -> {result['persons_after']}, {result['changed']} identities moved")
    return result
