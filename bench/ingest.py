"""Benchmark: one health extract from landing to merged, stage by stage, at several sizes and backends.

Not a test: run on demand, e.g.

    PYTHONPATH=. .venv/bin/python bench/ingest.py [--rows 100000,1000000,3000000] [--backend duckdb|postgresql|both]
        [--file HEALTH_EXTRACT.csv]

A synthetic partnership is generated with enough persons for a health extract of the asked size
(about 4.1 rows per person), then that one file goes through receive, check, pseudonymise, validate
and merge in a child process of its own (so peak RSS is the run's), into an empty warehouse. Each
stage's wall and CPU seconds and its own peak RSS (MB) are printed, with the run's peak RSS, as one JSON
line per run.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import peak_rss_mb, reset_peak_rss, scratch_warehouse

ROWS_PER_PERSON = 4.1  # health attendances per synthetic person (generator defaults)


def make_extract(rows: int, folder: Path) -> Path:
    from ptp_pipeline.synthetic import SyntheticConfig, generate

    data = generate(folder, SyntheticConfig(n_persons=max(int(rows / ROWS_PER_PERSON), 100), seed=11))
    return next(e.path for e in data.extracts if e.partner == "health")


def run(path: Path, url: str) -> dict[str, object]:
    from ptp_pipeline import pipeline
    from ptp_pipeline.runtime import Runtime
    from ptp_pipeline.settings import load_settings

    home = Path(tempfile.mkdtemp(prefix="ptp-ingest-"))
    from ptp_pipeline.warehouse import open_warehouse

    open_warehouse(url, migrate=True).close()  # the admin's `ptp migrate` (a server schema never migrates itself)
    rt = Runtime(load_settings({"PTP_HOME": str(home), "PTP_KEY": secrets.token_hex(32), "PTP_WAREHOUSE": url}))
    rt.warehouse  # noqa: B018 - open (and migrate) before timing
    out: dict[str, object] = {"backend": url.split(":", 1)[0], "file_rows": sum(1 for _ in path.open()) - 1}
    t_all, c_all = time.perf_counter(), time.process_time()
    t0, c0 = time.perf_counter(), time.process_time()
    extract_id, _ = pipeline.receive(rt, path, "health", "attendances")
    if hasattr(pipeline, "import_in_background"):  # as `pipeline.ingest` does (absent before stop 32)
        pipeline.import_in_background()
    peak = peak_rss_mb()
    out["receive"] = [round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)]
    for name, stage in (("check", pipeline.check), ("pseudonymise", pipeline.pseudonymise),
                        ("validate", pipeline.validate), ("merge", pipeline.merge)):
        reset_peak_rss()
        t0, c0 = time.perf_counter(), time.process_time()
        stage(rt, extract_id)
        out[name] = [round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2), peak_rss_mb()]
        peak = max(peak, peak_rss_mb())
    out["total"] = [round(time.perf_counter() - t_all, 2), round(time.process_time() - c_all, 2)]
    result = pipeline.outcome(rt, extract_id)
    out["status"], out["accepted"], out["quarantined"] = result.status, result.rows_accepted, result.rows_quarantined
    out["persons"] = int(rt.warehouse.scalar("SELECT count(*) FROM shared.person"))
    out["peak_rss_mb"] = max(peak, peak_rss_mb())
    rt.close()
    shutil.rmtree(home, ignore_errors=True)  # the run's home and work files: gigabytes at bench sizes
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--backend", choices=["duckdb", "postgresql", "both"], default="duckdb")
    parser.add_argument("--file", type=Path, help="an existing synthetic health extract instead of generating one "
                        "(--rows is then ignored)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from ptp_pipeline.memory import one_malloc_arena

        one_malloc_arena()  # as `ptp ingest` does on its way in, before the warehouse's threads start
        print(json.dumps(run(Path(args.child[0]), args.child[1])))
        return
    backends = ["duckdb", "postgresql"] if args.backend == "both" else [args.backend]
    files = ([args.file] if args.file else
             (make_extract(int(r), Path(tempfile.mkdtemp(prefix="ptp-ingest-data-"))) for r in args.rows.split(",")))
    for path in files:
        for backend in backends:
            with scratch_warehouse(backend, "ptp-ingest-") as url:
                done = subprocess.run([sys.executable, __file__, "--child", str(path), url], check=True,
                                      capture_output=True, text=True)
                print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
