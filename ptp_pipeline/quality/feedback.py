"""Partner feedback: what was wrong with one extract, for the partner who sent it.

One report per extract, CSV (to sort and filter) and HTML (to read), listing each held-back row
by data row and file line, with the field, the problem and how to fix it. It is built from the
ledger row and the quarantine rows of that one extract only, so it can hold nothing from any
other partner, and the quarantine holds no values, so neither does the report: the partner looks
the row up in their own copy of the file.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.warehouse.base import Warehouse

#: The HTML lists this many problems at most (a browser page stays usable); the CSV lists them all.
HTML_MAX_ROWS = 5000
COLUMNS = {"source_row": "row", "source_line": "line", "field": "field", "problem": "problem",
           "hint": "how to fix", "status": "status"}


#: When this share of an extract's rows (and at least MIN_ROWS_FOR_CAUSE) fails one and the same check, the
#: protocol (a date format, a code list) is the likely cause rather than the partner's data.
SYSTEMATIC_SHARE = 0.9
MIN_ROWS_FOR_CAUSE = 10


def likely_protocol_cause(problems: pd.DataFrame, received: int | None) -> str | None:
    """A sentence saying the protocol is the likely cause, when nearly every row fails the same check."""
    rows = problems.dropna(subset=["source_row"]).groupby(["field", "problem"])["source_row"].nunique()
    if not received or received < MIN_ROWS_FOR_CAUSE or rows.empty or rows.max() < SYSTEMATIC_SHARE * received:
        return None
    field, problem = rows.idxmax()
    return (f"{rows.max()} of {received} rows fail the same check ({field} {problem}). When nearly every row fails "
            "one check, the protocol is the likely cause (for example it names another date format or code list "
            "than the partner's system exports), not the partner's data: the data officer checks the protocol "
            "against the file (`ptp protocol check`) before the partner changes anything.")


class FeedbackError(PtpUserError):
    code = "PTP410"
    title = "No such extract"
    hint = "Run `ptp status` to list extract ids, then `ptp feedback EXTRACT_ID`."


@dataclass(frozen=True)
class Feedback:
    extract_id: str
    csv: Path
    html: Path
    rows: int  # data rows with at least one problem


def feedback_rows(wh: Warehouse, extract_id: str) -> tuple[dict[str, object], pd.DataFrame]:
    """The extract's ledger row and its problems (whole-file problems first, then by row and field)."""
    ledger = wh.query("SELECT * FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
    if ledger.empty:
        raise FeedbackError(f"no extract has the id {extract_id}")
    problems = wh.query(
        "SELECT source_row, source_line, field, problem, hint, status FROM restricted.quarantine "
        "WHERE extract_id = ? ORDER BY source_row NULLS FIRST, field, check_name", (extract_id,))
    return ledger.iloc[0].to_dict(), problems


def _csv_frame(problems: pd.DataFrame) -> pd.DataFrame:
    out = problems.rename(columns=COLUMNS)[list(COLUMNS.values())]
    out["row"] = out["row"].astype("Int64").astype("string").fillna("whole file")
    out["line"] = out["line"].astype("Int64").astype("string").fillna("")
    out["field"] = out["field"].fillna("")
    return out


def _html(ledger: dict[str, object], problems: pd.DataFrame, table: pd.DataFrame) -> str:
    e = html.escape

    def cell(v: object) -> str:
        return e("" if v is None or v is pd.NA else str(v))

    facts = [("File", ledger["file_name"]), ("Extract id", ledger["extract_id"]),
             ("Dataset", f"{ledger['partner']}/{ledger['dataset']}"),
             ("Protocol", f"{ledger['protocol_id']} v{ledger['protocol_version']}"),
             ("Received", ledger["received_at"]), ("Outcome", ledger["status"]),
             ("Rows received / accepted / held back",
              f"{ledger['rows_received']} / {ledger['rows_accepted']} / {ledger['rows_quarantined']}")]
    if ledger.get("reason"):
        facts.append(("Why refused", ledger["reason"]))
    cause = likely_protocol_cause(problems, ledger.get("rows_received"))  # type: ignore[arg-type]
    if cause and cause not in str(ledger.get("reason") or ""):
        facts.append(("Likely cause", cause))
    head = "".join(f"<tr><th>{e(k)}</th><td>{cell(v)}</td></tr>" for k, v in facts)
    header = "".join(f"<th>{e(c)}</th>" for c in table.columns)
    shown = table.head(HTML_MAX_ROWS)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in shown.itertuples(index=False))  # at most HTML_MAX_ROWS lines
    more = (f"<p>The first {len(shown):,} of {len(table):,} problems are shown; the CSV file lists them all.</p>"
            if len(shown) < len(table) else "")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Feedback on {cell(ledger['file_name'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Feedback on your extract {cell(ledger['file_name'])}</h1><table>{head}</table>"
        "<p>Rows are counted from the first row after the header; <em>line</em> is the line in the file "
        "(they differ when a quoted value holds a line break). This report holds no values from your file: "
        "look each row up in your own copy, correct it at source and send the corrected extract.</p>"
        f"<h2>Problems ({len(table):,})</h2>{more}<table><tr>{header}</tr>{body}</table></body></html>"
    )


def write_feedback(wh: Warehouse, extract_id: str, out_dir: Path) -> Feedback:
    """Write `<extract_id>.feedback.csv` and `.html` into `out_dir` (created owner-only)."""
    ledger, problems = feedback_rows(wh, extract_id)
    table = _csv_frame(problems)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    csv_path = out_dir / f"{extract_id}.feedback.csv"
    html_path = out_dir / f"{extract_id}.feedback.html"
    table.to_csv(csv_path, index=False)
    html_path.write_text(_html(ledger, problems, table), encoding="utf-8")
    return Feedback(extract_id, csv_path, html_path, int(problems["source_row"].nunique()))
