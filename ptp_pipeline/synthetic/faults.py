"""Duplicate and invalid rows, added to a rendered extract and marked for the truth files.

Both are extra rows, never changes to genuine ones: a duplicate is an exact copy of a line
(as when a partner's export job runs twice), an invalid row is a mis-keyed copy of a genuine
event. So the valid, non-duplicate rows are exactly the true events, and a pipeline that
quarantines every invalid row and drops exact duplicates should reproduce summary.json.
Among identical lines the first in the file counts as the original (keep="first").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ptp_pipeline.synthetic.extracts import ExtractSpec
from ptp_pipeline.synthetic.nhs import wrong_check_digit

INVALID_KINDS = (
    "impossible_date",
    "bad_nhs_check_digit",
    "blank_event_date",
    "negative_cost",
    "unknown_event_type",
)
UNKNOWN_EVENT_TYPES = ("unknown", "other", "not recorded", "TBC")
# Day and month pairs that never exist: 30 and 31 February, 31 April/June/September/November.
IMPOSSIBLE_DAY_MONTH = ((30, 2), (31, 2), (31, 4), (31, 6), (31, 9), (31, 11))


@dataclass(frozen=True)
class FaultedExtract:
    """Final extract rows in file order, with the truth for each row."""

    frame: pd.DataFrame
    person: NDArray[np.int64]  # person number per row
    cost_pence: NDArray[np.int64]  # true cost per row (meaningful for valid rows)
    is_duplicate: NDArray[np.bool_]
    is_invalid: NDArray[np.bool_]
    invalid_kinds: dict[str, int]


def _impossible_date(value: str, fmt: str, pair: tuple[int, int]) -> str:
    """A date that can't exist, in the field's own format, keeping the year."""
    day, month = pair
    if fmt == "iso":
        return f"{value[:4]}-{month:02d}-{day:02d}"
    return f"{day:02d}/{month:02d}/{value[-4:]}"


def _corrupt(row: dict[str, str], kind: str, spec: ExtractSpec, nhs: str, rng: np.random.Generator) -> dict[str, str]:
    """Make one row invalid in the way ``kind`` names."""
    if kind == "impossible_date":
        targets = [(spec.event_date_column, spec.event_date_format)]
        if spec.dob_format != "excel":
            targets.append((spec.dob_column, spec.dob_format))
        column, fmt = targets[int(rng.integers(0, len(targets)))]
        pair = IMPOSSIBLE_DAY_MONTH[int(rng.integers(0, len(IMPOSSIBLE_DAY_MONTH)))]
        row[column] = _impossible_date(row[column], fmt, pair)
    elif kind == "bad_nhs_check_digit":
        row["nhs_number"] = wrong_check_digit(nhs, int(rng.integers(1, 10)))
    elif kind == "blank_event_date":
        row[spec.event_date_column] = ""
    elif kind == "negative_cost":
        row[spec.cost_column] = "-" + row[spec.cost_column]
    else:
        row[spec.event_type_column] = UNKNOWN_EVENT_TYPES[int(rng.integers(0, len(UNKNOWN_EVENT_TYPES)))]
    return row


def add_faults(
    frame: pd.DataFrame,
    person: NDArray[np.int64],
    cost_pence: NDArray[np.int64],
    nhs_numbers: NDArray[np.object_],
    spec: ExtractSpec,
    duplicate_rate: float,
    invalid_rate: float,
    rng: np.random.Generator,
) -> FaultedExtract:
    """Append invalid and duplicate rows at the given rates of genuine rows, then shuffle all."""
    n = len(frame)
    n_invalid = min(round(n * invalid_rate), n)
    n_duplicate = min(round(n * duplicate_rate), n)
    bad_src = rng.choice(n, n_invalid, replace=False) if n_invalid else np.empty(0, np.int64)
    kinds = rng.integers(0, len(INVALID_KINDS), n_invalid)
    records = frame.iloc[bad_src].to_dict("records")
    bad_rows = [
        _corrupt(
            {col: str(v) for col, v in rec.items()},
            INVALID_KINDS[kind],
            spec,
            str(nhs_numbers[person[s]]),
            rng,
        )
        for rec, kind, s in zip(records, kinds, bad_src, strict=True)
    ]
    invalid = pd.DataFrame(bad_rows, columns=frame.columns, dtype=object)
    dup_src = rng.choice(n, n_duplicate, replace=False) if n_duplicate else np.empty(0, np.int64)
    all_rows = pd.concat([frame, invalid, frame.iloc[dup_src]], ignore_index=True)
    src = np.concatenate([np.arange(n), bad_src, dup_src]).astype(np.int64)
    flag_invalid = np.zeros(len(all_rows), dtype=bool)
    flag_invalid[n : n + n_invalid] = True
    order = rng.permutation(len(all_rows))
    final = all_rows.iloc[order].reset_index(drop=True)
    counts = {kind: int(np.sum(kinds == i)) for i, kind in enumerate(INVALID_KINDS)}
    return FaultedExtract(
        frame=final,
        person=person[src][order],
        cost_pence=cost_pence[src][order],
        is_duplicate=final.duplicated(keep="first").to_numpy(dtype=bool),
        is_invalid=flag_invalid[order],
        invalid_kinds=counts,
    )
