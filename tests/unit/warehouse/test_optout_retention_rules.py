"""The opt-out list's file rules and retention's policy rules, with hand-worked answers (no pipeline run).

Fast on purpose: these are the tests `make mutation` runs against `read_nhs_numbers`, `count`,
`latest_protocols` and `cutoff_for` (the removals themselves are tested through whole ingests elsewhere).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ptp_pipeline.errors import ExtractError
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.protocol.model import OptOut
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse import optout
from ptp_pipeline.warehouse.retention import cutoff_for, latest_protocols

REPO = Path(__file__).resolve().parents[3]
VALID = ["9434765919", "4010232137", "9434765870"]


def listed(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "optout.txt"
    path.write_text(text, encoding=encoding)
    return path


def test_the_file_may_have_a_header_blank_lines_spaces_and_repeats(tmp_path: Path) -> None:
    text = f"NHS_Number\n{VALID[0]}\n\n  943 476 5870 \n{VALID[0]}\n{VALID[1]}\n"
    got = optout.read_nhs_numbers(listed(tmp_path, text, "utf-8-sig"))
    assert got.tolist() == [VALID[0], VALID[2], VALID[1]]


def test_a_first_line_that_is_a_number_is_kept(tmp_path: Path) -> None:
    assert optout.read_nhs_numbers(listed(tmp_path, f"{VALID[1]}\n{VALID[0]}")).tolist() == [VALID[1], VALID[0]]


def test_an_empty_file_gives_no_numbers(tmp_path: Path) -> None:
    assert optout.read_nhs_numbers(listed(tmp_path, "")).tolist() == []
    assert optout.read_nhs_numbers(listed(tmp_path, "nhs_number\n")).tolist() == []


def test_bad_lines_are_counted_and_numbered_never_quoted(tmp_path: Path) -> None:
    bad = "9434765918"
    text = "nhs_number\n" + "\n".join([VALID[0], bad, "x", VALID[1]] + [bad] * 10)
    with pytest.raises(ExtractError) as refused:
        optout.read_nhs_numbers(listed(tmp_path, text))
    message = refused.value.message
    assert message == "12 line(s) do not hold a valid NHS number (lines 3, 4, 6, 7, 8, 9, 10, 11, 12, 13 ...)"
    assert bad not in str(refused.value)
    assert refused.value.hint == ("Each line must be one 10-digit NHS number with a correct check digit; correct "
                                  "or remove those lines and run the command again. Nothing was added.")
    assert refused.value.where is not None and refused.value.where.file == "optout.txt"
    with pytest.raises(ExtractError) as few:
        optout.read_nhs_numbers(listed(tmp_path, f"{VALID[0]}\n{bad}"))
    assert few.value.message == "1 line(s) do not hold a valid NHS number (lines 2)"


@pytest.mark.parametrize(("n", "shown"), [(10, "lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)"),
                                          (11, "lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ...)")])
def test_ten_bad_lines_are_listed_and_more_are_cut(tmp_path: Path, n: int, shown: str) -> None:
    with pytest.raises(ExtractError) as refused:
        optout.read_nhs_numbers(listed(tmp_path, "\n".join(["x"] * n)))
    assert refused.value.message == f"{n} line(s) do not hold a valid NHS number ({shown}"


def test_a_missing_file_is_told_so(tmp_path: Path) -> None:
    with pytest.raises(ExtractError) as refused:
        optout.read_nhs_numbers(tmp_path / "absent.txt")
    assert refused.value.message == "opt-out file not found"
    assert refused.value.where is not None and refused.value.where.file == str(tmp_path / "absent.txt")
    assert refused.value.hint == "Check the path of the national data opt-out list."


def test_count_is_the_number_of_listed_tokens(rt: Runtime) -> None:
    assert optout.count(rt.warehouse) == 0
    rt.warehouse.execute("INSERT INTO restricted.optout (token, added_at) VALUES ('a', now()), ('b', now())")
    assert optout.count(rt.warehouse) == 2


def test_the_latest_version_of_each_dataset_decides() -> None:
    police = load_protocol(REPO / "protocols" / "police_incidents.yaml")
    health = load_protocol(REPO / "protocols" / "health_attendances.yaml")
    v3, v2 = police.model_copy(update={"version": 3}), police.model_copy(update={"version": 2})
    other = police.model_copy(update={"dataset": "custody", "version": 1})
    latest = latest_protocols([v2, health, v3, police.model_copy(update={"version": 1}), other])
    assert {k: p.version for k, p in latest.items()} == {
        ("police", "incidents"): 3, ("health", "attendances"): health.version, ("police", "custody"): 1}
    assert latest_protocols([v3, v2])[("police", "incidents")] is v3


def test_cutoff_is_the_same_day_years_back_and_29_february_falls_to_28() -> None:
    assert cutoff_for(date(2026, 12, 6), 6) == date(2020, 12, 6)
    assert cutoff_for(date(2024, 2, 29), 1) == date(2023, 2, 28)
    assert cutoff_for(date(2024, 2, 29), 4) == date(2020, 2, 29)
    assert cutoff_for(date(2026, 1, 1), 0) == date(2026, 1, 1)


def test_a_project_without_health_partners_withholds_nothing(rt: Runtime, tmp_path: Path) -> None:
    assert optout.add(rt, listed(tmp_path, f"{VALID[0]}\n")).added == 1
    no_health = rt.project.model_copy(update={"national_data_opt_out": OptOut(health_partners=[])})
    assert optout.withhold(rt.warehouse, no_health) == 0
    assert optout.withhold(rt.warehouse, rt.project) == 0  # partners, but no events of that person yet
