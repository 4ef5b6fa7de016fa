"""Branch coverage per package, from the JSON report SlipCover writes in `make test`, and its floors.

`make test` runs the suite under SlipCover (settings in pyproject's [tool.slipcover]), then
`python tests/coverage_by_package.py --check` prints this table and fails when a unit named in
tests/coverage_floors.json falls below its floor. `--missing UNIT` lists the lines and branches of a unit no
test ran. Lines and branches count together, as in SlipCover's (and coverage.py's) total, so 100% means every
line and both ways of every branch ran.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from io import StringIO
from pathlib import Path
from typing import Any

FLOORS = Path(__file__).with_name("coverage_floors.json")
REPORT = Path("test-artifacts/coverage.json")
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


def _files(report: Path) -> dict[str, Any]:
    files: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))["files"]
    return files


def counts(report: Path, units: list[str]) -> dict[str, list[int]]:
    """Per unit: statements, covered statements, branches, covered branches (SlipCover's per-file summary)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for path, data in _files(report).items():
        s = data["summary"]
        covered, took = int(s["covered_lines"]), int(s.get("covered_branches", 0))
        figures = (covered + int(s["missing_lines"]), covered, took + int(s.get("missing_branches", 0)), took)
        unit = unit_of(path, units)
        totals[unit] = [a + b for a, b in zip(totals[unit], figures, strict=True)]
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
                            f"`python tests/coverage_by_package.py --missing {unit}` lists; do not lower the floor.")
        elif figure >= floor + RAISE_BY:
            notes.append(f"{unit}: coverage {figure:.1f}% is above its floor of {floor:.1f}%: raise the floor "
                         f"in tests/{FLOORS.name} to {figure:.1f}.")
    return failures, notes


def missing(report: Path, unit: str) -> str:
    """SlipCover's own table (lines, branches, what was missed) for the files of one unit not fully covered."""
    from slipcover import print_coverage
    from slipcover.slipcover import add_summaries

    data = json.loads(report.read_text(encoding="utf-8"))
    data["files"] = {p: f for p, f in data["files"].items() if unit_of(p, [unit]) == unit}
    add_summaries(data)
    out = StringIO()
    print_coverage(data, outfile=out, skip_covered=True)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Print the table; with --check, 1 when a unit is below its floor (only a whole-suite run is held to them)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", nargs="?", type=Path, default=REPORT, help=f"SlipCover JSON (default {REPORT})")
    parser.add_argument("--check", action="store_true", help="fail when a unit is below its floor")
    parser.add_argument("--missing", metavar="UNIT", help="list what no test ran in UNIT, e.g. ptp_pipeline/privacy")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        print(f"No coverage report at {args.report}: run the tests under SlipCover first (`make test`).")
        return 1
    if args.missing:
        print(missing(args.report, args.missing))
        return 0
    floors = load_floors()
    print("=" * 30 + " branch coverage per package " + "=" * 30)
    print("\n".join(table(args.report, list(floors))))
    if not args.check:
        return 0
    failures, notes = check_floors(args.report, floors)
    for line in [*(f"FAIL {line}" for line in failures), *notes]:
        print(line)
    if not failures:
        print(f"Every unit is at or above its floor (tests/{FLOORS.name}).")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
