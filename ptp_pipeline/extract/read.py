"""Read a partner extract into text columns, with errors that name file, line and what to do.

Everything is read as text: the check stage, not the reader, decides types, so a bad value
becomes a row-level problem instead of a failed load.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.protocol.model import FileSettings

SOURCE_ROW = "source_row"


def _decode(raw: bytes, encoding: str, where: Where) -> str:
    if raw.startswith(codecs.BOM_UTF8) and encoding.replace("_", "-").lower() in {"utf-8", "utf8", "utf-8-sig"}:
        raw = raw[len(codecs.BOM_UTF8):]
    if b"\x00" in raw[:4096]:
        raise ExtractError("the file is binary, not delimited text", where=where,
                           hint="Ask the partner to export the extract as CSV text.")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ExtractError(
            f"the file is not valid {encoding} text (byte {exc.start} on line {line})",
            where=Where(file=where.file, line=line),
            hint=f"Ask the partner to export as {encoding}, or set file.encoding in the protocol "
                 "to the encoding they use (for example cp1252 for Excel on Windows).",
        ) from None


def _ragged_row_error(text: str, delimiter: str, width: int, where: Where) -> ExtractError:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for record in reader:
        if len(record) != width:
            line = reader.line_num
            return ExtractError(
                f"line {line} has {len(record)} values but the header has {width}",
                where=Where(file=where.file, line=line),
                hint="Check the delimiter in the protocol, and ask the partner to quote values that "
                     "contain it; a short last line often means the transfer was cut off: resend the file.",
            )
    return ExtractError("the file is not well-formed CSV (an unclosed quote?)", where=where,
                        hint="Ask the partner to re-export the extract.")


def read_csv_text(path: Path, settings: FileSettings, display_name: str | None = None) -> pd.DataFrame:
    """Read a CSV extract; every column is text; `source_row` is the 1-based data row."""
    where = Where(file=display_name or path.name)
    raw = path.read_bytes()
    if not raw.strip():
        raise ExtractError("the file is empty", where=where, hint="Ask the partner to send the extract again.")
    text = _decode(raw, settings.encoding, where)
    header = next(iter(io.StringIO(text)), "").rstrip("\r\n")
    names = [h.strip() for h in header.split(settings.delimiter)]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ExtractError(f"the header names column(s) {', '.join(dupes)} more than once", where=where,
                           hint="Ask the partner to send one column per field.")
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=settings.delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:
        # Arrow's message quotes the offending row (identifiers): find the line ourselves instead.
        raise _ragged_row_error(text, settings.delimiter, len(names), where) from None
    frame = table.to_pandas(types_mapper=lambda t: pd.StringDtype() if t == pa.string() else None)
    frame.columns = [c.strip() for c in frame.columns]
    frame.insert(0, SOURCE_ROW, pd.RangeIndex(1, len(frame) + 1))
    return frame
