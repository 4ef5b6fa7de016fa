"""The coverage floors `make test` enforces: a unit below its floor fails, the message says what to do."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from coverage_by_package import FLOORS, check_floors, load_floors, table

REPO = Path(__file__).resolve().parents[2]


def _report(tmp_path: Path, files: dict[str, tuple[int, int, int, int]]) -> Path:
    keys = ("num_statements", "covered_lines", "num_branches", "covered_branches")
    body = {"files": {path: {"summary": dict(zip(keys, figures, strict=True))} for path, figures in files.items()}}
    path = tmp_path / "coverage.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_a_unit_below_its_floor_fails_and_names_package_figure_floor_and_remedy(tmp_path: Path) -> None:
    report = _report(tmp_path, {
        "ptp_pipeline/privacy/tokens.py": (10, 9, 4, 3),  # (9 + 3) / 14 = 85.7%
        "ptp_pipeline/privacy/names.py": (6, 6, 0, 0),  # with tokens.py: 18 / 20 = 90.0%
        "ptp_pipeline/warehouse/audit.py": (10, 10, 2, 2),
    })
    failures, notes = check_floors(report, {"ptp_pipeline/privacy": 90.1, "ptp_pipeline/warehouse/audit.py": 100})
    assert len(failures) == 1 and not notes
    assert "ptp_pipeline/privacy" in failures[0] and "90.0%" in failures[0] and "90.1%" in failures[0]
    assert "coverage report -m" in failures[0] and "do not lower" in failures[0]
    assert check_floors(report, {"ptp_pipeline/privacy": 90.0}) == ([], [])


def test_a_unit_well_above_its_floor_is_told_to_raise_it(tmp_path: Path) -> None:
    report = _report(tmp_path, {"ptp_pipeline/linkage/cluster.py": (10, 10, 10, 9)})  # 95.0%
    assert check_floors(report, {"ptp_pipeline/linkage": 94.1}) == ([], [])
    failures, notes = check_floors(report, {"ptp_pipeline/linkage": 94.0})
    assert not failures and "raise the floor" in notes[0] and "95.0" in notes[0]


def test_a_unit_with_a_floor_that_was_not_measured_fails(tmp_path: Path) -> None:
    report = _report(tmp_path, {"ptp_pipeline/privacy/tokens.py": (1, 1, 0, 0)})
    failures, _ = check_floors(report, {"ptp_pipeline/warehouse/optout.py": 50})
    assert len(failures) == 1 and "not measured" in failures[0]


def test_a_module_floor_does_not_swallow_its_neighbours(tmp_path: Path) -> None:
    report = _report(tmp_path, {"ptp_pipeline/warehouse/audit.py": (2, 2, 0, 0),
                                "ptp_pipeline/warehouse/audit_extra.py": (2, 0, 0, 0)})
    lines = table(report, ["ptp_pipeline/warehouse/audit.py"])
    assert any(line.startswith("ptp_pipeline/warehouse/audit.py ") and "100.0%" in line for line in lines)
    assert any(line.startswith("ptp_pipeline/warehouse ") and "0.0%" in line for line in lines)


def test_every_unit_with_a_floor_exists_and_is_measured() -> None:
    source = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["coverage"]["run"]["source"]
    floors = load_floors(FLOORS)
    assert floors and all(0 <= floor <= 100 for floor in floors.values())
    for unit in floors:
        assert (REPO / unit).exists(), f"{unit} has a floor in {FLOORS.name} but is no longer there"
        assert any(unit == s or unit.startswith(s + "/") for s in source), f"{unit} is outside coverage's source"
