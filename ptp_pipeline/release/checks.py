"""Automatic disclosure checks on an output before anyone may release it (OpenSAFELY Airlock's "checks").

What is checked, by file type (the project's `suppression:` rule):
- CSV and Parquet tables: no record-level column (person, event or household id); every count (a column of
  whole numbers not named as a measure) is 0 or at least min_count and a multiple of round_to; every £ column
  (named `cost`, not `cost_share`) is rounded to 3 significant figures.
- HTML (the pathways report): no network fetch (Content-Security-Policy, no external src/href), no number of
  four or more digits without thousands separators outside years, no broken "withheld of" text.
- Every text-bearing output: nothing shaped like an NHS number or a full postcode.
A check says what failed and where (column, row), never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ptp_pipeline.pathways.disclosure import round_amount
from ptp_pipeline.protocol.model import Suppression

KINDS = {".csv": "table", ".parquet": "table", ".html": "report"}
RECORD_LEVEL = {"person_id", "event_id", "household_id", "record_id", "extract_id"}
#: Whole-number columns that are not counts of people or events.
NOT_COUNTS = {
    "top_percent",
    "median_days",
    "group",
    "n_agencies",
    "version",
    "price_year",
    "source_year",
    "cost_rank",
    "year",
}
WITHHELD = {"withheld", ""}
NHS_NUMBER = re.compile(r"(?<!\d)\d{3} ?\d{3} ?\d{4}(?!\d)")
FULL_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")
BARE_NUMBER = re.compile(r"(?<![\d,.#])\d{4,}(?![\d,])")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def _is_year(n: str) -> bool:
    return len(n) == 4 and 1990 <= int(n) <= 2100


def _identifier_checks(text: str) -> list[Check]:
    return [
        Check("no NHS numbers", not NHS_NUMBER.search(text), "nothing shaped like an NHS number"),
        Check("no full postcodes", not FULL_POSTCODE.search(text), "nothing shaped like a full postcode"),
    ]


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype(object)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _count_problems(frame: pd.DataFrame, rule: Suppression) -> list[str]:
    problems = []
    for col in frame.columns:
        name = str(col).lower()
        values = frame[col].astype(str).str.strip()
        shown = values[~values.str.lower().isin(WITHHELD)]
        numbers = pd.to_numeric(shown.str.replace(",", "", regex=False), errors="coerce")
        if shown.empty or numbers.isna().any() or name in NOT_COUNTS:
            continue
        if "cost" in name and "share" not in name:
            bad = [i for i, v in numbers.items() if v != round_amount(float(v))]
            problems += [
                f"column {col}, row {int(i) + 2}: £ figure not rounded to 3 significant figures" for i in bad[:5]
            ]
            continue
        if not (numbers == numbers.round()).all() or "share" in name:
            continue  # a measure, not a count
        small = numbers[(numbers >= 1) & (numbers < rule.min_count)]
        unrounded = numbers[(numbers % rule.round_to) != 0]
        problems += [f"column {col}, row {int(i) + 2}: count below {rule.min_count}" for i in small.index[:5]]
        problems += [
            f"column {col}, row {int(i) + 2}: count not rounded to {rule.round_to}" for i in unrounded.index[:5]
        ]
    return problems


def table_checks(path: Path, rule: Suppression) -> list[Check]:
    try:
        frame = _read_table(path)
    except (OSError, ValueError) as exc:
        return [Check("readable table", False, f"cannot read it as a table ({type(exc).__name__})")]
    record_level = sorted(RECORD_LEVEL & {str(c).lower() for c in frame.columns})
    problems = _count_problems(frame, rule)
    text = frame.astype(str).to_csv(index=False)
    return [
        Check(
            "aggregate only",
            not record_level,
            "no record-level column"
            if not record_level
            else f"record-level column(s) {', '.join(record_level)}: share aggregates, not rows",
        ),
        Check(
            "small counts withheld and counts rounded",
            not problems,
            "every count passes" if not problems else "; ".join(problems[:10]),
        ),
        *_identifier_checks(text),
    ]


def report_checks(path: Path) -> list[Check]:
    html = path.read_text(encoding="utf-8", errors="replace")
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", "\n", body)
    bare = [n for n in BARE_NUMBER.findall(text) if not _is_year(n)]
    external = re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    return [
        Check(
            "self-contained",
            "default-src 'none'" in html and not external,
            "no network fetch" if not external else "the page fetches something from the network",
        ),
        Check(
            "numbers carry separators",
            not bare,
            "every number is written with separators" if not bare else f"{len(bare)} number(s) without separators",
        ),
        Check("no broken text", "withheld of" not in text, "no 'withheld of' text"),
        *_identifier_checks(text),
    ]


def run_checks(path: Path, rule: Suppression) -> list[Check]:
    """The disclosure checks for one output file."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        return [
            Check(
                "known output type",
                False,
                f"'{path.suffix or 'no extension'}' files cannot be checked: release CSV, Parquet or the HTML report",
            )
        ]
    return table_checks(path, rule) if kind == "table" else report_checks(path)


def all_passed(checks: list[Check]) -> bool:
    return all(c.passed for c in checks)
