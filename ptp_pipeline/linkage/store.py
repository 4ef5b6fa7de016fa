"""Linkage state in the warehouse: identities, the trained model, merges of persons, review pairs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ptp_pipeline.linkage.engine import IDENTITY_TABLE, Linked
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

#: Train the model (EM) once the warehouse holds this many identities; until then the priors serve.
TRAIN_FROM = 2_000
TRAIN_SAMPLE = 300_000


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def load_model(wh: Warehouse) -> dict[str, Any] | None:
    text = wh.scalar("SELECT settings FROM restricted.linkage_model ORDER BY model_id DESC LIMIT 1")
    return json.loads(text) if text else None


def save_model(wh: Warehouse, model: dict[str, Any], identities: int) -> None:
    next_id = int(wh.scalar("SELECT coalesce(max(model_id), 0) FROM restricted.linkage_model") or 0) + 1
    wh.execute("INSERT INTO restricted.linkage_model VALUES (?, ?, ?, ?)",
               (next_id, _now(), identities, json.dumps(model, sort_keys=True)))


def model_for(wh: Warehouse, incoming: pd.DataFrame) -> dict[str, Any] | None:
    """The stored model; trained here (once) when there are first enough identities to learn from."""
    from ptp_pipeline.linkage.model import train

    model = load_model(wh)
    if model is not None:
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


def insert_review(wh: Warehouse, linked: Linked, extract_id: str) -> None:
    if linked.review.empty:
        return
    wh.insert_frame("restricted.link_review", linked.review.assign(
        found_in=extract_id, decision=None, decided_by=None, decided_at=None)[
        ["ident_l", "ident_r", "match_probability", "found_in", "decision", "decided_by", "decided_at"]])
