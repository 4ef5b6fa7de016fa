"""Merge throughput on both backends for one large, already validated extract.

Builds the files the validate stage leaves (validated.parquet, quarantine.parquet) for an extract of
N rows (default 1,000,000: ~10 events per person, 2 match keys, 1% quarantined), then times the merge
stage alone (load, link, rebuild persons, ledger, audit) into an empty warehouse, each backend in its
own process so peak memory is per backend. Run on demand, never in CI:

    PYTHONPATH=. .venv/bin/python bench/merge.py [--rows 1000000] [--backend duckdb|postgresql|both]

PostgreSQL: a throwaway database on 127.0.0.1:5432 (user postgres) is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def build(folder: Path, rows: int, seed: int = 1) -> tuple[str, int]:
    """The validate stage's output for a police extract of `rows` rows."""
    from ptp_pipeline.runtime import WorkItem

    rng = np.random.default_rng(seed)
    persons = max(rows // 10, 1)
    person = rng.integers(0, persons, rows)
    hexes = np.array([secrets.token_hex(16) for _ in range(persons)], dtype=object)
    nhs = np.array([secrets.token_hex(16) for _ in range(persons)], dtype=object)
    has_nhs = rng.random(rows) < 0.7
    frame = pd.DataFrame({
        "source_row": np.arange(2, rows + 2, dtype=np.int64),
        "key__nhs": pd.array(np.where(has_nhs, nhs[person], None), dtype="string"),
        "key__name_dob": pd.array(hexes[person], dtype="string"),
        "birth_year": pd.array(1950 + person % 50, dtype="Int64"),
        "district": pd.array(np.array(["LS1", "LS6", "LS9", "LS11"])[person % 4], dtype="string"),
        "sex": pd.array(np.array(["M", "F"])[person % 2], dtype="string"),
        "event_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D"),
        "event_type": pd.array(np.array(["incident", "arrest", "custody"])[rng.integers(0, 3, rows)],
                               dtype="string"),
        "cost": np.round(rng.gamma(2.0, 300.0, rows), 2),
        "setting": pd.array([None] * rows, dtype="string"),
        "attributes": pd.array([None] * rows, dtype="string"),
    })
    bad = frame.sample(frac=0.01, random_state=seed)["source_row"]
    quarantine = pd.DataFrame({"source_row": bad.to_numpy(), "field": "estimated_cost", "check_name": "between",
                               "problem": "cost out of range", "hint": "correct at source"})
    frame[~frame.source_row.isin(bad)].to_parquet(folder / "validated.parquet", index=False)
    quarantine.to_parquet(folder / "quarantine.parquet", index=False)
    (folder / "validation.json").write_text(json.dumps({}))
    extract_id = f"police.incidents.bench{seed:011d}"
    WorkItem(extract_id=extract_id, partner="police", dataset="incidents", file_name="bench.csv",
             sha256="0" * 64, protocol_id="police-incidents", protocol_version=1,
             received_at=datetime.now(UTC).isoformat(), rows_received=rows).save(folder)
    return extract_id, int(len(frame) - len(bad))


def run_one(url: str, home: Path, rows: int) -> dict[str, object]:
    from ptp_pipeline import pipeline
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import load_settings

    rt = Runtime(load_settings({"PTP_HOME": str(home), "PTP_KEY": secrets.token_hex(32), "PTP_WAREHOUSE": url}))
    extract_id = "police.incidents.bench00000000001"
    folder = rt.work(extract_id)
    t0 = time.perf_counter()
    extract_id, accepted = build(folder, rows)
    built = time.perf_counter() - t0
    wh = rt.warehouse
    wh.execute("INSERT INTO ops.extract_ledger (extract_id, partner, dataset, protocol_id, protocol_version, "
               "file_name, sha256, received_at, status) VALUES (?, 'police', 'incidents', 'police-incidents', 1, "
               "'bench.csv', ?, ?, 'received')", (extract_id, "0" * 64, datetime.now(UTC).replace(tzinfo=None)))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    pipeline.merge(rt, extract_id)
    seconds = time.perf_counter() - t0
    status = wh.scalar("SELECT status FROM ops.extract_ledger WHERE extract_id = ?", (extract_id,))
    events = int(wh.scalar("SELECT count(*) FROM shared.pathway_event"))
    persons = int(wh.scalar("SELECT count(*) FROM shared.person"))
    rt.close()
    return {"backend": url.split(":", 1)[0], "rows": rows, "accepted": accepted, "status": status,
            "events": events, "persons": persons, "build_s": round(built, 1), "merge_s": round(seconds, 2),
            "rows_per_s": round(accepted / seconds), "peak_rss_mb_before_merge": round(rss_before / 1024),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["duckdb", "postgresql", "both"], default="both")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, Path(tempfile.mkdtemp(prefix="ptp-bench-")), args.rows)))
        return
    backends = ["duckdb", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        db = None
        if backend == "duckdb":
            url = f"duckdb:///{tempfile.mkdtemp(prefix='ptp-bench-')}/ptp.duckdb"
        else:
            import psycopg

            db = f"ptp_bench_{secrets.token_hex(4)}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as con:
                con.execute(f"CREATE DATABASE {db}")
            url = f"postgresql://postgres@127.0.0.1:5432/{db}"
        try:
            out = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--child", url],
                                 check=True, capture_output=True, text=True)
            print(out.stdout.strip().splitlines()[-1])
        finally:
            if db:
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True) as con:
                    con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    main()
