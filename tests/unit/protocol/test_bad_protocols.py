"""Malformed protocols: each fails `ptp protocol validate` with its own message at its own line.

Each case edits the (valid) police protocol in one place. The error must name the file and the
line of the edit (`file:line key.path: message`), exit with code 3 and never show a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ptp_pipeline.cli import main

BASE = (Path(__file__).resolve().parents[3] / "protocols" / "police_incidents.yaml").read_text(encoding="utf-8")
SURNAME = "{name: surname, type: string, role: direct_identifier, treatment: pseudonymise, identifies: surname"
INCIDENT_TYPE = """  - {name: incident_type, type: code, role: event_type, treatment: keep, required: true,
     constraints: {allowed_values: [incident, arrest, custody]}}"""
COST = "constraints: {min: 0, max: 100000}"
SIGNATORIES = ("signatories:\n  - {name: C. Example, role: Data Protection Officer, organisation: West Yorkshire "
               "Police, date: 2024-01-01}\n")
ARTICLE9 = '  article9: "DPA 2018 Sch 1 para 10 preventing or detecting unlawful acts"\n'

# (id, text to replace, replacement, line anchor (defaults to the replacement), key path, message)
CASES: list[tuple[str, str, str, str | None, str, str]] = [
    ("direct-identifier-kept", SURNAME, SURNAME.replace("pseudonymise", "keep"), None, "fields.0.treatment",
     "field 'surname' is a direct identifier kept as it is: use pseudonymise or drop"),
    ("identifier-kept-as-quasi", "{name: nhs_number, type: nhs_number, role: direct_identifier, treatment: "
     "pseudonymise", "{name: nhs_number, type: nhs_number, role: quasi_identifier, treatment: keep", None,
     "fields.5.treatment", "field 'nhs_number' identifies a person (nhs_number) and would be shared as it is"),
    ("special-category-without-article9", ARTICLE9, "", "special_category: true", "special_category",
     "the protocol says it shares special-category data, so lawful_basis.article9 must name an Article 9 condition"),
    ("health-field-without-article9", ARTICLE9 + "  gateway: Crime and Disorder Act 1998 s115\n",
     "  gateway: Crime and Disorder Act 1998 s115\n",
     "incident_qualifier", "fields.11", "field 'incident_qualifier' looks like health data, so lawful_basis.article9 "
     "must"),
    ("valid-to-before-valid-from", "valid_to: 2027-03-31", "valid_to: 2023-03-31", None, "valid_to",
     "valid_to 2023-03-31 is before valid_from 2024-01-01: the protocol would never be in force"),
    ("duplicate-field", "{name: forenames,", "{name: surname,", "{name: surname, type: string, role: "
     "direct_identifier, treatment: pseudonymise, identifies: forename", "fields.1.name",
     "field 'surname' is listed twice: keep one entry"),
    ("unknown-type", "{name: estimated_cost, type: decimal", "{name: estimated_cost, type: money", None,
     "fields.8.type", "Input should be 'string', 'integer', 'decimal'"),
    ("unknown-treatment", "{name: sex, type: code, role: quasi_identifier, treatment: keep",
     "{name: sex, type: code, role: quasi_identifier, treatment: hash", None, "fields.4.treatment",
     "Input should be 'pseudonymise', 'generalise', 'keep' or 'drop'"),
    ("event-names-missing-field", "  date: occurred_on", "  date: occured_on", None, "event.date",
     "event.date names field 'occured_on', which is not in fields: did you mean 'occurred_on'?"),
    ("generalise-level-type-lacks", "identifies: postcode,\n     generalise: district",
     "identifies: postcode,\n     generalise: year", "generalise: year}", "fields.3.generalise",
     "field 'home_postcode' of type uk_postcode cannot be generalised to 'year' (levels for this type: area, "
     "district, sector)"),
    ("approved-without-signatories", SIGNATORIES, "", "status: approved", "status",
     "an approved protocol needs signatories"),
    ("code-without-allowed-values", INCIDENT_TYPE,
     "  - {name: incident_type, type: code, role: event_type, treatment: keep, required: true}", None,
     "fields.7.constraints", "field 'incident_type' is a code but lists no allowed values"),
    ("unknown-expectation", "event:\n", "expectations:\n  - {type: expect_column_values_to_not_be_nul}\nevent:\n",
     "expect_column_values_to_not_be_nul", "expectations.0.type",
     "'expect_column_values_to_not_be_nul' is not a Great Expectations expectation: did you mean "
     "'expect_column_values_to_not_be_null'?"),
    ("unknown-expectation-argument", "event:\n",
     "expectations:\n  - {type: expect_column_values_to_not_be_null, kwargs: {colum: cost}}\nevent:\n",
     "colum: cost", "expectations.0.kwargs", "expect_column_values_to_not_be_null takes no argument(s) colum"),
    ("misspelt-key", "purpose: >-", "purpse: >-", None, "purpse",
     "unknown key: check its spelling against protocols/schema/protocol.schema.json"),
    ("missing-required-key", "retention:\n  raw_extract_days: 30\n  shared_data_years: 6\n", "", "id: police",
     "retention", "required key 'retention' is missing: add it"),
    ("bad-date-format", "formats: [excel]", "formats: [dd/mm/yyyy]", None, "fields.2.formats",
     "date format 'dd/mm/yyyy' has no %-codes"),
    ("bad-regex", INCIDENT_TYPE, INCIDENT_TYPE + "\n  - {name: ref, type: string, role: attribute, treatment: keep, "
     "constraints: {pattern: '[A-Z'}}", "[A-Z", "fields.8.constraints.pattern",
     "pattern is not a valid regular expression"),
    ("min-above-max", COST, "constraints: {min: 100000, max: 0}", None, "fields.8.constraints.min",
     "min 100000 is above max 0: swap them"),
    ("unknown-encoding", "encoding: utf-8", "encoding: utf-9", None, "file.encoding", "unknown encoding 'utf-9'"),
    ("event-date-not-a-date", "  date: occurred_on", "  date: incident_type", None, "event.date",
     "event.date names field 'incident_type' of type code; it needs date or datetime"),
    ("threshold-out-of-range", "quarantine_threshold: 0.1", "quarantine_threshold: 10", None,
     "quarantine_threshold", "Input should be less than or equal to 1"),
    ("unknown-article6", "article6: public_task", "article6: public_interest", None, "lawful_basis.article6",
     "Input should be 'consent', 'contract'"),
    ("pseudonymised-without-identifies", "treatment: pseudonymise, identifies: surname, required: true",
     "treatment: pseudonymise, required: true", None, "fields.0.identifies",
     "field 'surname' is pseudonymised but does not say what it 'identifies:'"),
    ("cost-not-a-number", "{name: estimated_cost, type: decimal, role: cost, treatment: keep, required: true, "
     + COST + "}", "{name: estimated_cost, type: string, role: cost, treatment: keep, required: true}", None,
     "fields.8.type", "field 'estimated_cost' has role cost, which needs type decimal or integer, not string"),
    ("not-yaml", "dataset: incidents", "dataset: [incidents", "purpose: >-", "",
     "not valid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence that starts on line 8)"),
]


def make_case(tmp_path: Path, case_id: str, old: str, new: str) -> Path:
    assert old in BASE, f"case {case_id}: the base protocol changed; update the case"
    text = BASE.replace(old, new, 1)
    if case_id == "health-field-without-article9":
        text = text.replace("special_category: true", "special_category: false")
    path = tmp_path / f"{case_id}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, anchor: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if anchor.strip().splitlines()[0] in t)


@pytest.mark.parametrize(("case_id", "old", "new", "anchor", "key", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_protocol_fails_with_its_own_message_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case_id: str, old: str, new: str, anchor: str | None,
        key: str, message: str) -> None:
    path = make_case(tmp_path, case_id, old, new)
    assert main(["protocol", "validate", str(path)]) == 3
    captured = capsys.readouterr()
    line = line_of(path, anchor or new)
    expected = f"{path}:{line} {key}: {message}" if key else f"{path}:{line}: {message}"
    assert expected in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out


def test_cases_are_many_and_each_message_is_its_own() -> None:
    assert len(CASES) >= 15
    messages = [c[5] for c in CASES]
    assert len(set(messages)) == len(messages)


def test_every_problem_in_a_file_is_reported_at_once_sorted_by_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace(SURNAME, SURNAME.replace("pseudonymise", "keep")).replace(
        "formats: [excel]", "formats: [dd/mm/yyyy]").replace("encoding: utf-8", "encoding: utf-9")
    path = tmp_path / "many.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    err = capsys.readouterr().err
    lines = [int(t.split(":")[1].split()[0]) for t in err.splitlines() if t.startswith(str(path) + ":")]
    assert len(lines) == 3 and lines == sorted(lines)
    assert all(k in err for k in ("file.encoding", "fields.0.treatment", "fields.2.formats"))


def test_a_malformed_field_does_not_hide_problems_across_keys(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pydantic skips a model's own rules when a part fails; the loader still runs those it can."""
    text = BASE.replace("{name: estimated_cost, type: decimal", "{name: estimated_cost, type: money").replace(
        "valid_to: 2027-03-31", "valid_to: 2023-03-31").replace("  date: occurred_on", "  date: occured_on")
    path = tmp_path / "mixed.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert "fields.8.type: Input should be" in err
    assert "valid_to: valid_to 2023-03-31 is before valid_from 2024-01-01" in err
    assert "event.date: event.date names field 'occured_on', which is not in fields" in err


def test_two_files_with_the_same_id_and_version_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "police_a.yaml", tmp_path / "police_b.yaml"
    first.write_text(BASE, encoding="utf-8")
    second.write_text(BASE.replace("dataset: incidents", "dataset: arrests"), encoding="utf-8")
    assert main(["protocol", "validate", str(first), str(second)]) == 3
    err = capsys.readouterr().err
    assert f"{second}:1 version: police-incidents version 1 is also in {first}" in err
    assert f"{second}:1 id: 'police-incidents' is used in {first} for police/incidents" in err
