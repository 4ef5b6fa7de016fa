"""Benchmark: a 10k-row nightly increment merged into warehouses of growing size.

Not a test: run on demand, e.g.

    PYTHONPATH=. .venv/bin/python bench/growth.py [--sizes 50000,500000,2000000,5000000] [--backend duckdb]

For each size a fresh warehouse is filled with that many events (merged in chunks of 1M rows, each
person with ~10 events), then a realistic increment is merged: 10,000 events, 70% of existing persons
(their identity tokens again, as a partner's nightly file brings them back) and 30% of new persons.
The increment's merge runs in a child process, so its seconds and peak RSS are its own. The last line
reads `exponent=E peak_rss_mb=M` (E fitted on log seconds against log events).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import peak_rss_mb, scratch_warehouse
from merge import build

KEY = "6b" * 32
CHUNK = 1_000_000


def _register(rt: object, extract_id: str, rows: int) -> None:
    rt.warehouse.execute(  # type: ignore[attr-defined]
        "INSERT INTO ops.extract_ledger (extract_id, partner, dataset, protocol_id, protocol_version, file_name, "
        "sha256, received_at, status) VALUES (?, 'police', 'incidents', 'police-incidents', 1, ?, ?, ?, 'received')",
        (extract_id, extract_id + ".csv", extract_id.rjust(64, "0")[-64:], datetime.now(UTC).replace(tzinfo=None)))


def fill(home: Path, url: str, events: int) -> None:
    from ptp_pipeline import pipeline
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import load_settings
    from ptp_pipeline.warehouse import open_warehouse

    open_warehouse(url, migrate=True).close()  # the admin's `ptp migrate` (a server schema never migrates itself)
    rt = Runtime(load_settings({"PTP_HOME": str(home), "PTP_KEY": KEY, "PTP_WAREHOUSE": url}))
    done, n = 0, 0
    while done < events:
        rows = min(CHUNK, events - done)
        n += 1
        extract_id = f"police.incidents.bench{n:011d}"
        # Each chunk holds its own persons (person numbers continue), ~10 events each.
        # Chunks cover successive years, so none supersedes another (a partner's monthly files do the same).
        build(rt.work(extract_id), rows, seed=n, persons=max(rows // 10, 1), person_offset=done // 10, extract_no=n,
              start=f"{2000 + n}-01-01")
        _register(rt, extract_id, rows)
        pipeline.merge(rt, extract_id)
        done += rows
    rt.close()


def increment(home: Path, url: str, events: int) -> dict[str, float]:
    from ptp_pipeline import pipeline
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import load_settings

    rt = Runtime(load_settings({"PTP_HOME": str(home), "PTP_KEY": KEY, "PTP_WAREHOUSE": url}))
    extract_id = "police.incidents.bench99999999999"
    folder = rt.work(extract_id)
    # 70% of rows: persons already stored (numbers below events/10); 30%: new persons.
    night = {"start": "2030-01-01", "days": 1}  # one night's events, after everything stored
    build(folder, 7_000, seed=99, persons=max(events // 10, 1), person_offset=0, extract_no=99999999999, **night)
    import pandas as pd

    old = pd.read_parquet(folder / "pseudonymised.parquet")
    tmp = folder / "new"
    tmp.mkdir(exist_ok=True)
    build(tmp, 3_000, seed=98, persons=300, person_offset=10 * events, extract_no=99999999999, **night)
    new = pd.read_parquet(tmp / "pseudonymised.parquet")
    new["source_row"] += 10_000
    pd.concat([old, new], ignore_index=True).to_parquet(folder / "pseudonymised.parquet", index=False)
    # The new persons' identities too: without them their records were unlinkable (each its own person) and
    # the linkage ran only where an existing person happened to be missing from the warehouse (at 5M events).
    pd.concat([pd.read_parquet(folder / "identities.parquet"), pd.read_parquet(tmp / "identities.parquet")],
              ignore_index=True).to_parquet(folder / "identities.parquet", index=False)
    _register(rt, extract_id, 10_000)
    rss0 = peak_rss_mb() * 1024
    if "--profile" in sys.argv:
        import cProfile

        cProfile.runctx("pipeline.merge(rt, extract_id)", globals(), locals(), sort="cumtime")
        sys.exit(0)
    t0, c0 = time.perf_counter(), time.process_time()
    pipeline.merge(rt, extract_id)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    stored = int(rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event"))
    rt.close()
    return {"events_before": events, "events_after": stored, "merge_s": round(seconds, 2), "cpu_s": round(cpu, 2),
            "peak_rss_mb": peak_rss_mb(),
            "rss_before_merge_mb": round(rss0 / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,500000,2000000,5000000")
    parser.add_argument("--backend", choices=["duckdb", "postgresql"], default="duckdb")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="with --child: cProfile the increment's merge")
    args = parser.parse_args()
    if args.child:
        home, url, events = args.child
        print(json.dumps(increment(Path(home), url, int(events))))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        home = Path(tempfile.mkdtemp(prefix="ptp-growth-"))
        with scratch_warehouse(args.backend, "ptp-growth-", home) as url:
            t0 = time.perf_counter()
            fill(home, url, size)
            filled = time.perf_counter() - t0
            out = subprocess.run([sys.executable, __file__, "--child", str(home), url, str(size)], check=True,
                                 capture_output=True, text=True)
        shutil.rmtree(home, ignore_errors=True)  # gigabytes at 5M events
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["fill_s"] = round(filled, 1)
        results.append(row)
        print(json.dumps(row), flush=True)
    xs = np.log([r["events_before"] for r in results])
    ys = np.log([r["merge_s"] for r in results])
    exponent = float(np.polyfit(xs, ys, 1)[0]) if len(results) > 1 else float("nan")
    print(f"exponent={exponent:.2f} peak_rss_mb={max(r['peak_rss_mb'] for r in results)}")


if __name__ == "__main__":
    main()
