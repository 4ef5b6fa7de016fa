"""The coverage floors `make test` enforces: a unit below its floor fails, the message says what to do."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from coverage_by_package import FLOORS, check_floors, load_floors, main, table

REPO = Path(__file__).resolve().parents[2]


def _report(tmp_path: Path, files: dict[str, tuple[int, int, int, int]]) -> Path:
    """A SlipCover JSON report; each file given as (statements, covered, branches, covered branches)."""
    body: dict[str, dict[str, object]] = {"meta": {"software": "slipcover", "branch_coverage": True}, "files": {}}
    for path, (stmts, covered, branches, took) in files.items():
        body["files"][path] = {
            "executed_lines": list(range(1, covered + 1)),
            "missing_lines": list(range(covered + 1, stmts + 1)),
            "executed_branches": [[n, n + 1] for n in range(1, took + 1)],
            "missing_branches": [[n, 0] for n in range(took + 1, branches + 1)],
            "summary": {"covered_lines": covered, "missing_lines": stmts - covered,
                        "covered_branches": took, "missing_branches": branches - took},
        }
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
    assert "--missing ptp_pipeline/privacy" in failures[0] and "do not lower" in failures[0]
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
    source = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["slipcover"]["source"]
    source = [source] if isinstance(source, str) else source
    floors = load_floors(FLOORS)
    assert floors and all(0 <= floor <= 100 for floor in floors.values())
    for unit in floors:
        assert (REPO / unit).exists(), f"{unit} has a floor in {FLOORS.name} but is no longer there"
        assert any(unit == s or unit.startswith(s + "/") for s in source), f"{unit} is outside coverage's source"


def test_the_command_make_test_runs_fails_below_a_floor_and_passes_at_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    floors = {unit: 90.0 for unit in load_floors(FLOORS)}
    figures = {f"{unit}/x.py" if not unit.endswith(".py") else unit: (10, 9, 0, 0) for unit in floors}
    monkeypatch.setattr("coverage_by_package.load_floors", lambda: floors)
    report = _report(tmp_path, figures)
    assert main(["--check", str(report)]) == 0
    out = capsys.readouterr().out
    assert "branch coverage per package" in out and "Every unit is at or above its floor" in out

    figures["ptp_pipeline/privacy/x.py"] = (10, 8, 2, 2)  # (8 + 2) / 12 = 83.3%
    report = _report(tmp_path, figures)
    assert main([str(report)]) == 0, "without --check the table is only printed"
    assert main(["--check", str(report)]) == 1
    fail = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert len(fail) == 1 and "ptp_pipeline/privacy: coverage 83.3% is below its floor of 90.0%" in fail[0]


def test_no_report_fails_rather_than_passing_on_nothing(tmp_path: Path) -> None:
    assert main(["--check", str(tmp_path / "absent.json")]) == 1


def test_missing_lists_the_lines_and_branches_no_test_ran_in_a_unit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _report(tmp_path, {"ptp_pipeline/privacy/tokens.py": (6, 4, 2, 1),
                                "ptp_pipeline/privacy/names.py": (3, 3, 0, 0),
                                "ptp_pipeline/linkage/cluster.py": (5, 1, 0, 0)})
    assert main(["--missing", "ptp_pipeline/privacy", str(report)]) == 0
    out = capsys.readouterr().out
    assert "ptp_pipeline/privacy/tokens.py" in out and "5-6" in out and "2->exit" in out
    assert "names.py" not in out and "linkage" not in out
