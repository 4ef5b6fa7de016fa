"""Benchmark: validating a 1,000,000-row extract, and what GX's result formats cost.

Each variant runs in its own process (so peak memory is its own) on the same synthetic
pseudonymised frame for the health protocol (what the validate stage receives: status columns,
the NHS mod-11 digit sums, event columns, kept attributes, dup_of), with 1% of rows failing:

  stage     what ptp runs: `gx_frame` + `run_suite` = file-context checkpoint, COMPLETE with source_row as the
            index column, values excluded, UpdateDataDocsAction (Data Docs page per extract)
  complete  the same suite, ephemeral context, COMPLETE + index column, no Data Docs
  summary   the same suite, ephemeral context, SUMMARY (counts only: no row ids, so no quarantine)
  complete-wide  as complete, without `narrow` (every column, text as object): what narrowing saves
  duckdb    the same rules as row flags in DuckDB SQL (no GX, no Data Docs)

The GX variants all validate the frame `narrow` gives (only the suite's columns, text as
categories), except complete-wide.

    .venv/bin/python bench/validate.py [--rows 1000000] [--variants stage,complete,summary,complete-wide,duckdb]

Prints seconds (validation only; building the frame and importing GX excluded), the process's RSS
just before validating (frame + imports) and its peak RSS during validation. "failing rows" for
SUMMARY is the sum of failing values over expectations: SUMMARY gives no row ids.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ptp_pipeline.runtime import Runtime

PROTOCOL = ("health-attendances", 1)
BAD_SHARE = 0.01


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM), so the peak is validation's own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def build_frame(n: int, seed: int = 1) -> pd.DataFrame:
    """A pseudonymised-like frame, as the validate stage reads it; 1% of rows break one rule each."""
    rng = np.random.default_rng(seed)
    bad = rng.random(n) < BAD_SHARE
    kind = rng.integers(0, 6, n)
    status = np.full(n, "valid", dtype=object)

    def status_col(k: int) -> np.ndarray:
        col = status.copy()
        col[bad & (kind == k)] = "invalid"
        return col

    nhs_sum = (rng.integers(0, 45, n) * 11).astype("int64")
    nhs_sum[bad & (kind == 0)] += 3
    days = rng.integers(0, 700, n)
    event_date = np.datetime64("2024-01-01") + days.astype("timedelta64[D]")
    event_date[bad & (kind == 1)] = np.datetime64("2099-01-01")
    activity = np.where(rng.random(n) < 0.5, "ae_attendance", "treatment_referral").astype(object)
    activity[bad & (kind == 2)] = "unknown"
    cost = rng.uniform(50, 5000, n).round(2)
    cost[bad & (kind == 3)] = -5.0
    dup_of = pd.array([pd.NA] * n, dtype="Int64")
    dup_rows = np.flatnonzero(bad & (kind == 5))
    dup_of[dup_rows] = np.maximum(dup_rows, 1)
    frame = pd.DataFrame({
        "source_row": np.arange(1, n + 1),
        "birth_year": rng.integers(1940, 2005, n), "district": "LS6", "sex": rng.choice(["M", "F"], n),
        "event_date": event_date.astype("datetime64[ns]"), "event_type": activity, "cost": cost, "setting": None,
        "attributes": '{"alcohol_related":"Y","drug_related":"N"}',
        "alcohol_related": "Y", "drug_related": "N",
        "status__nhs_number": status_col(0), "status__nhs_number__mod11_sum": pd.array(nhs_sum, dtype="Int64"),
        "status__given_name": status, "status__family_name": status, "status__dob": status_col(4),
        "status__postcode": status, "status__sex": status, "status__attendance_date": status,
        "status__activity": status, "status__alcohol_related": status, "status__drug_related": status,
        "status__tariff_cost": status, "dup_of": dup_of,
    })
    return frame


def _runtime(home: Path) -> Runtime:
    from ptp_pipeline.settings import load_settings

    return Runtime(load_settings({"PTP_HOME": str(home)}))


def run_stage(frame: pd.DataFrame, home: Path) -> int:
    from ptp_pipeline.quality.suite import suite_for
    from ptp_pipeline.quality.validate import gx_frame, narrow, run_suite
    from ptp_pipeline.runtime import WorkItem

    rt = _runtime(home)
    item = WorkItem("bench", "health", "attendances", "bench.csv", "0" * 64, *PROTOCOL, "2026-11-25T00:00:00")
    suite = suite_for(rt.protocol(*PROTOCOL), date(2026, 11, 25))
    table, _url = run_suite(rt, narrow(gx_frame(frame), suite), item, suite)
    return int(table["source_row"].nunique())


def run_ephemeral(frame: pd.DataFrame, home: Path, result_format: dict[str, object], wide: bool = False) -> int:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import ptp_pipeline.quality.expectations  # noqa: F401

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    from ptp_pipeline.quality.suite import suite_for

    suite = ctx.suites.add(suite_for(_runtime(home).protocol(*PROTOCOL), date(2026, 11, 25)))
    batch = ctx.data_sources.add_pandas("p").add_dataframe_asset("a").add_batch_definition_whole_dataframe("w")
    from ptp_pipeline.quality.validate import gx_frame, narrow

    frame = gx_frame(frame) if wide else narrow(gx_frame(frame), suite)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format=result_format)
    rows: set[int] = set()
    for r in result.results:
        for entry in r.result.get("unexpected_index_list") or []:
            value = entry["source_row"]
            rows.update(int(v) for v in (value if isinstance(value, list) else [value]))
    return len(rows) or sum(int(r.result.get("unexpected_count") or 0) for r in result.results)


DUCKDB_RULES = """
SELECT source_row FROM f WHERE
  status__nhs_number__mod11_sum < 0 OR status__nhs_number__mod11_sum % 11 <> 0
  OR status__given_name <> 'valid' OR status__family_name <> 'valid' OR status__dob <> 'valid'
  OR status__postcode NOT IN ('valid', 'missing') OR status__sex NOT IN ('valid', 'missing')
  OR status__attendance_date <> 'valid' OR status__activity <> 'valid'
  OR status__alcohol_related NOT IN ('valid', 'missing') OR status__drug_related NOT IN ('valid', 'missing')
  OR status__tariff_cost <> 'valid'
  OR sex NOT IN ('M', 'F', 'U') OR event_type NOT IN ('ae_attendance', 'treatment_referral')
  OR alcohol_related NOT IN ('Y', 'N') OR drug_related NOT IN ('Y', 'N') OR cost < 0 OR cost > 100000
  OR event_date > DATE '2026-11-25' OR event_date < DATE '2024-01-01' OR event_date > DATE '2027-03-31'
  OR dup_of IS NOT NULL
"""


def run_duckdb(frame: pd.DataFrame) -> int:
    import duckdb

    con = duckdb.connect()
    con.register("f", frame)
    return len(con.execute(DUCKDB_RULES).fetchnumpy()["source_row"])


FORMATS = {
    "complete": {"result_format": "COMPLETE", "unexpected_index_column_names": ["source_row"],
                 "exclude_unexpected_values": True, "partial_unexpected_count": 0,
                 "return_unexpected_index_query": False},
    "summary": {"result_format": "SUMMARY", "partial_unexpected_count": 0},
}


def one(variant: str, rows: int) -> dict[str, object]:
    frame = build_frame(rows)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if variant != "duckdb":
            import great_expectations  # noqa: F401  (import cost is not validation cost)
        before = _status_mb("VmRSS")
        reset_peak()
        start = time.perf_counter()
        if variant == "stage":
            bad = run_stage(frame, home)
        elif variant == "duckdb":
            bad = run_duckdb(frame)
        else:
            bad = run_ephemeral(frame, home, FORMATS[variant.removesuffix("-wide")], wide=variant.endswith("-wide"))
        seconds = time.perf_counter() - start
    return {"variant": variant, "rows": rows, "seconds": round(seconds, 2), "failing_rows": bad,
            "peak_rss_mb": round(_status_mb("VmHWM")), "rss_before_mb": round(before)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--variants", default="stage,complete,summary,complete-wide,duckdb")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.rows)))
        return
    print(f"{'variant':<14} {'rows':>10} {'seconds':>8} {'failing rows':>13} {'peak RSS MB':>12} {'RSS before MB':>14}")
    for variant in args.variants.split(","):
        done = subprocess.run([sys.executable, __file__, "--one", variant, "--rows", str(args.rows)],
                              capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{r['variant']:<14} {r['rows']:>10,} {r['seconds']:>8} {r['failing_rows']:>13,} "
              f"{r['peak_rss_mb']:>12,} {r['rss_before_mb']:>14,}")


if __name__ == "__main__":
    main()
