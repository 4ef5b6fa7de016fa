"""Stage 5, merge: one transaction per extract; rerunning it changes nothing.

Events, linkage records and quarantine rows go in together, persons are relinked, the ledger
says `merged` with its counts. A crash anywhere rolls the whole extract back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd

from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.privacy.linkage import link
from ptp_pipeline.privacy.pseudonymise import KEY
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.quality import corrections
from ptp_pipeline.runtime import Runtime, WorkItem
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse

PERSON_SQL = """
INSERT INTO shared.person
SELECT r.person_id, mode(r.birth_year), mode(r.sex), arg_max(r.district, e.event_date),
       min(e.event_date), max(e.event_date), string_agg(DISTINCT e.agency, ',' ORDER BY e.agency),
       count(DISTINCT e.agency), count(*), sum(e.cost)
FROM restricted.link_record r JOIN shared.pathway_event e ON e.event_id = r.record_id
GROUP BY r.person_id
"""


def relink(wh: Warehouse, project: ProjectConfig, extract_id: str | None = None) -> pd.DataFrame:
    """Recluster every record on its tokens and rebuild persons; returns links made per key."""
    records = wh.query("SELECT record_id, person_id FROM restricted.link_record")
    keys = wh.query("SELECT record_id, key_type, token FROM restricted.record_key")
    next_id = int(wh.scalar("SELECT coalesce(max(person_id), 0) FROM restricted.link_record") or 0) + 1
    order = [mk.name for mk in project.linkage.match_keys]
    result = link(records, keys, order, project.linkage.max_persons_per_token, next_id)
    wh.execute("CREATE TEMP TABLE IF NOT EXISTS _assign (record_id VARCHAR, person_id BIGINT)")
    wh.execute("DELETE FROM _assign")
    wh.insert_frame("_assign", result.assignment)
    wh.execute("UPDATE restricted.link_record SET person_id = a.person_id FROM _assign a "
               "WHERE link_record.record_id = a.record_id AND link_record.person_id IS DISTINCT FROM a.person_id")
    wh.execute("UPDATE shared.pathway_event SET person_id = a.person_id FROM _assign a "
               "WHERE pathway_event.event_id = a.record_id AND pathway_event.person_id IS DISTINCT FROM a.person_id")
    wh.execute("DELETE FROM restricted.person_key")
    wh.execute("INSERT INTO restricted.person_key SELECT DISTINCT k.key_type, k.token, r.person_id "
               "FROM restricted.record_key k JOIN restricted.link_record r ON r.record_id = k.record_id")
    wh.execute("DELETE FROM shared.person")
    wh.execute(PERSON_SQL)
    for m in result.merges.itertuples(index=False):
        audit.append(wh, "persons_merged", extract_id=extract_id,
                     detail=f"person {m.absorbed} joined person {m.kept}: a record links them")
    return result.matched_on


def merge(rt: Runtime, extract_id: str) -> None:
    wh = rt.warehouse
    if wh.scalar("SELECT status FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,)) == "merged":
        return
    folder = rt.work(extract_id)
    item = WorkItem.load(folder)
    accepted = pd.read_parquet(folder / "validated.parquet")
    quarantine = pd.read_parquet(folder / "quarantine.parquet")
    validation = json.loads((folder / "validation.json").read_text())
    record_id = extract_id + ":" + accepted[SOURCE_ROW].astype(str)
    link_records = pd.DataFrame({
        "record_id": record_id, "extract_id": extract_id, "source_row": accepted[SOURCE_ROW],
        "partner": item.partner, "birth_year": accepted["birth_year"], "sex": accepted["sex"],
        "district": accepted["district"], "event_date": pd.to_datetime(accepted["event_date"]).dt.date,
    })
    key_cols = [c for c in accepted.columns if c.startswith(KEY)]
    keys = (accepted[key_cols].assign(record_id=record_id)
            .melt(id_vars="record_id", var_name="key_type", value_name="token").dropna(subset=["token"]))
    keys["key_type"] = keys["key_type"].str.removeprefix(KEY)
    events = pd.DataFrame({
        "event_id": record_id, "agency": item.partner, "dataset": item.dataset,
        "event_type": accepted["event_type"], "event_date": link_records["event_date"],
        "setting": accepted["setting"], "cost": accepted["cost"], "attributes": accepted["attributes"],
        "extract_id": extract_id,
    })
    rows_quarantined = int(quarantine["source_row"].nunique())
    with wh.transaction():
        for table in ("restricted.link_record", "shared.pathway_event", "restricted.quarantine"):
            wh.execute(f"DELETE FROM {table} WHERE extract_id = ?", (extract_id,))
        wh.execute("DELETE FROM restricted.record_key WHERE record_id LIKE ?", (extract_id + ":%",))
        corrections.supersede(wh, extract_id)  # a correction retires the extract it corrects
        wh.insert_frame("restricted.link_record", link_records)
        wh.insert_frame("restricted.record_key", keys[["record_id", "key_type", "token"]])
        wh.insert_frame("shared.pathway_event", events)
        wh.insert_frame("restricted.quarantine", quarantine.assign(extract_id=extract_id))
        matched = relink(wh, rt.project, extract_id)
        wh.execute(
            "UPDATE ops.extract_ledger SET status = 'merged', rows_received = ?, rows_accepted = ?, "
            "rows_quarantined = ?, merged_at = ?, docs_url = ?, reason = NULL WHERE extract_id = ?",
            (item.rows_received, len(accepted), rows_quarantined,
             datetime.now(UTC).replace(tzinfo=None, microsecond=0), validation.get("docs_url"), extract_id),
        )
        links = ", ".join(f"{r.key_type}={r.records_joined}" for r in matched.itertuples(index=False))
        audit.append(wh, "merge", extract_id=extract_id,
                     detail=f"{len(accepted)} accepted, {rows_quarantined} quarantined; links by key: {links}")
    for name in ("validated.parquet", "pseudonymised.parquet"):
        (folder / name).unlink(missing_ok=True)
