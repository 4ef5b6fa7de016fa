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
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.linkage.engine import IDENTITY_TABLE, config_from, link_into, remember_person_ids
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.linkage.store import apply_merges, insert_identities, insert_review, model_for
from ptp_pipeline.memory import release
from ptp_pipeline.parallel import prefetched
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.location import ALCOHOL, LOC
from ptp_pipeline.privacy.names import ARROW_STRING
from ptp_pipeline.privacy.pseudonymise import ADDR, IDENTITIES_FILE, TOKEN, VAULT_FILE
from ptp_pipeline.privacy.vault import store_sealed
from ptp_pipeline.protocol import ProjectConfig
from ptp_pipeline.pull import records as pull_records
from ptp_pipeline.quality import accepted, corrections
from ptp_pipeline.runtime import Runtime, WorkItem
from ptp_pipeline.warehouse import audit
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.merge_rows import (
    PersonIndex,
    address_records,
    column,
    dates,
    event_ids,
    event_rows,
    link_rows,
    location_records,
)
from ptp_pipeline.warehouse.optout import withhold
from ptp_pipeline.warehouse.persons import refresh_persons, touch
from ptp_pipeline.warehouse.removal import remove_events

# Merges that touch more than their own extract's rows (supersede, relink) take this lock in turn.
MERGE_LOCK = "ptp.merge"
# Test hooks for the crash-safety and concurrency tests: write the named file, then wait (up to 120 s,
# or until the release file exists) inside the merge transaction.
PAUSE_ENV = "PTP_TEST_PAUSE_IN_MERGE"  # after the extract's rows are written, before the ledger says merged
PAUSE_BEFORE_LOCK_ENV = "PTP_TEST_PAUSE_BEFORE_MERGE_LOCK"  # inside the transaction, before the merge lock
RELEASE_ENV = "PTP_TEST_RELEASE_MERGE"


def relink(wh: Warehouse, project: ProjectConfig, extract_id: str | None = None) -> pd.DataFrame:
    """After removals (opt-out, purge, rotation): identities with no record left are deleted (their
    tokens go with them) and every person row is rebuilt from what remains. Person ids stay; a full
    re-cluster is `ptp linkage relink`.
    """
    wh.execute("DELETE FROM restricted.link_identity WHERE ident NOT IN "
               "(SELECT ident FROM restricted.link_record WHERE ident IS NOT NULL)")
    wh.execute("DELETE FROM shared.person")
    touch(wh, "SELECT DISTINCT person_id FROM restricted.link_record WHERE person_id IS NOT NULL")
    refresh_persons(wh)
    return pd.DataFrame(columns=["key_type", "records_joined"])


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


def merge(rt: Runtime, extract_id: str) -> None:
    try:
        _merge(rt, extract_id)
    except _MergedMeanwhile:
        return


def extract_identities(path: Path, wanted: pa.Array) -> pd.DataFrame:
    """Field tokens of the accepted rows' identities (`wanted`: their distinct identity tokens), one row each as
    pseudonymise wrote them.

    Read and kept in Arrow a batch at a time: reading the whole file into pandas and then keeping the accepted
    rows held the file twice (3M-row extract, 701,339 identities: 1.75 GB resident for 0.44 GB of tokens); text
    kept in Arrow (a Python string per token was 1.5 s of a 1M-row extract's merge)."""
    found = pd.DataFrame({IDENT: pd.Series(dtype="string")})
    if path.exists():
        with pq.ParquetFile(path, pre_buffer=False) as file:  # see `accepted.batches`
            columns = [c for c in (IDENT, *TOKEN_COLUMNS) if c in file.schema_arrow.names]
            parts = [_as_dictionaries(_wanted_of(b, wanted))
                     for b in file.iter_batches(batch_size=MERGE_BATCH_ROWS, columns=columns)]
        if parts:
            table = pa.Table.from_batches(parts).unify_dictionaries().combine_chunks()
            del parts
            found = table.to_pandas(types_mapper=_token_dtype)
    for col in (IDENT, *TOKEN_COLUMNS):
        if col not in found:
            found[col] = pd.Series(pd.NA, index=found.index, dtype="string")
    return found[[IDENT, *TOKEN_COLUMNS]].reset_index(drop=True)


def _as_dictionaries(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with each field token column dictionary-encoded (the identity token, one per row, stays text).

    A field token repeats across identities (a surname, a birth month, a district: 3 to 405,166 distinct values
    among the 3M-row extract's 701,339 identities), so as a dictionary it is a 4-byte index per identity rather
    than 24 bytes of text: the identities' tokens held through the linkage 443 -> 124 MB. DuckDB reads such a
    column as text, and pandas keeps it in Arrow."""
    text = (pa.string(), pa.large_string())
    arrays = [col.dictionary_encode() if name != IDENT and col.type in text else col
              for name, col in zip(batch.schema.names, batch.columns, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _token_dtype(arrow_type: pa.DataType) -> object:
    """pandas dtypes that keep the identities' text in Arrow: dictionaries as they are, text as Arrow text."""
    if pa.types.is_dictionary(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return ARROW_STRING if arrow_type in (pa.string(), pa.large_string()) else None


def _wanted_of(batch: pa.RecordBatch, wanted: pa.Array) -> pa.RecordBatch:
    """The batch's rows whose identity is `wanted`: the batch itself when they all are (a merge usually wants every
    identity of its extract, and filtering copied every token: 3M-row extract, 444 MB more)."""
    keep = pc.is_in(batch.column(IDENT), value_set=wanted.cast(batch.column(IDENT).type))
    return batch if pc.all(keep).as_py() else batch.filter(keep)


class _Rows(NamedTuple):
    """What one batch of accepted rows adds to the warehouse, before unlinkable records are numbered."""

    addresses: pa.Table
    locations: pa.Table
    events: pa.Table  # no person_id column yet, except for a place dataset (persons are NULL there)
    links: pa.Table | None  # None for a place dataset: its rows are no one's records
    persons: np.ndarray  # each row's person, -1 for a record of no known identity


def _rows(key: ProjectKey, batch: pa.RecordBatch, extract_id: str, partner: str, dataset: str, people: PersonIndex,
          sort: bool, place: bool) -> _Rows:
    """The batch's rows for every table the merge writes (no warehouse access: runs on a worker thread)."""
    rows = pa.Table.from_batches([batch])
    record_id = event_ids(key, extract_id, rows.column(SOURCE_ROW))
    if sort:
        # In record-id order: ids are keyed hashes, so in file order every row lands on a random page of the
        # PostgreSQL record- and event-id B-tree indexes; sorted, a batch walks each index once (1M-row merge
        # 100 -> 82 s, bench/ingest.py). DuckDB has no such index: there it only costs (2 s). Kept on a bulk load
        # too: unlinkable records are numbered in this order, so a rerun numbers them alike.
        order = pc.sort_indices(record_id)
        rows, record_id = rows.take(order), record_id.take(order)
    events = event_rows(rows, record_id, extract_id, partner, dataset)
    addresses, locations = address_records(rows, record_id, extract_id), location_records(rows, record_id, extract_id)
    if place:
        return _Rows(addresses, locations, events.append_column("person_id", pa.nulls(events.num_rows, pa.int64())),
                     None, np.empty(0, np.int64))
    return _Rows(addresses, locations, events, link_rows(rows, record_id, extract_id, partner),
                 people.of(column(rows, TOKEN + IDENT)))


#: Accepted rows turned into events and link records at a time: the merge's memory follows
#: this and the extract's identities, not the extract's rows (two batches: one inserted, the next being made).
MERGE_BATCH_ROWS = 200_000
#: The pseudonymised file's columns the merge writes somewhere (events, link records, addresses, locations).
#: The rest (each field's status, duplicate marks: 17 of 43 columns) stayed in the validation and was read
#: into pandas for nothing (1M-row merge's peak 1,880 -> 1,822 MB without them).
MERGED_COLUMNS = (SOURCE_ROW, TOKEN + IDENT, "birth_year", "sex", "district", "event_date", "event_type", "setting",
                  "cost", "attributes", "address_communal", "address_from", ALCOHOL)


def merged_columns(names: list[str]) -> list[str]:
    return [c for c in names if c in MERGED_COLUMNS or c.startswith((ADDR, LOC))]


def _merge(rt: Runtime, extract_id: str) -> None:
    wh = rt.warehouse
    if wh.scalar("SELECT status FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,)) == "merged":
        return
    folder = rt.work(extract_id)
    item = WorkItem.load(folder)
    listed = accepted.quarantine(folder)  # first: a folder never validated stops here, with a reason
    drop = accepted.dropped(folder, listed)
    quarantine = listed.to_pandas()
    del listed
    names = accepted.columns(folder)
    validation = json.loads((folder / "validation.json").read_text())
    # Only the narrow columns the whole extract is needed for: identities and the period it covers.
    narrow = accepted.read(folder, [c for c in (TOKEN + IDENT, "event_date") if c in names], drop)
    accepted_rows = narrow.num_rows
    identities = extract_identities(folder / IDENTITIES_FILE, pc.unique(column(narrow, TOKEN + IDENT).drop_null()))
    span = pc.min_max(dates(column(narrow, "event_date", pa.date32())))
    start, end = span["min"].as_py(), span["max"].as_py()
    del narrow
    release()  # the whole extract's identity column, read to find the identities: its pages back before linking
    rows_quarantined = len(drop)
    cfg = config_from(rt.project)
    place = rt.protocol(item.protocol_id, item.protocol_version).subject == "place"  # issue 17: never persons
    with wh.transaction():
        touch(wh, "SELECT DISTINCT person_id FROM restricted.link_record WHERE extract_id = ?", (extract_id,))
        for table in ("restricted.link_record", "shared.pathway_event", "restricted.quarantine"):
            wh.execute(f"DELETE FROM {table} WHERE extract_id = ?", (extract_id,))
        wh.insert_frame("restricted.quarantine", quarantine.assign(extract_id=extract_id))
        wh.execute("DELETE FROM restricted.record_address WHERE extract_id = ?", (extract_id,))
        wh.execute("DELETE FROM restricted.event_location WHERE extract_id = ?", (extract_id,))
        store_sealed(wh, extract_id, folder / VAULT_FILE)
        _pause_for_test(PAUSE_BEFORE_LOCK_ENV)
        wh.lock(MERGE_LOCK)
        if wh.scalar("SELECT status FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,)) == "merged":
            raise _MergedMeanwhile
        touch(wh, "SELECT DISTINCT e.person_id FROM shared.pathway_event e JOIN ops.extract_ledger l "
              "ON l.extract_id = e.extract_id WHERE l.extract_id = (SELECT corrects FROM ops.extract_ledger "
              "WHERE extract_id = ?) AND e.person_id IS NOT NULL", (extract_id,))
        corrections.supersede(wh, extract_id)  # a declared correction retires the extract it corrects
        if start is not None:
            supersede(wh, item.partner, item.dataset, extract_id, start, end)
        linked = link_into(wh, identities, cfg, model_for(wh, identities))
        apply_merges(wh, linked, extract_id)
        # A load large beside what a table holds (an initial load above all) builds that table's indexes once
        # at the end of this block instead of row by row (PostgreSQL; `Warehouse.bulk_load`).
        loads = {IDENTITY_TABLE: len(linked.identities), "shared.pathway_event": accepted_rows,
                 "restricted.link_record": 0 if place else accepted_rows,
                 "restricted.record_address": accepted_rows if any(c.startswith(ADDR) for c in names) else 0,
                 "restricted.event_location": accepted_rows if any(c.startswith(LOC) for c in names) else 0}
        with wh.bulk_load(loads):
            insert_identities(wh, linked, extract_id)
            insert_review(wh, linked, extract_id)
            person = pd.concat([f.set_index(IDENT)["person_id"].astype("int64")
                                for f in (linked.known, linked.identities) if len(f)] or [pd.Series(dtype="int64")])
            # The identities' tokens are stored: from here only each identity's person is needed, so the token
            # frames go before the row batches.
            next_person_id, links = linked.next_person_id, linked.links
            merged_persons, review_pairs = len(linked.merges), len(linked.review)
            del linked, identities
            release()
            unlinkable = 0
            people, key, sort = PersonIndex(person), rt.key, wh.dialect == "postgresql"

            def prepare(batch: pa.RecordBatch) -> _Rows:
                return _rows(key, batch, extract_id, item.partner, item.dataset, people, sort=sort, place=place)

            # Each batch's rows are made on a worker thread while the one before is inserted (the inserts, the
            # warehouse's work, and the event ids' HMAC, DuckDB's, both run outside Python's lock). Closed on the
            # way out, so on a failure the worker has stopped and the file is shut before the rollback.
            ahead = 1 if rt.settings.stage_workers > 1 else 0
            with (closing(accepted.batches(folder, merged_columns(names), MERGE_BATCH_ROWS, drop)) as batches,
                  closing(prefetched(batches, prepare, ahead=ahead)) as prepared):
                for rows in prepared:
                    wh.insert_arrow("restricted.record_address", rows.addresses)
                    wh.insert_arrow("restricted.event_location", rows.locations)  # issue 20: where events happened
                    if rows.links is None:  # issue 17: a place dataset's rows are events of no person
                        wh.insert_arrow("shared.pathway_event", rows.events)
                        continue
                    pid = rows.persons
                    # A record with no usable identifier is its own person (unlinkable), never grouped with others.
                    alone = pid < 0
                    first_alone = next_person_id + unlinkable
                    pid[alone] = np.arange(first_alone, first_alone + int(alone.sum()))
                    unlinkable += int(alone.sum())
                    wh.insert_arrow("restricted.link_record", rows.links.append_column("person_id", pa.array(pid)))
                    wh.insert_arrow("shared.pathway_event", rows.events.append_column("person_id", pa.array(pid)))
                    touch(wh, frame=pd.DataFrame({"person_id": np.unique(pid)}))
        _pause_for_test(PAUSE_ENV)
        remember_person_ids(wh)  # before anything is withheld: ids given to opted-out persons are given too
        withhold(wh, rt.project, extract_id)
        refresh_persons(wh)
        wh.execute(
            "UPDATE ops.extract_ledger SET status = 'merged', rows_received = ?, rows_accepted = ?, "
            "rows_quarantined = ?, merged_at = ?, docs_url = ?, reason = NULL, period_start = ?, period_end = ? "
            "WHERE extract_id = ?",
            (item.rows_received, accepted_rows, rows_quarantined,
             datetime.now(UTC).replace(tzinfo=None, microsecond=0), validation.get("docs_url"), start, end,
             extract_id),
        )
        pull_records.settle(wh, extract_id)  # stage 0: pull record settled, SQL watermark advanced
        passes = ", ".join(f"{k}={v}" for k, v in sorted(links.items()))
        audit.append(wh, "merge", extract_id=extract_id,
                     detail=f"{accepted_rows} accepted, {rows_quarantined} quarantined; identities by pass: {passes}; "
                     f"unlinkable records {unlinkable}; persons merged {merged_persons}; "
                     f"pairs for review {review_pairs}")
    wh.checkpoint()
    for name in (accepted.LEGACY_VALIDATED, accepted.PSEUDONYMISED, IDENTITIES_FILE, VAULT_FILE):
        (folder / name).unlink(missing_ok=True)
