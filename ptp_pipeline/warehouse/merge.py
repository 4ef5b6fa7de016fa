"""Stage 5, merge: one transaction per extract; rerunning it changes nothing.

Events, linkage records and quarantine rows go in together, events of earlier extracts of the
same partner dataset for the period this one covers are superseded, persons are relinked, opted-out
persons' health events are withheld, the ledger says `merged` with its counts. A crash anywhere
rolls the whole extract back.

Period: the span of the extract's accepted event dates (first to last). A partner that re-sends a
period replaces what it sent before for those dates, so nothing is counted twice.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.pathways.households import rebuild_households
from ptp_pipeline.privacy.linkage import link
from ptp_pipeline.privacy.pseudonymise import ADDR, KEY, VAULT_FILE
from ptp_pipeline.privacy.vault import read_sealed
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.pull import records as pull_records
from ptp_pipeline.quality import corrections
from ptp_pipeline.runtime import Runtime, WorkItem
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.optout import withhold
from ptp_pipeline.warehouse.removal import remove_events

# Persons from their records: most common birth year and sex, district of the latest event.
PERSON_SQL = {
    "duckdb": """
INSERT INTO shared.person
SELECT r.person_id, mode(r.birth_year), mode(r.sex), arg_max(r.district, e.event_date),
       min(e.event_date), max(e.event_date), string_agg(DISTINCT e.agency, ',' ORDER BY e.agency),
       count(DISTINCT e.agency), count(*), sum(e.cost)
FROM restricted.link_record r JOIN shared.pathway_event e ON e.event_id = r.record_id
GROUP BY r.person_id
""",
    "postgresql": """
INSERT INTO shared.person
SELECT r.person_id, mode() WITHIN GROUP (ORDER BY r.birth_year), mode() WITHIN GROUP (ORDER BY r.sex),
       (array_agg(r.district ORDER BY e.event_date DESC NULLS LAST, r.record_id DESC))[1],
       min(e.event_date), max(e.event_date), string_agg(DISTINCT e.agency, ',' ORDER BY e.agency),
       count(DISTINCT e.agency), count(*), sum(e.cost)
FROM restricted.link_record r JOIN shared.pathway_event e ON e.event_id = r.record_id
GROUP BY r.person_id
""",
}
# Merges that touch more than their own extract's rows (supersede, relink) take this lock in turn.
MERGE_LOCK = "ptp.merge"
# Test hooks for the crash-safety and concurrency tests: write the named file, then wait (up to 120 s,
# or until the release file exists) inside the merge transaction.
PAUSE_ENV = "PTP_TEST_PAUSE_IN_MERGE"  # after the extract's rows are written, before the ledger says merged
PAUSE_BEFORE_LOCK_ENV = "PTP_TEST_PAUSE_BEFORE_MERGE_LOCK"  # inside the transaction, before the merge lock
RELEASE_ENV = "PTP_TEST_RELEASE_MERGE"


@dataclass(frozen=True)
class Incoming:
    """An extract's rows not yet in the warehouse: linked with everything else, then written once."""

    records: pd.DataFrame  # restricted.link_record columns except person_id
    keys: pd.DataFrame  # record_id, key_type, token
    events: pd.DataFrame  # shared.pathway_event columns except person_id


def relink(wh: Warehouse, project: ProjectConfig, extract_id: str | None = None,
           incoming: Incoming | None = None) -> pd.DataFrame:
    """Recluster every record on its tokens and rebuild persons; returns links made per key.

    `incoming` rows are inserted with their person ids already set, so only existing records whose
    person changed are updated (an UPDATE rewrites rows: costly on PostgreSQL).
    """
    stored = wh.query("SELECT record_id, person_id FROM restricted.link_record")
    records, keys = stored, wh.query("SELECT record_id, key_type, token FROM restricted.record_key")
    if incoming is not None:
        new = pd.DataFrame({"record_id": incoming.records["record_id"], "person_id": pd.NA})
        records = pd.concat([f for f in (stored, new) if not f.empty] or [new], ignore_index=True)
        new_keys = incoming.keys[["record_id", "key_type", "token"]]
        keys = pd.concat([f for f in (keys, new_keys) if not f.empty] or [new_keys], ignore_index=True)
    next_id = int(wh.scalar("SELECT coalesce(max(person_id), 0) FROM restricted.link_record") or 0) + 1
    order = [mk.name for mk in project.linkage.match_keys]
    result = link(records, keys, order, project.linkage.max_persons_per_token, next_id)
    person = result.assignment.set_index("record_id")["person_id"]
    before = stored.set_index("record_id")["person_id"].astype("float64")
    now = person.reindex(before.index).astype("float64")
    changed = now[before.to_numpy() != now.to_numpy()].dropna()
    if len(changed):
        wh.execute("CREATE TEMP TABLE IF NOT EXISTS _assign (record_id VARCHAR, person_id BIGINT)")
        wh.execute("DELETE FROM _assign")
        wh.insert_frame("_assign", pd.DataFrame({"record_id": changed.index, "person_id": changed.astype("int64")}))
        wh.execute("UPDATE restricted.link_record SET person_id = a.person_id FROM _assign a "
                   "WHERE link_record.record_id = a.record_id")
        wh.execute("UPDATE shared.pathway_event SET person_id = a.person_id FROM _assign a "
                   "WHERE pathway_event.event_id = a.record_id")
    if incoming is not None:
        wh.insert_frame("restricted.link_record",
                        incoming.records.assign(person_id=person.reindex(incoming.records["record_id"]).to_numpy()))
        wh.insert_frame("restricted.record_key", incoming.keys[["record_id", "key_type", "token"]])
        wh.insert_frame("shared.pathway_event",
                        incoming.events.assign(person_id=person.reindex(incoming.events["event_id"]).to_numpy()))
    wh.execute("DELETE FROM restricted.person_key")
    wh.execute("INSERT INTO restricted.person_key SELECT DISTINCT k.key_type, k.token, r.person_id "
               "FROM restricted.record_key k JOIN restricted.link_record r ON r.record_id = k.record_id")
    wh.execute("DELETE FROM shared.person")
    wh.execute(PERSON_SQL[wh.dialect])
    for m in result.merges.itertuples(index=False):
        audit.append(wh, "persons_merged", extract_id=extract_id,
                     detail=f"person {m.absorbed} joined person {m.kept}: a record links them")
    return result.matched_on


def supersede(wh: Warehouse, partner: str, dataset: str, extract_id: str, start: object, end: object) -> int:
    """Remove earlier extracts' events of this partner dataset dated within [start, end]; audit each."""
    gone = remove_events(wh, "e.agency = ? AND e.dataset = ? AND e.extract_id <> ? AND e.event_date BETWEEN ? AND ?",
                         (partner, dataset, extract_id, start, end), "superseded")
    for g in gone.itertuples(index=False):
        audit.append(wh, "supersede", extract_id=str(g.extract_id),
                     detail=f"{g.n} events dated {start} to {end} superseded by extract {extract_id}")
    return int(gone["n"].sum()) if not gone.empty else 0


def _pause_for_test(env: str) -> None:
    marker = os.environ.get(env)
    if marker:
        Path(marker).write_text("inside merge transaction")
        release = Path(os.environ.get(RELEASE_ENV, "/nonexistent/ptp-release"))
        deadline = time.monotonic() + 120
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


class _MergedMeanwhile(Exception):
    """Another process merged this extract while we waited for the lock: roll ours back."""


def address_records(accepted: pd.DataFrame, record_id: pd.Series, extract_id: str) -> pd.DataFrame:
    """Keyed address tokens per record that has any (households only; never person match keys)."""
    cols = [c for c in accepted.columns if c.startswith(ADDR)]
    if not cols:
        return pd.DataFrame()
    out = accepted[cols].rename(columns=lambda c: c.removeprefix(KEY))
    out.insert(0, "record_id", record_id)
    out.insert(1, "extract_id", extract_id)
    out["communal"] = accepted["address_communal"]
    out["address_from"] = pd.to_datetime(accepted["address_from"]).dt.date
    return out[out[[c.removeprefix(KEY) for c in cols]].notna().any(axis=1)]


def merge(rt: Runtime, extract_id: str) -> None:
    try:
        _merge(rt, extract_id)
    except _MergedMeanwhile:
        return


def _merge(rt: Runtime, extract_id: str) -> None:
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
    key_cols = [c for c in accepted.columns if c.startswith(KEY) and not c.startswith(ADDR)]
    keys = (accepted[key_cols].assign(record_id=record_id)
            .melt(id_vars="record_id", var_name="key_type", value_name="token").dropna(subset=["token"]))
    keys["key_type"] = keys["key_type"].str.removeprefix(KEY)
    events = pd.DataFrame({
        "event_id": record_id, "agency": item.partner, "dataset": item.dataset,
        "event_type": accepted["event_type"], "event_date": link_records["event_date"],
        "setting": accepted["setting"], "cost": accepted["cost"], "attributes": accepted["attributes"],
        "extract_id": extract_id,
    })
    addresses = address_records(accepted, record_id, extract_id)
    rows_quarantined = int(quarantine["source_row"].nunique())
    dates = link_records["event_date"].dropna()
    start, end = (dates.min(), dates.max()) if len(dates) else (None, None)
    if rt.protocol(item.protocol_id, item.protocol_version).subject == "place":  # rows about places: no persons
        link_records, keys = link_records.iloc[:0], keys.iloc[:0]
    with wh.transaction():
        wh.execute("DELETE FROM restricted.record_key WHERE record_id IN "
                   "(SELECT record_id FROM restricted.link_record WHERE extract_id = ?)", (extract_id,))
        for table in ("restricted.link_record", "shared.pathway_event", "restricted.quarantine"):
            wh.execute(f"DELETE FROM {table} WHERE extract_id = ?", (extract_id,))
        wh.insert_frame("restricted.quarantine", quarantine.assign(extract_id=extract_id))
        wh.execute("DELETE FROM restricted.record_address WHERE extract_id = ?", (extract_id,))
        wh.insert_frame("restricted.record_address", addresses)
        sealed_path = folder / VAULT_FILE
        wh.execute("DELETE FROM restricted.vault WHERE extract_id = ?", (extract_id,))
        if sealed_path.exists():
            sealed = read_sealed(sealed_path)
            wh.execute("INSERT INTO restricted.vault VALUES (?, ?, ?, ?, ?)",
                       (extract_id, sealed.key_id, sealed.wrapped_key, sealed.nonce, sealed.ciphertext))
        _pause_for_test(PAUSE_BEFORE_LOCK_ENV)
        wh.lock(MERGE_LOCK)
        if wh.scalar("SELECT status FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,)) == "merged":
            raise _MergedMeanwhile
        corrections.supersede(wh, extract_id)  # a declared correction retires the extract it corrects
        if start is not None:
            supersede(wh, item.partner, item.dataset, extract_id, start, end)
        matched = relink(wh, rt.project, extract_id, Incoming(link_records, keys, events))
        _pause_for_test(PAUSE_ENV)
        if withhold(wh, rt.project, extract_id):
            relink(wh, rt.project, extract_id)
        rebuild_households(wh, rt.project)
        wh.execute(
            "UPDATE ops.extract_ledger SET status = 'merged', rows_received = ?, rows_accepted = ?, "
            "rows_quarantined = ?, merged_at = ?, docs_url = ?, reason = NULL, period_start = ?, period_end = ? "
            "WHERE extract_id = ?",
            (item.rows_received, len(accepted), rows_quarantined,
             datetime.now(UTC).replace(tzinfo=None, microsecond=0), validation.get("docs_url"), start, end,
             extract_id),
        )
        pull_records.settle(wh, extract_id)  # stage 0: pull record settled, SQL watermark advanced
        links = ", ".join(f"{r.key_type}={r.records_joined}" for r in matched.itertuples(index=False))
        audit.append(wh, "merge", extract_id=extract_id,
                     detail=f"{len(accepted)} accepted, {rows_quarantined} quarantined; links by key: {links}")
    for name in ("validated.parquet", "pseudonymised.parquet", VAULT_FILE):
        (folder / name).unlink(missing_ok=True)
