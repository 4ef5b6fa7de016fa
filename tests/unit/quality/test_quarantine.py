"""Quarantine, refusal, feedback, corrections and Data Docs, through the pipeline's public functions; GX objects
saved once per suite and again whenever the suite changes (`validate.prepared_checkpoint`)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd
import pytest
from helpers import assert_conserved, ledger
from leaks import Identifiers, Scanner, scan_files_with_control

from ptp_pipeline import pipeline
from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.quality import validate
from ptp_pipeline.quality.feedback import write_feedback
from ptp_pipeline.quality.suite import suite_for
from ptp_pipeline.runtime import Runtime

HEADER = "surname,forenames,birth_date,home_postcode,sex,nhs_number,occurred_on,incident_type,estimated_cost"
REPO = Path(__file__).resolve().parents[3]
NAMES = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright"]


def rows(n: int = 30) -> list[str]:
    return [f"{NAMES[i % 10]},Ann{'a' * (i // 10)},{30000 + i},LS1 1AA,F,,01/05/2024,arrest,10" for i in range(n)]


def write(tmp_path: Path, lines: list[str], name: str = "police.csv") -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def with_bad_rows(bad: dict[int, tuple[str, str]], n: int = 30) -> list[str]:
    """Rows with some values replaced: {row number: (old, new)}."""
    out = rows(n)
    for row, (old, new) in bad.items():
        out[row - 1] = out[row - 1].replace(old, new, 1)
    return out


def test_feedback_lists_rows_fields_and_fixes_without_values(rt: Runtime, tmp_path: Path) -> None:
    bad = with_bad_rows({3: ("arrest", "riot"), 7: (",F,,", ",F,9434765918,")})
    outcome = pipeline.ingest(rt, write(tmp_path, bad), "police", "incidents")
    assert (outcome.status, outcome.rows_quarantined) == ("merged", 2)
    other = pipeline.ingest(rt, write(tmp_path, with_bad_rows({5: ("arrest", "theft")}), "other.csv"),
                            "police", "incidents")
    assert other.status == "merged"
    report = write_feedback(rt.warehouse, str(outcome.extract_id), tmp_path / "fb")
    table = pd.read_csv(report.csv, dtype=str)
    assert list(table.columns) == ["row", "line", "field", "problem", "how to fix", "status"]
    assert table[["row", "line", "field"]].values.tolist() == [["3", "4", "incident_type"], ["7", "8", "nhs_number"]]
    assert "use only: incident, arrest, custody" in table["how to fix"].iloc[0]
    html = report.html.read_text()
    assert "incident_type" in html and "police.csv" in html
    for text in (report.csv.read_text(), html):
        for value in ("riot", "9434765918", "Taylor", "Evans", "LS1 1AA", "30002"):
            assert value not in text, value
        assert "theft" not in text and "other.csv" not in text, "nothing from another extract"
    assert_conserved(rt)


def test_feedback_for_a_refused_extract_lists_every_failing_row(rt: Runtime, tmp_path: Path) -> None:
    bad = with_bad_rows({i: ("arrest", "riot") for i in range(1, 6)})
    outcome = pipeline.ingest(rt, write(tmp_path, bad, "<script>x.csv"), "police", "incidents")
    assert outcome.status == "refused" and "above its threshold" in str(outcome.reason)
    assert outcome.docs_url and outcome.docs_url.endswith(".html") and "/validations/" in outcome.docs_url
    report = write_feedback(rt.warehouse, str(outcome.extract_id), tmp_path / "fb")
    html = report.html.read_text()
    assert "<script>" not in html and "&lt;script&gt;x.csv" in html, "file names are escaped"
    table = pd.read_csv(report.csv, dtype=str)
    assert table["row"].tolist() == ["whole file", "1", "2", "3", "4", "5"]
    assert "above its threshold" in table["problem"].iloc[0]
    assert_conserved(rt)


def test_feedback_for_an_unknown_extract_is_a_user_error(rt: Runtime, tmp_path: Path) -> None:
    with pytest.raises(PtpUserError, match=r"no extract has the id police\.nope"):
        write_feedback(rt.warehouse, "police.nope", tmp_path)


def test_same_file_twice_changes_nothing_and_says_so(rt: Runtime, tmp_path: Path) -> None:
    path = write(tmp_path, rows())
    first = pipeline.ingest(rt, path, "police", "incidents")
    again = pipeline.ingest(rt, path, "police", "incidents")
    assert again.status == "already_merged" and again.extract_id == first.extract_id
    assert "already received" in str(again.reason) and "nothing changed" in str(again.reason)
    assert len(ledger(rt)) == 1
    assert_conserved(rt)


def test_same_file_for_another_dataset_is_refused_without_touching_the_ledger(rt: Runtime, tmp_path: Path) -> None:
    three = rows(3)
    three[0] = three[0].replace("arrest", "riot")  # 1 bad row in 3: refused above the threshold
    path = write(tmp_path, three)
    first = pipeline.ingest(rt, path, "police", "incidents")
    assert first.status == "refused"
    before = ledger(rt)
    other = pipeline.ingest(rt, path, "health", "attendances")
    assert other.status == "refused" and other.extract_id is None
    assert f"already received for police/incidents as extract {first.extract_id}" in str(other.reason)
    assert ledger(rt) == before
    assert_conserved(rt)


def test_correction_supersedes_the_extract_and_resolves_its_quarantine(rt: Runtime, tmp_path: Path) -> None:
    original = pipeline.ingest(rt, write(tmp_path, with_bad_rows({2: ("arrest", "riot")})), "police", "incidents")
    assert (original.status, original.rows_quarantined) == ("merged", 1)
    fixed = rows()
    fixed[1] = fixed[1].replace("arrest", "custody")
    correction = pipeline.ingest(rt, write(tmp_path, fixed, "police-corrected.csv"), "police", "incidents",
                                 corrects=original.extract_id)
    assert (correction.status, correction.rows_accepted) == ("merged", 30)
    events = rt.warehouse.query("SELECT extract_id, count(*) AS n FROM shared.pathway_event GROUP BY 1")
    assert events.values.tolist() == [[correction.extract_id, 30]], "the superseded rows left the shared tables"
    assert rt.warehouse.scalar("SELECT count(*) FROM restricted.link_record WHERE extract_id = ?",
                               (original.extract_id,)) == 0
    status = {r["extract_id"]: r for r in ledger(rt)}
    assert status[original.extract_id]["status"] == "superseded"
    assert rt.warehouse.query("SELECT status, resolved_by FROM restricted.quarantine WHERE extract_id = ?",
                              (original.extract_id,)).values.tolist() == [["resolved", correction.extract_id]]
    assert rt.warehouse.scalar("SELECT sum(n_events) FROM shared.person") == 30
    assert_conserved(rt)
    # The superseded file arriving again must not bring its rows back.
    again = pipeline.ingest(rt, tmp_path / "in" / "police.csv", "police", "incidents")
    assert again.status == "superseded" and "nothing changed" in str(again.reason)
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 30
    assert_conserved(rt)


def test_correction_must_name_an_extract_of_the_same_dataset(rt: Runtime, tmp_path: Path) -> None:
    with pytest.raises(PtpUserError, match="never received"):
        pipeline.ingest(rt, write(tmp_path, rows()), "police", "incidents", corrects="police.incidents.x")
    assert ledger(rt) == []


def test_refused_correction_leaves_the_original_alone(rt: Runtime, tmp_path: Path) -> None:
    original = pipeline.ingest(rt, write(tmp_path, rows()), "police", "incidents")
    broken = tmp_path / "in" / "broken.csv"
    broken.write_bytes(b"")
    correction = pipeline.ingest(rt, broken, "police", "incidents", corrects=original.extract_id)
    assert correction.status == "refused"
    assert {r["extract_id"]: r["status"] for r in ledger(rt)}[original.extract_id] == "merged"
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 30
    assert_conserved(rt)


def test_data_docs_and_gx_stores_hold_no_raw_identifier(rt: Runtime, tmp_path: Path) -> None:
    long_nhs = "4010232137" * 20
    bad = with_bad_rows({1: (",F,,", f",F,{long_nhs},"), 2: (",F,,", ",F,9434765918,"), 3: ("LS1 1AA", "ZZ99 9ZZ"),
                         4: ("30003", "31/02/1980"), 5: ("01/05/2024", "01/01/2099")}, n=60)
    bad[5] = "Ŀúçïńdà" + bad[5][bad[5].index(","):]
    bad.append(bad[10])  # an exact duplicate row
    outcome = pipeline.ingest(rt, write(tmp_path, bad), "police", "incidents")
    assert outcome.status == "merged" and outcome.rows_quarantined == 6
    home = rt.settings.home
    docs = home / "data-docs"
    assert outcome.docs_url and Path(outcome.docs_url.removeprefix("file://")).is_file()
    files = [p for p in [*docs.rglob("*"), *(home / "gx").rglob("*")] if p.is_file()]
    assert len(files) > 5
    text = "\n".join(p.read_text(errors="replace") for p in files)
    assert "expect_column_values_to_be_valid_nhs_mod11_sums" in text, "the scan must reach the GX results"
    identifiers = (Identifiers().add("nhs", [long_nhs, "4010232137", "9434765918"])
                   .add("postcode", ["ZZ99 9ZZ", "LS1 1AA"]).add("dob", ["31/02/1980", "1980-02-31", "1982-02-18"])
                   .add("name", ["Ŀúçïńdà", *NAMES, "Annaa"]))
    scanner = Scanner(identifiers)
    pages = [p for p in files if p.suffix == ".html"]
    assert pages and len(pages) < len(files), "both Data Docs pages and GX result files are scanned"
    leaks = scan_files_with_control(pages, pages[0].parent, scanner, ".html")
    leaks += scan_files_with_control([p for p in files if p not in pages], home / "gx", scanner, ".json")
    assert not leaks, leaks
    assert_conserved(rt)


@pytest.mark.parametrize(("extra", "expected"), [
    ('{type: expect_column_values_to_be_in_set, kwargs: {column: no_such_column, value_set: [a]}}',
     "validation rule expect_column_values_to_be_in_set on column no_such_column could not run"),
    ('{type: expect_table_row_count_to_be_between, kwargs: {min_value: 1000}, '
     'meta: {problem: "has fewer rows than a month\'s extract", hint: "send the whole month"}}',
     "fails the protocol's rule expect_table_row_count_to_be_between: has fewer rows than a month's extract"),
])
def test_protocol_rules_that_break_or_fail_as_a_whole_refuse_the_extract(
        env: dict[str, str], tmp_path: Path, extra: str, expected: str) -> None:
    import shutil

    from ptp_pipeline.settings import load_settings

    protocols = tmp_path / "protocols"
    shutil.copytree(REPO / "protocols", protocols)
    police = protocols / "police_incidents.yaml"
    police.write_text(police.read_text() + f"expectations:\n  - {extra}\n")
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        outcome = pipeline.ingest(rt, write(tmp_path, rows()), "police", "incidents")
        assert outcome.status == "refused" and expected in str(outcome.reason), outcome.reason
        assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 0
        assert_conserved(rt)
    finally:
        rt.close()


def test_a_changed_suite_is_saved_again_and_an_unchanged_one_reused(tmp_path: Path) -> None:
    gx_dir = tmp_path / "gx"
    ctx = validate._context(gx_dir, tmp_path / "docs")
    suite = suite_for(load_protocol(REPO / "protocols" / "police_incidents.yaml"), date(2026, 1, 1))
    first = validate.prepared_checkpoint(ctx, gx_dir, suite, "police.incidents")
    n = len(suite.expectations)
    assert len(first.validation_definitions[0].suite.expectations) == n
    again = validate.prepared_checkpoint(validate._context(gx_dir, tmp_path / "docs"), gx_dir, suite,
                                         "police.incidents")
    assert len(again.validation_definitions[0].suite.expectations) == n
    changed = suite_for(load_protocol(REPO / "protocols" / "police_incidents.yaml"), date(2026, 1, 1))
    changed.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="sex"))
    saved = validate.prepared_checkpoint(validate._context(gx_dir, tmp_path / "docs"), gx_dir, changed,
                                         "police.incidents")
    assert len(saved.validation_definitions[0].suite.expectations) == n + 1, "the new rule is used, not the old"


def test_each_extract_is_validated_on_its_own_rows_and_a_damaged_gx_folder_heals(rt: Runtime,
                                                                                tmp_path: Path) -> None:
    clean = pipeline.ingest(rt, write(tmp_path, rows(), "a.csv"), "police", "incidents")
    assert clean.status == "merged" and clean.rows_quarantined == 0
    bad = with_bad_rows({2: ("LS1 1AA", "ZZ99 9ZZ"), 7: ("01/05/2024", "01/01/2099")})
    second = pipeline.ingest(rt, write(tmp_path, [r.replace("Ann", "Bea") for r in bad], "b.csv"),
                             "police", "incidents")
    assert second.status == "merged" and second.rows_quarantined == 2, "the saved checkpoint checks new rows"
    shutil.rmtree(rt.settings.gx_dir / "gx" / "checkpoints")  # damaged by hand: saved again, not a failure
    third = pipeline.ingest(rt, write(tmp_path, [r.replace("Ann", "Cat") for r in bad], "c.csv"),
                            "police", "incidents")
    assert third.status == "merged" and third.rows_quarantined == 2
    pages = list((rt.settings.docs_dir / "validations").rglob("*.html"))
    assert len(pages) == 3, "one Data Docs page per validation"
    assert any((rt.settings.gx_dir / "template_cache").iterdir()), "templates compiled once, then cached"
    assert_conserved(rt)
