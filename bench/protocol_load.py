"""Benchmark: how fast `ptp protocol validate` refuses each hostile protocol file of the test corpus.

Not a test: run on demand, e.g.

    PYTHONPATH=.:tests .venv/bin/python bench/protocol_load.py

The corpus is the one tests/unit/protocol/test_malformed_files.py generates (imported, not copied).
Prints CPU and wall seconds per case, and the worst of each; the bar the issue set is 2 s of CPU.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def corpus() -> list[tuple[str, bytes]]:
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location("malformed", ROOT / "tests/unit/protocol/test_malformed_files.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(case_id, content()) for case_id, content, _, _ in module.CASES]


def main() -> None:
    from ptp_pipeline.cli import main as ptp

    ptp(["protocol", "validate", str(ROOT / "protocols" / "project.yaml")])  # warm the imports up
    worst_cpu = worst_wall = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for case_id, content in corpus():
            path = Path(tmp) / f"{case_id}.yaml"
            path.write_bytes(content)
            wall, cpu = time.perf_counter(), time.process_time()
            code = ptp(["protocol", "validate", str(path)])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            worst_cpu, worst_wall = max(worst_cpu, cpu), max(worst_wall, wall)
            print(f"{case_id:32} exit {code}  cpu {cpu:6.3f} s  wall {wall:6.3f} s", file=sys.stderr)
    print(f"worst: cpu {worst_cpu:.3f} s, wall {worst_wall:.3f} s")


if __name__ == "__main__":
    main()
