"""Stage 2, check: the extract's header against its protocol, then each field parsed to its type.

A wrong header refuses the whole file. A value that does not parse is not an error here: it gets
status "invalid" and the validate stage quarantines its row with a reason.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.extract.names import (
    describe_columns,
    describe_suggestions,
    did_you_mean,
    header_looks_like_data,
)
from ptp_pipeline.extract.read import SOURCE_LINE, SOURCE_ROW, read_csv_text
from ptp_pipeline.extract.same_rows import first_positions, group_codes
from ptp_pipeline.extract.workarea import CHECKED, STAGE_PARQUET, read_raw
from ptp_pipeline.parallel import ordered_map
from ptp_pipeline.privacy.names import ARROW_STRING
from ptp_pipeline.privacy.normalise import nhs_mod11_sum, parse_dates
from ptp_pipeline.protocol import FieldType, Identifies, Protocol
from ptp_pipeline.runtime import Runtime, WorkItem

STATUS = "status__"
DUP_OF = "dup_of"
#: Suffix of the derived NHS-number column GX checks: STATUS + field + MOD11_SUM (see nhs_mod11_sum).
MOD11_SUM = "__mod11_sum"
#: Suffix of the derived date-of-birth column GX checks: STATUS + field + BIRTH holds one of BIRTH_PROBLEMS
#: or "plausible" (a verdict, never the date).
BIRTH = "__birth"
BIRTH_PROBLEMS = ("future", "before_1900", "after_event")
EARLIEST_BIRTH = pd.Timestamp("1900-01-01")
TRUE_VALUES = {"Y", "YES", "TRUE", "T", "1"}
FALSE_VALUES = {"N", "NO", "FALSE", "F", "0"}


_STATUSES = pa.array(["valid", "invalid", "missing"], pa.large_string())


def status_of(present: pd.Series, ok: pd.Series) -> pd.Series:
    """valid / invalid / missing for each row, from 'a value was given' and 'it parsed'.

    Built as Arrow codes into three words: assigning by mask into Arrow text copies the column each time.
    """
    given = present.to_numpy(dtype=bool, na_value=False)
    parsed = ok.to_numpy(dtype=bool, na_value=False)
    codes = np.where(given, np.where(parsed, 0, 1), 2).astype(np.int8)
    words = pc.take(_STATUSES, pa.array(codes))
    return pd.Series(pd.arrays.ArrowStringArray(words), index=present.index)


def blank_as_missing(text: pd.Series) -> pd.Series:
    """Empty text as <NA>, in Arrow (pandas' `where` on Arrow text copies through Python)."""
    arr = pa.array(text.astype(ARROW_STRING).array)
    out = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    return pd.Series(pd.arrays.ArrowStringArray(out), index=text.index)


def first_of_same(frame: pd.DataFrame, rows: pd.Series, workers: int = 1) -> pd.Series:
    """For each row, the row number of the first row with exactly the same values (<NA> if it is the first);
    an empty value and a missing one count as the same. `workers`: threads for `group_codes`."""
    group = group_codes(frame, blank_is_missing=True, workers=workers)
    first = first_positions(group)
    numbers = rows.to_numpy()
    dup_of = pd.Series(numbers[first[group]], index=frame.index, dtype="Int64")
    return dup_of.where(dup_of != pd.Series(numbers, index=frame.index))


def check_header(columns: list[str], protocol: Protocol, file_name: str) -> list[str]:
    """Columns to drop (when the protocol allows it); refuses the file otherwise.

    Messages never quote a header name that could be a value (see `extract.names`): a file sent
    without its header line has a data row where the header should be. A plain name close to a field the
    file lacks gets a did-you-mean ("DateOfBirth -> date_of_birth").
    """
    declared = [f.name for f in protocol.fields]
    header = [c for c in columns if c != SOURCE_ROW]
    unexpected = [c for c in header if c not in declared]
    missing = [f.name for f in protocol.fields if f.required and f.name not in columns]
    where = Where(file=file_name, line=1)
    data_like = header_looks_like_data(header, declared)
    no_header = (" The first line looks like a data row, not a header: the file may have been sent without its "
                 "header line." if data_like else "")
    absent = [name for name in declared if name not in header]
    suggestions = did_you_mean(header, unexpected, absent, data_like=data_like)
    guess = describe_suggestions(suggestions)
    agreed = f"protocol {protocol.id} v{protocol.version} (partner {protocol.partner.id}, dataset {protocol.dataset})"
    if unexpected and protocol.unexpected_columns == "reject":
        raise ExtractError(
            f"column(s) {describe_columns(header, unexpected, data_like=data_like)} are not allowed by {agreed}, "
            f"so the whole extract is refused and nothing of it is merged "
            f"({len(unexpected)} of the file's {len(header)} columns are not in the protocol).{guess}{no_header}",
            where=where,
            hint=("Ask the partner to send the extract again with its header line first."
                  if data_like else
                  f"Ask {protocol.partner.organisation} to remove the column(s) from the extract"
                  + (" or to rename them as the protocol names them" if suggestions else "")
                  + "; if the partnership has agreed to share them, the data officer must add them to the "
                  "protocol first."),
        )
    if missing:
        raise ExtractError(
            f"required column(s) {', '.join(missing)} of {agreed} are missing from the file's header "
            f"({len(header)} columns), so the whole extract is refused.{guess}{no_header}",
            where=where,
            hint=f"Ask {protocol.partner.organisation} to export the column(s) with exactly these names in the "
                 "header and send the extract again; if the partnership no longer shares them, the data officer "
                 "makes them optional (required: false) in a new version of the protocol.",
        )
    return unexpected


def birth_verdicts(dob: pd.Series, event: pd.Series | None, today: date) -> pd.Series:
    """Per parsed date of birth: in the future, before 1900, after the row's event date, or plausible.

    A birth date like these is a typing error at source (1890 for 1990, the event date in the wrong
    column): tokenised, it would link the row to nobody, or to the wrong person."""
    day = dob.dt.normalize()
    verdict = pd.Series(pd.NA, index=dob.index, dtype="string").mask(dob.notna(), "plausible")
    if event is not None:
        verdict = verdict.mask((day > event.dt.normalize()).fillna(False).astype(bool), "after_event")
    verdict = verdict.mask((day < EARLIEST_BIRTH).fillna(False).astype(bool), "before_1900")
    return verdict.mask((day > pd.Timestamp(today)).fillna(False).astype(bool), "future")


def parse_fields(frame: pd.DataFrame, protocol: Protocol, today: date | None = None) -> pd.DataFrame:
    """Typed columns plus a status column per field (and, for a date of birth, its plausibility on
    `today`, by default the run date). Vectorised: no per-row Python."""
    out = pd.DataFrame({SOURCE_ROW: frame[SOURCE_ROW]})
    for spec in protocol.fields:
        raw = frame[spec.name].str.strip() if spec.name in frame else pd.Series(pd.NA, index=frame.index,
                                                                                 dtype="string")
        raw = blank_as_missing(raw)
        present = raw.notna()
        ok = pd.Series(True, index=frame.index)
        value: pd.Series = raw
        if spec.type in (FieldType.date, FieldType.datetime):
            value = parse_dates(raw, spec.formats or protocol.file.date_formats)
            ok = value.notna()
        elif spec.type in (FieldType.decimal, FieldType.integer):
            # Typed by the protocol, not by the values, so every batch of rows has one schema.
            value = pd.to_numeric(raw, errors="coerce").astype("Float64")
            ok = value.notna()
            if spec.type is FieldType.integer:
                ok &= ((value % 1 == 0) & (value.abs() < 2**53)).fillna(False)
                value = value.where(ok).astype("Int64")
        elif spec.type is FieldType.boolean:
            upper = raw.str.upper()
            value = upper.isin(TRUE_VALUES).astype("boolean").where(upper.isin(TRUE_VALUES | FALSE_VALUES))
            ok = value.notna()
        c = spec.constraints
        if c.max_length is not None:
            ok &= (raw.str.len() <= c.max_length).fillna(True)
        if c.pattern is not None and spec.type in (FieldType.string, FieldType.code):
            ok &= raw.str.fullmatch(c.pattern).fillna(True).astype(bool)
        out[spec.name] = value
        out[STATUS + spec.name] = status_of(present, ok.fillna(False).astype(bool))
        if spec.type is FieldType.nhs_number:
            out[STATUS + spec.name + MOD11_SUM] = nhs_mod11_sum(raw)
    for spec in protocol.fields:
        if spec.identifies is Identifies.date_of_birth and spec.type in (FieldType.date, FieldType.datetime):
            event = out.get(protocol.event.date) if protocol.event.date != spec.name else None
            out[STATUS + spec.name + BIRTH] = birth_verdicts(out[spec.name], event, today or datetime.now(UTC).date())
    return out


#: Rows parsed at a time, and rows per group of the checked file.
BATCH_ROWS = 200_000


def _checked_schema(frame: pd.DataFrame, protocol: Protocol) -> pa.Schema:
    """One schema for every batch: what the first rows parse to (types follow the protocol, not the values)."""
    sample = parse_fields(frame.iloc[:1], protocol).assign(**{DUP_OF: pd.Series([pd.NA], dtype="Int64",
                                                                                index=frame.index[:1])})
    return pa.Schema.from_pandas(sample, preserve_index=False)


def check(rt: Runtime, extract_id: str) -> WorkItem:
    """Read the raw copy, check its header, parse fields; writes checked.parquet (restricted)."""
    folder = rt.work(extract_id)
    item = WorkItem.load(folder)
    protocol = rt.protocol(item.protocol_id, item.protocol_version)
    if protocol.file.format != "csv":
        raise ExtractError(f"file format {protocol.file.format} is not supported yet",
                           where=Where(file=item.file_name), hint="Ask the partner for CSV.")
    frame = read_csv_text(folder / "raw", protocol.file, display_name=item.file_name,
                          load=lambda: read_raw(rt.key, folder / "raw", extract_id, item.file_name))
    item.rows_received = len(frame)
    item.save(folder)
    # Which file line each row starts on (not identifying), for quarantine and partner feedback; taken out of
    # attrs, which pandas deep-copies into every frame derived from this one.
    pd.DataFrame({SOURCE_ROW: frame[SOURCE_ROW], SOURCE_LINE: frame.attrs.pop("lines")}).to_parquet(
        folder / "lines.parquet", index=False, **STAGE_PARQUET)
    dropped = check_header(list(frame.columns), protocol, item.file_name)
    if frame.empty:
        raise ExtractError("the file has a header but no data rows", where=Where(file=item.file_name, line=2),
                           hint="Ask the partner to check the extract's date range and send it again.")
    item.dropped_columns = dropped
    frame = frame.drop(columns=dropped)
    dup_of = first_of_same(frame.drop(columns=[SOURCE_ROW]), frame[SOURCE_ROW], rt.settings.stage_workers)  # whole file
    # Parsed a batch of rows at a time (on the stage's workers): the typed copy never holds the whole extract
    # beside the text.
    def part(i: int) -> pa.Table:
        rows = slice(i * BATCH_ROWS, (i + 1) * BATCH_ROWS)
        parsed = parse_fields(frame.iloc[rows], protocol).assign(**{DUP_OF: dup_of.iloc[rows]})
        return pa.Table.from_pandas(parsed, preserve_index=False)

    with pq.ParquetWriter(folder / CHECKED, _checked_schema(frame, protocol), **STAGE_PARQUET) as writer:
        for table in ordered_map(part, -(-len(frame) // BATCH_ROWS), rt.settings.stage_workers):
            # A batch per group: pseudonymise works a group at a time.
            writer.write_table(table.cast(writer.schema), row_group_size=BATCH_ROWS)
    item.save(folder)
    return item
