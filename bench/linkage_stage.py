"""Benchmark: the linkage stage alone on N records (normalise -> tokens -> identities -> train ->
cascade + Splink -> clusters), through the public `link_frame`, in its own process.

Not a test: run on demand, e.g.

    PYTHONPATH=. .venv/bin/python bench/linkage_stage.py --records 1000000 [--noise heavy]

The parent generates a synthetic partnership big enough (about 9.6 records per person), keeps the
identifier columns of the first N records under their kind names (as `ptp linkage score` takes them)
and writes them to a Parquet file; a child process reads it and links it, printing the seconds of
each phase and its own peak resident memory (VmHWM, so the generator's memory is not counted), and
pairwise precision/recall against the truth.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from common import peak_rss_mb

ROWS_PER_PERSON = 9.6  # the generator's calibration: 480,604 rows for 50,000 persons
KINDS = {
    "council": {
        "client_ref": "local_id",
        "nhs_number": "nhs_number",
        "forename": "forename",
        "surname": "surname",
        "date_of_birth": "date_of_birth",
        "postcode": "postcode",
        "sex": "sex",
        "address_line1": "address_line",
    },
    "health": {
        "nhs_number": "nhs_number",
        "given_name": "forename",
        "family_name": "surname",
        "dob": "date_of_birth",
        "postcode": "postcode",
        "sex": "sex",
        "address": "address_line",
    },
    "police": {
        "nhs_number": "nhs_number",
        "forenames": "forename",
        "surname": "surname",
        "birth_date": "date_of_birth",
        "home_postcode": "postcode",
        "sex": "sex",
        "home_address": "address_line",
    },
}


def build(records: int, noise: str, seed: int, out: Path) -> None:
    from linkage import NOISE

    from ptp_pipeline.synthetic import SyntheticConfig, generate

    persons = int(records / ROWS_PER_PERSON * 1.05) + 1
    data = generate(out.parent / "synthetic", SyntheticConfig(n_persons=persons, seed=seed, **NOISE[noise]))
    frames = []
    for extract in data.extracts:
        raw = pd.read_csv(extract.path, dtype=str, keep_default_na=False, usecols=list(KINDS[extract.partner]))
        frame = raw.rename(columns=KINDS[extract.partner]).assign(source=extract.partner)
        truth = pd.read_csv(data.truth_dir / f"{extract.partner}_{extract.dataset}.csv", usecols=["person_id"])
        frames.append(frame.assign(true_person=truth["person_id"].to_numpy()))
    frame = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed).head(records)
    frame.reset_index(drop=True).assign(record=lambda f: f.index).to_parquet(out)


def child(path: Path) -> dict[str, Any]:
    """Link the records in `path` with phase timings (wrapping link_frame's own steps)."""
    from common import pair_counts

    import ptp_pipeline.linkage.frame as lf

    timings: dict[str, float] = {}
    peaks: dict[str, int] = {}

    def timed(name: str, fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            overall = peak_rss_mb()
            Path("/proc/self/clear_refs").write_text("5")  # restart VmHWM: this phase's own peak
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
                peaks[name] = max(peaks.get(name, 0), peak_rss_mb())
                peaks["_overall"] = max(overall, peaks.get("_overall", 0), peaks[name])

        return run

    lf.frame_parts = timed("normalise", lf.frame_parts)
    lf.linkage_tokens = timed("tokens", lf.linkage_tokens)
    lf.train = timed("train (EM)", lf.train)
    lf.link_batch = timed("cascade + Splink + clusters", lf.link_batch)
    frame = pd.read_parquet(path, dtype_backend="pyarrow")
    truth = frame.pop("true_person").to_numpy()
    start_mb = peak_rss_mb()
    t0 = time.perf_counter()
    out = lf.link_frame(frame, b"\x01" * 32)
    total = time.perf_counter() - t0
    scores = pair_counts(out["person_id"], pd.Series(truth), frame["source"].astype(str))
    return {
        "records": len(frame),
        "persons": int(out["person_id"].nunique()),
        "true_persons": len(set(truth)),
        "seconds": round(total, 1),
        "phases": {k: round(v, 1) for k, v in timings.items()},
        "peak_rss_mb": max(peak_rss_mb(), peaks.pop("_overall", 0)),
        "phase_peak_rss_mb": peaks,
        "rss_after_reading_mb": start_mb,
        "precision": round(scores["precision"], 4),
        "recall": round(scores["recall"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--noise", default="default")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.parquet"
        t0 = time.perf_counter()
        build(args.records, args.noise, args.seed, path)
        print(f"generated {args.records:,} records in {time.perf_counter() - t0:.0f} s")
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=False
        )
        if done.returncode:
            print(done.stderr[-3000:])
            raise SystemExit(done.returncode)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))
    print("| records | persons (truth) | link_frame s | " + " | ".join(result["phases"]) + " | peak RSS MB | P | R |")
    print(
        f"| {result['records']:,} | {result['persons']:,} ({result['true_persons']:,}) | {result['seconds']} | "
        + " | ".join(str(v) for v in result["phases"].values())
        + f" | {result['peak_rss_mb']:,} | {result['precision']} | {result['recall']} |"
    )


if __name__ == "__main__":
    main()
