"""DagBag parse time of dags/ with N generated protocols (default 30). Run on demand, never in CI.

    PYTHONPATH=.:config .venv/bin/python bench/dagbag_parse.py [--protocols 30] [--repeat 5]

Each repeat is a fresh Python process (as the DAG processor parses): it reports the time to import
Airflow and the time of `DagBag(dags/)` itself (wall clock and CPU time of the process, the latter
less sensitive to a busy machine), with the number of DAGs and import errors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from airflow.dag_processing.dagbag import DagBag
t1, c1 = time.perf_counter(), time.process_time()
bag = DagBag(sys.argv[1])
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"import_airflow": t1 - t0, "dagbag": t2 - t1, "dagbag_cpu": c2 - c1, "dags": len(bag.dags),
                  "errors": len(bag.import_errors), "tasks": sum(len(d.tasks) for d in bag.dags.values())}))
"""


def make_protocols(folder: Path, n: int) -> None:
    """n protocol files: copies of the shipped ones under distinct partner ids and datasets."""
    sources = sorted(p for p in (REPO / "protocols").glob("*.yaml") if p.name != "project.yaml")
    (folder / "project.yaml").write_text((REPO / "protocols" / "project.yaml").read_text())
    for i in range(n):
        src = sources[i % len(sources)]
        text = src.read_text()
        import yaml

        spec = yaml.safe_load(text)
        partner, dataset = spec["partner"]["id"], spec["dataset"]
        text = text.replace(f"id: {spec['id']}", f"id: {spec['id']}-{i:02d}", 1)
        text = text.replace(f"  id: {partner}\n", f"  id: {partner}{i:02d}\n", 1)
        (folder / f"{partner}{i:02d}_{dataset}.yaml").write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--protocols", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        protocols = Path(tmp) / "protocols"
        protocols.mkdir()
        make_protocols(protocols, args.protocols)
        # one DAG file per protocol file, as `ptp airflow dag-files` writes them, beside the repo's DAG files
        import shutil

        from ptp_pipeline.dag_factory import write_dag_files

        dags = Path(tmp) / "dags"
        shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__", "ptp_protocol_*.py"))
        dags.joinpath("ptp_protocol_files.py").write_text((REPO / "dags" / "ptp_protocol_files.py").read_text())
        write_dag_files(dags, protocols)
        env = {**os.environ, "PTP_PROTOCOLS_DIR": str(protocols), "AIRFLOW_HOME": str(Path(tmp) / "airflow"),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "PYTHONPATH": os.pathsep.join([str(REPO / "config"), str(REPO)])}
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, "-c", CHILD, str(dags)], env=env, check=True,
                                 capture_output=True, text=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = runs[0]
    print(f"{args.protocols} protocols -> {first['dags']} DAGs, {first['tasks']} tasks, "
          f"{first['errors']} import errors; {args.repeat} fresh processes")
    for key in ("import_airflow", "dagbag", "dagbag_cpu"):
        values = [r[key] for r in runs]
        print(f"  {key:15s} median {statistics.median(values):.3f} s  min {min(values):.3f} s  "
              f"max {max(values):.3f} s")


if __name__ == "__main__":
    main()
