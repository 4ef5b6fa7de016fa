"""Drop -> run start and drop -> merged through a real Airflow stack. Run on demand, never in CI.

    .venv/bin/python bench/latency.py --drops 10

Starts the same throwaway stack as the live test (`tests/airflow_stack.py`: PostgreSQL metadata DB,
Celery on the local Redis, api-server, dag-processor, triggerer, scheduler, worker), waits until the
landing watchers run, then drops small police extracts one at a time (each a different file, written
as `.part` and renamed, the way partners upload) and waits for each to merge before the next. Times
come from Airflow's own tables (UTC) against the wall clock at the rename:

- drop -> dispatch: the `ptp_dispatch` run that took the file started;
- drop -> ingest start: its `ptp_ingest_police_incidents` run (run id `file__<sha256[:32]>`) started;
- drop -> merged: that run's `ingest_files` task (whose last stage is the merge) ended.

Prints each drop, then the median and maximum of each. The stack and its database are removed at the end.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from airflow_stack import AirflowStack  # noqa: E402

from ptp_pipeline.intake import sha256_file  # noqa: E402
from ptp_pipeline.synthetic import SyntheticConfig, generate  # noqa: E402

INGEST = "ptp_ingest_police_incidents"


def _seconds(at: datetime | None, since: float) -> float | None:
    return None if at is None else at.astimezone(UTC).timestamp() - since


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drops", type=int, default=10)
    ap.add_argument("--persons", type=int, default=200, help="synthetic persons (a small file)")
    ap.add_argument("--watch-interval", type=float, default=1.0, help="PTP_WATCH_INTERVAL, seconds")
    ap.add_argument("--timeout", type=float, default=240, help="seconds to wait for one drop to merge")
    ap.add_argument("--warmup", type=int, default=1, help="drops first, not counted (the stack's first tasks)")
    ap.add_argument("--set", action="append", default=[], metavar="AIRFLOW__SECTION__KEY=VALUE",
                    help="an Airflow setting for every process of the stack (repeatable), to try its effect")
    ap.add_argument("--no-preload", action="store_true", help="worker without PTP_PRELOAD (ptp_pipeline/preload.py)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ptp-latency-") as tmp:
        root = Path(tmp)
        synthetic = generate(root / "synthetic", SyntheticConfig(n_persons=args.persons, seed=3))
        police = next(e for e in synthetic.extracts if e.partner == "police")
        lines = police.path.read_text().splitlines()
        files = []
        for i in range(args.warmup + args.drops):  # each drop a different file: the header and all but i rows
            path = root / f"police_{i:02d}.csv"
            path.write_text("\n".join(lines[: len(lines) - i]) + "\n")
            files.append(path)
        home = root / "home"
        landing = home / "landing" / "police" / "incidents"
        stack = AirflowStack(root / "stack", {"PTP_HOME": str(home), "PTP_KEY": secrets.token_hex(32),
                                              "PTP_WATCH_INTERVAL": str(args.watch_interval)},
                             worker_env={} if args.no_preload else None)
        stack.env.update(dict(item.split("=", 1) for item in args.set))
        results = []
        try:
            stack.start()
            ready = stack.wait_for("the landing watchers", lambda: stack.sql(
                "SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")[0][0] >= 3, timeout=300)
            print(f"stack up, watchers running after {ready:.0f} s; {args.drops} drops of "
                  f"{len(lines) - 1} rows or fewer")
            landing.mkdir(parents=True)
            for n, path in enumerate(files):
                run_id = f"file__{sha256_file(path)[:32]}"
                part = landing / f"{path.name}.part"
                part.write_bytes(path.read_bytes())
                dropped = time.time()
                part.rename(landing / path.name)

                def merged(run_id: str = run_id) -> bool:
                    rows = stack.sql("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (INGEST, run_id))
                    if rows and rows[0][0] == "failed":
                        raise SystemExit(f"{run_id} failed:\n{stack.logs()}")
                    return bool(rows) and rows[0][0] == "success"

                stack.wait_for(f"{path.name} to merge", merged, timeout=args.timeout, every=0.5)
                (start,) = stack.sql("SELECT start_date FROM dag_run WHERE dag_id = %s AND run_id = %s",
                                     (INGEST, run_id))[0]
                (end,) = stack.sql("SELECT max(end_date) FROM task_instance WHERE dag_id = %s AND run_id = %s "
                                   "AND task_id = 'ingest_files'", (INGEST, run_id))[0]
                (dispatch,) = stack.sql("SELECT min(start_date) FROM dag_run WHERE dag_id = 'ptp_dispatch' "
                                        "AND start_date >= to_timestamp(%s)", (dropped - 1,))[0]
                row = tuple(None if v is None else round(v, 1) for v in (
                    _seconds(dispatch, dropped), _seconds(start, dropped), _seconds(end, dropped)))
                if n >= args.warmup:
                    results.append(row)
                label = f"{path.name}{' (warm-up, not counted)' if n < args.warmup else ''}"
                print(f"{label}: drop -> dispatch {row[0]} s, -> ingest start {row[1]} s, -> merged {row[2]} s"
                      .replace("None s", "?"))
        finally:
            stack.stop()
    for label, i in (("drop -> dispatch", 0), ("drop -> ingest start", 1), ("drop -> merged", 2)):
        values = [v for r in results if (v := r[i]) is not None]
        if values:
            print(f"{label:22s} median {statistics.median(values):5.1f} s   max {max(values):5.1f} s   "
                  f"(n={len(values)})")


if __name__ == "__main__":
    main()
