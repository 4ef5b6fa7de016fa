"""Branch coverage per package, from the JSON report pytest-cov writes in `make coverage`, and its floors.

tests/conftest.py prints it at the end of the run (before pytest's closing line) and fails a whole-suite run
when a unit named in tests/coverage_floors.json falls below its floor; by hand:
`python tests/coverage_by_package.py test-artifacts/coverage.json`. Lines and branches count together, as in
coverage.py's total, so 100% means every line and both ways of every branch ran.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

FLOORS = Path(__file__).with_name("coverage_floors.json")
RAISE_BY = 1.0  # a unit this far above its floor is told to raise it (floors sit 0.5 below, for hypothesis)


def load_floors(path: Path = FLOORS) -> dict[str, float]:
    """Unit (a package or module path under ptp_pipeline/) -> the lowest coverage a whole-suite run may show."""
    return {str(k): float(v) for k, v in json.loads(path.read_text(encoding="utf-8"))["floors"].items()}


def unit_of(path: str, units: list[str]) -> str:
    """The floor unit a measured file belongs to, else its package (ptp_pipeline/<package>)."""
    parts = Path(path).parts
    start = parts.index("ptp_pipeline")
    rel = "/".join(parts[start:])
    for unit in units:
        if rel == unit or rel.startswith(unit.rstrip("/") + "/"):
            return unit
    return "/".join(parts[start:start + 2]) if len(parts) - start > 2 else "ptp_pipeline (top level)"


def counts(report: Path, units: list[str]) -> dict[str, list[int]]:
    """Per unit: statements, covered statements, branches, covered branches."""
    files = json.loads(report.read_text(encoding="utf-8"))["files"]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for path, data in files.items():
        s = data["summary"]
        row = totals[unit_of(path, units)]
        for i, key in enumerate(("num_statements", "covered_lines", "num_branches", "covered_branches")):
            row[i] += int(s.get(key, 0))
    return totals


def percent(stmts: int, covered: int, branches: int, took: int) -> float:
    return 100 * (covered + took) / (stmts + branches) if stmts + branches else 100.0


def table(report: Path, units: list[str] | None = None) -> list[str]:
    """One line per measured unit (floor units first by name, then packages), then the total."""
    totals = counts(report, units or [])
    lines = [f"{'package':<40}{'stmts':>7}{'missed':>8}{'branches':>10}{'br. missed':>12}{'cover':>8}"]
    grand = [0, 0, 0, 0]
    for name in sorted(totals):
        grand = [a + b for a, b in zip(grand, totals[name], strict=True)]
        lines.append(_line(name, *totals[name]))
    return [*lines, _line("TOTAL", *grand)]


def _line(name: str, stmts: int, covered: int, branches: int, took: int) -> str:
    cover = percent(stmts, covered, branches, took)
    return f"{name:<40}{stmts:>7}{stmts - covered:>8}{branches:>10}{branches - took:>12}{cover:>7.1f}%"


def check_floors(report: Path, floors: dict[str, float]) -> tuple[list[str], list[str]]:
    """(failures, notes): a unit below its floor fails the run; one well above it is told to raise the floor."""
    totals = counts(report, list(floors))
    failures: list[str] = []
    notes: list[str] = []
    for unit, floor in sorted(floors.items()):
        if unit not in totals:
            failures.append(f"{unit}: not measured, but it has a floor of {floor:.1f}% in tests/{FLOORS.name}. "
                            "If it was moved or renamed, rename its entry there too; if it is not imported by any "
                            "test, add tests for it.")
            continue
        figure = round(percent(*totals[unit]), 1)
        if figure < floor:
            failures.append(f"{unit}: coverage {figure:.1f}% is below its floor of {floor:.1f}% "
                            f"(tests/{FLOORS.name}). Add tests for the lines and branches "
                            f"`coverage report -m --include='*/{unit}*'` lists as missing; do not lower the floor.")
        elif figure >= floor + RAISE_BY:
            notes.append(f"{unit}: coverage {figure:.1f}% is above its floor of {floor:.1f}%: raise the floor "
                         f"in tests/{FLOORS.name} to {figure:.1f}.")
    return failures, notes


if __name__ == "__main__":
    print("\n".join(table(Path(sys.argv[1] if len(sys.argv) > 1 else "test-artifacts/coverage.json"),
                          list(load_floors()))))
    sys.exit(0)
