"""Read a partner extract into text columns, with errors that name file, line and what to do.

Everything is read as text: the check stage, not the reader, decides types, so a bad value
becomes a row-level problem instead of a failed load.

Rows and lines differ: `source_row` is the 1-based data record (what GX, quarantine and the
partner feedback count), while a quoted value holding a line break makes one record span several
file lines. `record_lines` maps each record to the file line it starts on, so messages can name
both. Errors never quote a row: pyarrow's CSV errors do, so they are never passed on.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ptp_pipeline.errors import ExtractError, Where
from ptp_pipeline.extract.names import describe_duplicates
from ptp_pipeline.protocol.model import FileSettings

SOURCE_ROW = "source_row"
SOURCE_LINE = "source_line"
#: Delimiters a partner's export might use instead of the agreed one.
OTHER_DELIMITERS = (",", ";", "\t", "|")
#: File signatures of formats often misnamed .csv (Excel, zip, gzip, PDF, old Excel/OLE2).
BINARY_SIGNATURES = (b"PK\x03\x04", b"\x1f\x8b", b"%PDF", b"\xd0\xcf\x11\xe0")
_UTF8 = {"utf-8", "utf8", "utf-8-sig", "utf_8"}


def _delimiter_name(d: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(d, repr(d))


def _decode(raw: bytes, encoding: str, where: Where) -> str:
    utf8 = encoding.replace("_", "-").lower() in _UTF8
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ExtractError("the file is UTF-16 text (as Excel's \"Unicode text\" export writes), not "
                           f"{encoding}", where=Where(file=where.file, line=1),
                           hint="Ask the partner to save the extract as \"CSV UTF-8\" and send it again.")
    if raw.startswith(codecs.BOM_UTF8):
        if not utf8:
            raise ExtractError(f"the file starts with a UTF-8 byte-order mark, but the protocol declares "
                               f"file.encoding {encoding}", where=Where(file=where.file, line=1),
                               hint="Ask the partner to export as the agreed encoding; or, if the partnership "
                                    "agrees UTF-8, the data officer sets file.encoding: utf-8 in the protocol.")
        raw = raw[len(codecs.BOM_UTF8):]
    if raw.startswith(BINARY_SIGNATURES) or b"\x00" in raw[:4096]:
        raise ExtractError("the file is binary (for example an Excel workbook or a zip), not delimited text",
                           where=where, hint="Ask the partner to save the extract as CSV text and send it again.")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ExtractError(
            f"the file is not valid {encoding} text (byte {exc.start + 1} of the file, on line {line}); "
            f"the protocol declares file.encoding {encoding}",
            where=Where(file=where.file, line=line),
            hint=f"Ask the partner to export as {encoding}; or, if the partnership agrees the partner's "
                 "encoding (for example cp1252 or latin-1 for Excel on Windows), the data officer sets "
                 "file.encoding in the protocol.",
        ) from None
    except LookupError:
        raise ExtractError(f"the protocol names an encoding Python does not know: {encoding}", where=where,
                           hint="Correct file.encoding in the protocol (for example utf-8 or cp1252).") from None


def _utf8_declared_otherwise(raw: bytes, encoding: str, where: Where) -> None:
    """Refuse a file declared in a single-byte encoding (cp1252, latin-1) that is valid UTF-8 with
    non-ASCII characters: decoding it as declared would garble every accented name (José -> JosÃ©), and
    garbled names make other tokens than the partner's other extracts."""
    if encoding.replace("_", "-").lower() in _UTF8 or raw.isascii() or codecs.lookup(encoding).name == "utf-8":
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(raw), 1 << 20):  # a slice at a time: no second copy of the whole text
            decoder.decode(raw[start:start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return  # not UTF-8: the declared encoding is believable
    first = int(np.argmax(np.frombuffer(raw, dtype=np.uint8) > 127))
    line = raw.count(b"\n", 0, first) + 1
    raise ExtractError(
        f"the protocol declares file.encoding {encoding}, but the file is UTF-8 text (its first non-ASCII "
        f"character, on line {line}, is UTF-8): read as {encoding} its accented letters would be garbled, so "
        "the whole extract is refused. The protocol's encoding is likely wrong, not the partner's file",
        where=Where(file=where.file, line=line),
        hint="If the partner now exports UTF-8 (\"CSV UTF-8\"), the data officer sets file.encoding: utf-8 in the "
             "protocol (a new version) and the file is ingested again; otherwise ask the partner to export as "
             f"{encoding}.",
    )


def _line_endings(raw: bytes) -> bytes:
    """Bare carriage returns (old Mac line endings, or a CR alone among CR-LF lines) outside quotes
    become line feeds, so every reader sees the same lines; inside quotes they are part of a value."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    cr = np.flatnonzero(buf == 13)
    if not len(cr):
        return raw
    bare = cr[(cr + 1 == len(buf)) | (buf[np.minimum(cr + 1, len(buf) - 1)] != 10)]
    if not len(bare):  # CR-LF endings only (what Excel and Python's csv module write)
        return raw
    outside = bare[np.searchsorted(np.flatnonzero(buf == 34), bare) % 2 == 0]
    if not len(outside):
        return raw
    fixed = buf.copy()
    fixed[outside] = 10
    return fixed.tobytes()


def record_lines(data: bytes) -> np.ndarray:
    """The file line on which each non-empty record starts (header included), vectorised.

    A newline ends a record only outside quotes: quote parity is the count of `"` before it
    (an escaped `""` counts twice, so parity holds). Blank lines are skipped, as the reader does.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    quotes = np.flatnonzero(buf == 34)
    ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(buf)]))
    # Blank record: nothing, or only a carriage return, between its start and its end.
    width = stops - starts
    blank = (width == 0) | ((width == 1) & (buf[np.minimum(starts, max(len(buf) - 1, 0))] == 13))
    starts = starts[~blank]
    return np.searchsorted(newlines, starts) + 1


def _lines(text: str) -> Iterator[str]:
    """The text's lines (each with its line feed), made as a reader asks for them: `io.StringIO(text)`
    copies the whole text first, 1.2 s of a 1M-row file's check stage just to read its header."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        stop = len(text) if end < 0 else end + 1
        yield text[start:stop]
        start = stop


def _structure_error(text: str, delimiter: str, width: int, lines: np.ndarray, where: Where) -> ExtractError:
    """Find the first record whose width differs from the header's, and name its first line."""
    reader = csv.reader(_lines(text), delimiter=delimiter, strict=True)
    index = 0
    try:
        for record in reader:
            if not record:
                continue
            if len(record) != width:
                line = int(lines[index]) if index < len(lines) else reader.line_num
                last = index == len(lines) - 1  # lines[0] is the header, so index is the data row
                return ExtractError(
                    f"line {line} (data row {index}) has {len(record)} values but the header has {width}"
                    + (": it is the last line, so the transfer may have been cut off" if last else ""),
                    where=Where(file=where.file, line=line, row=index),
                    hint="Resend the complete file if it was cut off; otherwise check the protocol's delimiter "
                         "and ask the partner to put quotes around values that contain it.",
                )
            index += 1
    except csv.Error:
        line = int(lines[index]) if index < len(lines) else reader.line_num
        return ExtractError(
            f"a quote opened on line {line} (data row {index}) is never closed",
            where=Where(file=where.file, line=line, row=index),
            hint="A file that ends inside quotes was usually cut off in transfer: ask the partner to resend it; "
                 "otherwise ask them to close the quotes or remove stray quote marks.",
        )
    return ExtractError("the file is not well-formed CSV", where=where,
                        hint="Ask the partner to re-export the extract as CSV.")


def _header(text: str, settings: FileSettings, where: Where) -> list[str]:
    try:
        first = next(csv.reader(_lines(text), delimiter=settings.delimiter), [])
    except csv.Error:
        raise ExtractError("the header line cannot be read as CSV (a quote out of place, or a name longer "
                           "than 128 KiB)",
                           where=Where(file=where.file, line=1),
                           hint="Ask the partner to re-export the extract as CSV with its header line first.") from None
    names = [h.strip() for h in first]
    if len(names) <= 1:
        # One column: the partner may have used another delimiter than the agreed one.
        line = next(_lines(text), "").removesuffix("\n")
        found = [d for d in OTHER_DELIMITERS if d != settings.delimiter and d in line]
        if found:
            raise ExtractError(
                f"the header has one column when split on the protocol's delimiter "
                f"({_delimiter_name(settings.delimiter)}), but it contains {_delimiter_name(found[0])}s",
                where=Where(file=where.file, line=1),
                hint=f"Ask the partner to export with the agreed {_delimiter_name(settings.delimiter)} delimiter; "
                     "or, if the partnership agrees theirs, the data officer sets file.delimiter in the protocol.",
            )
    if len(set(names)) != len(names):
        raise ExtractError(f"the header repeats a column name: {describe_duplicates(names)}",
                           where=Where(file=where.file, line=1),
                           hint="Ask the partner to send exactly one column per field.")
    return names


def read_csv_text(path: Path, settings: FileSettings, display_name: str | None = None,
                  load: Callable[[], bytes] | None = None) -> pd.DataFrame:
    """Read a CSV extract (or the bytes `load()` gives, such as the decrypted work copy); every column is text;
    `source_row` is the 1-based data record.

    The bytes are asked for here, not passed in, so that nothing outside holds them: they are let go once
    Arrow has parsed them (3M-row extract: 317 MB less beside the parsed table).
    The frame's `attrs["lines"]` holds the file line each data record starts on.
    """
    where = Where(file=display_name or path.name)
    raw = path.read_bytes() if load is None else load()
    if not raw:
        raise ExtractError("the file is empty (0 bytes)", where=where,
                           hint="The transfer may have failed: ask the partner to send the extract again.")
    if not raw.strip():
        raise ExtractError("the file holds only blank space, no header and no rows", where=where,
                           hint="Ask the partner to send the extract again.")
    raw = _line_endings(raw)
    text = _decode(raw, settings.encoding, where)
    _utf8_declared_otherwise(raw, settings.encoding, where)
    names = _header(text, settings, where)
    # UTF-8 bytes for Arrow: the file's own when it is UTF-8 (no second copy), else re-encoded.
    utf8 = settings.encoding.replace("_", "-").lower() in _UTF8
    body = raw.removeprefix(codecs.BOM_UTF8) if utf8 else text.encode("utf-8")
    del text, raw
    lines = record_lines(body)
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=settings.delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:
        # Arrow's message quotes the offending row (identifiers): find the line ourselves instead.
        raise _structure_error(body.decode("utf-8"), settings.delimiter, len(names), lines, where) from None
    del body
    text = pd.StringDtype()  # Arrow-backed when the stage runs with mode.string_storage = pyarrow
    frame = table.to_pandas(types_mapper=lambda t: text if t == pa.string() else None)
    frame.insert(0, SOURCE_ROW, pd.RangeIndex(1, len(frame) + 1))
    data_lines = lines[1:]
    frame.attrs["lines"] = data_lines if len(data_lines) == len(frame) else frame[SOURCE_ROW].to_numpy() + 1
    return frame
