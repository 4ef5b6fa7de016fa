"""Branch coverage per package, from the JSON report pytest-cov writes in `make test`.

tests/conftest.py prints it at the end of the run (before pytest's closing line); by hand:
`python tests/coverage_by_package.py test-artifacts/coverage.json`. Lines and branches count together,
as in coverage.py's total. The floor is `fail_under` in pyproject's [tool.coverage.report], enforced by
pytest-cov: raise it when the total goes up, never lower it.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def package_of(path: str) -> str:
    parts = Path(path).parts
    start = parts.index("ptp_pipeline")
    return "/".join(parts[start:start + 2]) if len(parts) - start > 2 else "ptp_pipeline (top level)"


def table(report: Path) -> list[str]:
    """One line per package of ptp_pipeline, then the total."""
    files = json.loads(report.read_text(encoding="utf-8"))["files"]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for path, data in files.items():
        s = data["summary"]
        row = totals[package_of(path)]
        for i, key in enumerate(("num_statements", "covered_lines", "num_branches", "covered_branches")):
            row[i] += int(s.get(key, 0))
    lines = [f"{'package':<34}{'stmts':>7}{'missed':>8}{'branches':>10}{'br. missed':>12}{'cover':>8}"]
    grand = [0, 0, 0, 0]
    for name in sorted(totals):
        grand = [a + b for a, b in zip(grand, totals[name], strict=True)]
        lines.append(_line(name, *totals[name]))
    return [*lines, _line("TOTAL", *grand)]


def _line(name: str, stmts: int, covered: int, branches: int, took: int) -> str:
    cover = 100 * (covered + took) / (stmts + branches) if stmts + branches else 100.0
    return f"{name:<34}{stmts:>7}{stmts - covered:>8}{branches:>10}{branches - took:>12}{cover:>7.1f}%"


if __name__ == "__main__":
    print("\n".join(table(Path(sys.argv[1] if len(sys.argv) > 1 else "test-artifacts/coverage.json"))))
    sys.exit(0)
