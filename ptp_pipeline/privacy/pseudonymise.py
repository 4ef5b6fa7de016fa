"""Stage 3, pseudonymise: normalise identifiers, make keyed match-key tokens, generalise, drop.

Reads checked.parquet (raw identifiers, restricted work area), writes pseudonymised.parquet (no
direct identifier left) and deletes the checked file, so raw identifiers live as short as possible.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ptp_pipeline.extract.check import STATUS, status_of
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.extract.same_rows import first_positions, group_codes
from ptp_pipeline.extract.workarea import CHECKED, STAGE_PARQUET
from ptp_pipeline.linkage.fields import IDENT, linkage_tokens
from ptp_pipeline.memory import release
from ptp_pipeline.parallel import ordered_map
from ptp_pipeline.privacy.address import address_lines, address_tokens, normalise_uprn, of_lines
from ptp_pipeline.privacy.centroids import project_centroids
from ptp_pipeline.privacy.identifiers import normalise_ni_number, normalise_shared_ref, normalise_uln
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.privacy.location import location_columns
from ptp_pipeline.privacy.names import ARROW_STRING, to_text
from ptp_pipeline.privacy.normalise import (
    normalise_name,
    normalise_nhs_number,
    normalise_postcode,
)
from ptp_pipeline.privacy.tokens import scratch
from ptp_pipeline.protocol import Identifies, Level, ProjectConfig, Protocol, Role, Treatment
from ptp_pipeline.runtime import Runtime, WorkItem

STRONG_KINDS = {Identifies.ni_number: ("ni", normalise_ni_number), Identifies.uln: ("uln", normalise_uln),
                Identifies.shared_ref: ("shared_ref", normalise_shared_ref)}
KEY = "key__"
ADDR = KEY + "addr_"  # address tokens: households only, never person match keys
EVENT_COLUMNS = ["event_date", "event_type", "cost", "setting"]


def identity_parts(checked: pd.DataFrame, protocol: Protocol) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalised identity parts (restricted, in memory only) and updated status columns."""
    parts = pd.DataFrame(index=checked.index)
    statuses = pd.DataFrame(index=checked.index)
    for spec in protocol.fields:
        if spec.identifies is None or spec.treatment is Treatment.drop:
            continue
        col = checked[spec.name]
        kind = spec.identifies
        if kind is Identifies.nhs_number:
            nhs = normalise_nhs_number(col)
            parts["nhs_number"] = nhs["nhs_number"]
            statuses[STATUS + spec.name] = nhs["nhs_status"].astype("string")
        elif kind is Identifies.postcode:
            pc = normalise_postcode(col)
            parts["postcode"] = pc["postcode"]
            parts["district"] = pc["district"]
            parts["sector"] = pc["sector"]
            # What the shared tables get: the protocol's level (district unless it says otherwise).
            parts["area"] = pc[(spec.generalise or Level.district).value]
            statuses[STATUS + spec.name] = pc["postcode_status"].astype("string")
        elif kind is Identifies.forename:
            # Every word (linkage derives the first word, nickname, initial and phonetic code).
            parts["forename"] = normalise_name(col)
        elif kind is Identifies.surname:
            parts["surname"] = normalise_name(col)
        elif kind is Identifies.date_of_birth:
            dob = pd.to_datetime(col)
            parts["date_of_birth"] = dob.dt.strftime("%Y-%m-%d").astype("string")
            parts["birth_year"] = dob.dt.year.astype("Int64")
            # Shared tables keep the birth year only where the protocol generalises to the year.
            keep_year = spec.generalise is Level.year
            withheld = pd.Series(pd.NA, index=parts.index, dtype="Int64")
            parts["shared_birth_year"] = parts["birth_year"] if keep_year else withheld
        elif kind is Identifies.sex:
            parts["sex"] = col.astype("string").str.upper()
        elif kind in STRONG_KINDS:
            col_name, normaliser = STRONG_KINDS[kind]
            parts[col_name] = normaliser(col)
            present = checked[STATUS + spec.name] != "missing"
            statuses[STATUS + spec.name] = status_of(present, parts[col_name].notna())
        elif kind is Identifies.local_id:
            parts["local_id"] = (protocol.partner.id + "|" + to_text(col).str.upper().str.strip())
        elif kind is Identifies.address_line:
            parts["address_line"] = col.astype("string")
        elif kind is Identifies.uprn:
            parts["uprn"] = normalise_uprn(col)
            present = checked[STATUS + spec.name] != "missing"
            statuses[STATUS + spec.name] = status_of(present, parts["uprn"].notna())
        elif kind is Identifies.address_type:
            parts["address_type"] = col.astype("string").str.strip().str.lower().str.replace(r"[\s-]+", "_", regex=True)
        else:  # every other kind is handled above
            assert kind is Identifies.address_from
            parts["address_from"] = col
        if kind in (Identifies.forename, Identifies.surname):
            present = checked[STATUS + spec.name] != "missing"
            statuses[STATUS + spec.name] = status_of(present, parts[kind.value].fillna("").str.len() > 0)
    return parts, statuses


TOKEN = KEY + "t_"  # linkage tokens per field (ptp_pipeline.linkage.fields), and the identity token


def match_key_tokens(key: ProjectKey, parts: pd.DataFrame, project: ProjectConfig | None = None) -> pd.DataFrame:
    """Keyed linkage tokens of every comparison form, and the identity token (columns TOKEN + name).

    Each exact and fuzzy form of each identifier gets its own token, so the cascade's match keys
    and Splink's levels are equalities of tokens; no raw value leaves this stage.
    """
    linkable = parts.rename(columns={"nhs_number": "nhs"})
    return linkage_tokens(key, linkable).add_prefix(TOKEN)


def address_columns(rt: Runtime, parts: pd.DataFrame, parsed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Keyed address tokens, the partner's communal flag and address-from date (no raw address).
    `parsed`: the address lines as `address_lines` reads them (read here when not given)."""
    out = pd.DataFrame(index=parts.index)
    if "address_line" not in parts and "uprn" not in parts:
        return out
    na = pd.Series(pd.NA, index=parts.index, dtype="string")
    postcode = parts.get("postcode", na)
    if parsed is None:
        parsed = address_lines(parts.get("address_line", na))
    tokens = address_tokens(rt.key, parsed, postcode, parts.get("uprn"))
    out = tokens.add_prefix(KEY)
    communal = set(rt.project.households.communal_types)
    kind = parts.get("address_type", na)
    out["address_communal"] = kind.isin(communal).astype("boolean").where(kind.notna())
    out["address_from"] = parts.get("address_from", pd.NaT)
    return out


def attributes_json(frame: pd.DataFrame) -> pd.Series:
    """Kept attributes as one JSON text per row, built in DuckDB (no per-row Python)."""
    text = frame.astype("string")
    text.columns = [f"c{i}" for i in range(len(frame.columns))]
    fields = ", ".join(f"{json.dumps(name)}: c{i}" for i, name in enumerate(frame.columns))
    with scratch(len(text)) as con:
        con.register("attrs", text)
        values = con.execute(f"SELECT to_json({{{fields}}})::VARCHAR AS j FROM attrs").fetchnumpy()["j"]
    return pd.Series(values, index=frame.index, dtype="string")


def identifying_columns(columns: Iterable[str], protocol: Protocol) -> list[str]:
    """The checked columns everything identity-derived is a function of (values and their status)."""
    names = [f.name for f in protocol.fields if f.identifies is not None and f.treatment is not Treatment.drop]
    present = set(columns)
    return [c for n in names for c in (n, STATUS + n) if c in present]


#: Distinct identities worked on at a time. Their field tokens (about 40 columns) go to the identities file
#: a chunk at a time: a 3M-row extract's identities held them all at once (pseudonymise peak 3.7 GB). Two chunks
#: are worked on at once (one per worker): 200,000 each peaked at 1,822 MB on that extract, 100,000 at 1,657 MB,
#: and the 1M-row extract's stage took no longer (9.0-9.9 s against 9.9-10.0 s, bench machine of stop 37).
IDENTITY_CHUNK = 100_000
#: Fewest distinct identities worth a worker of their own: below this a part's fixed costs (a DuckDB
#: query per token column) outweigh the overlap.
MIN_PARALLEL_PART = 20_000


def identity_columns(rt: Runtime, distinct: pd.DataFrame, protocol: Protocol) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For distinct combinations of identifying values: per combination, the identity token, address tokens,
    shared identity columns and statuses; and, once per identity token, its field tokens."""
    parts, id_status = identity_parts(distinct, protocol)
    parsed = None
    if "address_line" in parts:  # one parse serves households and person evidence
        parsed = address_lines(parts["address_line"])
        parts = pd.concat([parts, of_lines(parsed).rename(columns={"number": "house_number"})], axis=1)
    tokens = match_key_tokens(rt.key, parts, rt.project)
    na_int = pd.Series(pd.NA, index=parts.index, dtype="Int64")
    na_text = pd.Series(pd.NA, index=parts.index, dtype="string")
    per_code = pd.concat([tokens[[TOKEN + IDENT]], address_columns(rt, parts, parsed),
                          pd.DataFrame({"birth_year": parts.get("shared_birth_year", na_int),
                                        "district": parts.get("area", na_text),
                                        "sex": parts.get("sex", na_text)}),
                          id_status], axis=1)
    identities = tokens[tokens[TOKEN + IDENT].notna()].drop_duplicates(TOKEN + IDENT).rename(
        columns=lambda c: c.removeprefix(TOKEN)).reset_index(drop=True)
    return per_code, identities


def identity_table(rt: Runtime, checked: Path, columns: list[str], protocol: Protocol, identities_path: Path
                   ) -> tuple[np.ndarray, pd.DataFrame]:
    """For the identifying `columns` of every row of the `checked` file: each row's identity code and, per code,
    the identity token, address tokens, shared identity columns and statuses; once per identity, its field
    tokens are written to `identities_path`.

    Worked out once per distinct combination of identifying values (a person's rows repeat them:
    a health extract has about four rows per identity), so the normalising and keying cost follows
    the people in the extract, not its rows. Field tokens stay one row per identity (as
    `restricted.link_identity` holds them), never copied to every row, and are written a part of at most
    IDENTITY_CHUNK combinations at a time (each row-wise, so the file is what one pass over all of them
    wrote). The parts run on the stage's worker threads (`ptp_pipeline.parallel`), at least two where
    there are enough combinations to share.
    """
    # Read here, not by the caller, so that every row's identifying text is gone (and its pages handed back)
    # once each row has its code: the parts below then hold only the distinct combinations (3M-row extract:
    # 386 MB of Arrow text freed before the tokens are made).
    # Statuses as dictionaries (three words each): a tenth of their memory as text.
    ident = arrow_text_frame(pq.read_table(checked, columns=columns,
                                           read_dictionary=[c for c in columns if c.startswith(STATUS)]))
    codes = group_codes(ident, workers=rt.settings.stage_workers)
    distinct = ident.iloc[first_positions(codes)].reset_index(drop=True)
    del ident
    release()
    workers = rt.settings.stage_workers
    parts = max(-(-len(distinct) // IDENTITY_CHUNK), 1)
    if workers > 1 and len(distinct) >= 2 * MIN_PARALLEL_PART:  # an equal share for every worker
        parts = -(-max(parts, workers) // workers) * workers
    size = -(-len(distinct) // parts)

    def part(i: int) -> tuple[pd.DataFrame, pa.Table]:
        chunk, identities = identity_columns(rt, distinct.iloc[i * size:(i + 1) * size].reset_index(drop=True),
                                             protocol)
        return chunk, pa.Table.from_pandas(identities, preserve_index=False)

    per_code: list[pd.DataFrame] = []
    written: list[pa.Array] = []  # identity tokens already in the file: a later combination may repeat one
    with contextlib.ExitStack() as opened:
        writer: pq.ParquetWriter | None = None
        for chunk, table in ordered_map(part, parts, workers):
            per_code.append(chunk)
            if written:
                seen = pc.is_in(table.column(IDENT).cast(pa.large_string()),
                                value_set=pa.chunked_array(written).combine_chunks())
                table = table.filter(pc.invert(seen))
            if writer is None:
                writer = opened.enter_context(pq.ParquetWriter(identities_path, table.schema, **STAGE_PARQUET))
            writer.write_table(table.cast(writer.schema))
            written.append(table.column(IDENT).combine_chunks().cast(pa.large_string()))
    return codes, pd.concat(per_code, ignore_index=True) if len(per_code) > 1 else per_code[0]


def pseudonymise_rows(checked: pd.DataFrame, derived: pd.DataFrame, protocol: Protocol, key: ProjectKey,
                      centroids: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows with no direct identifier left, given each row's identity-derived columns (`identity_table`);
    `centroids` (postcode -> grid reference) places events known by postcode (restricted columns)."""
    id_status = derived[[c for c in derived.columns if c.startswith(STATUS)]]
    out = pd.concat([pd.DataFrame({SOURCE_ROW: checked[SOURCE_ROW]}),
                     derived.drop(columns=[*id_status.columns, "birth_year", "district", "sex"])], axis=1)
    out["birth_year"] = derived["birth_year"]
    out["district"] = derived["district"]
    out["sex"] = derived["sex"]
    ev = protocol.event
    out["event_date"] = checked[ev.date]
    out["event_type"] = checked[ev.type].astype("string")
    # Typed even when absent, so every batch of the stage file has one schema.
    out["cost"] = checked[ev.cost] if ev.cost else pd.Series(pd.NA, index=checked.index, dtype="Float64")
    out["setting"] = (checked[ev.setting] if ev.setting else pd.Series(pd.NA, index=checked.index)).astype("string")
    attrs = [f.name for f in protocol.fields
             if f.role is Role.attribute and f.treatment is Treatment.keep and f.identifies is None]
    out["attributes"] = (attributes_json(checked[attrs]) if attrs
                         else pd.Series(pd.NA, index=checked.index, dtype="string"))
    # Kept non-identifying columns are visible to validation (for allowed values, ranges).
    mapped = {ev.date, ev.type, ev.cost, ev.setting}
    for spec in protocol.fields:
        if spec.identifies is None and spec.treatment is Treatment.keep and spec.name not in mapped:
            out[spec.name] = checked[spec.name]
    statuses = checked[[c for c in checked.columns if c.startswith(STATUS)]].copy()
    for col in id_status:
        statuses[col] = id_status[col]
    return pd.concat([out, statuses, checked[["dup_of"]], location_columns(key, checked, protocol, centroids)],
                     axis=1)


VAULT_FILE = "vault.sealed"
#: One row per identity of the extract: its identity token and field tokens (merge links these).
IDENTITIES_FILE = "identities.parquet"


def vault_frame(checked: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """What the re-identifier may see: each identifying field as checked (dates as ISO text).

    Everything linkage reads is sealed too, so key rotation can re-make tokens from the vault.
    """
    fields = [f.name for f in protocol.fields
              if f.role is Role.direct_identifier or f.identifies is not None or f.locates is not None]
    out = pd.DataFrame({SOURCE_ROW: checked[SOURCE_ROW]})
    for name in fields:
        col = checked[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            col = col.dt.strftime("%Y-%m-%d")
        out[name] = col.astype("string")
    return out


def arrow_text_frame(data: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """A frame whose text stays in Arrow: `to_pandas()` makes a Python string per value (3M rows' identifying
    columns: 2.6 GB of the stage's 3.9 GB peak)."""
    return data.to_pandas(types_mapper=lambda t: ARROW_STRING if t in (pa.string(), pa.large_string()) else None)




def pseudonymise(rt: Runtime, extract_id: str) -> WorkItem:
    """Identities first (from the identifying columns only), then the rows a batch (the checked file's row
    group) at a time, so memory follows the extract's identities and the batch, not every column of every row.
    Both run on the stage's worker threads, the batches written in order."""
    folder = rt.work(extract_id)
    item = WorkItem.load(folder)
    protocol = rt.protocol(item.protocol_id, item.protocol_version)
    source = pq.ParquetFile(folder / CHECKED)
    names = source.schema_arrow.names
    public = rt.reid_public_key
    if public is not None:
        from ptp_pipeline.privacy.vault import seal_records, write_sealed_records

        sealed = [n for n in names if n == SOURCE_ROW or not n.startswith(STATUS)]
        vault = vault_frame(source.read(columns=sealed).to_pandas(), protocol)
        write_sealed_records(seal_records(vault, public, extract_id), folder / VAULT_FILE)
    codes, per_code = identity_table(rt, folder / CHECKED, identifying_columns(names, protocol), protocol,
                                     folder / IDENTITIES_FILE)
    centroids = project_centroids(rt.settings.protocols_dir, rt.project, protocol)
    groups = source.metadata.num_row_groups  # the check stage writes a batch of rows per group
    starts = np.cumsum([0] + [source.metadata.row_group(i).num_rows for i in range(groups)])

    def part(i: int) -> pa.Table:
        checked = arrow_text_frame(pq.ParquetFile(folder / CHECKED).read_row_group(i))
        derived = per_code.take(codes[starts[i]:starts[i + 1]]).set_axis(checked.index)
        return pa.Table.from_pandas(pseudonymise_rows(checked, derived, protocol, rt.key, centroids),
                                    preserve_index=False)

    writer: pq.ParquetWriter | None = None  # opened on the first batch (the check stage never passes an empty file)
    with contextlib.ExitStack() as opened:  # closes the writer, once there is one, whatever happens
        for table in ordered_map(part, groups, rt.settings.stage_workers):
            if writer is None:
                writer = opened.enter_context(
                    pq.ParquetWriter(folder / "pseudonymised.parquet", table.schema, **STAGE_PARQUET))
            writer.write_table(table.cast(writer.schema))
    (folder / CHECKED).unlink()
    return item
