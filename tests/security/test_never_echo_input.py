"""Issue 16.2: a file sent without its header line has a data row where the header should be. No value of
that row may reach the ledger reason, the quarantine, the partner feedback (CSV and HTML), `ptp status`
or the audit log (which cannot be edited without breaking its chain)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from helpers import assert_conserved
from leaks import Identifiers, Scanner, scan_files_with_control, scan_text_with_control

from ptp_pipeline.cli import main
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

#: Identifying columns per dataset, by kind: none of their values may appear anywhere after the refusal.
IDENTIFYING = {
    "police": {"surname": "name", "forenames": "name", "birth_date": "dob", "home_postcode": "postcode",
               "home_address": "address", "nhs_number": "nhs", "uprn": "address"},
    "health": {"nhs_number": "nhs", "given_name": "name", "family_name": "name", "dob": "dob",
               "postcode": "postcode", "address": "address"},
    "council": {"client_ref": "reference", "nhs_number": "nhs", "forename": "name", "surname": "name",
                "date_of_birth": "dob", "postcode": "postcode", "address_line1": "address"},
}


def headerless(source: Path, target: Path, *, same_flags: bool = False) -> list[str]:
    """The extract without its header line; returns the identifying values of the row that takes its place."""
    rows = list(csv.DictReader(io.StringIO(source.read_text(encoding="utf-8"))))
    if same_flags:  # a first row whose two Y/N flags are equal: read as a header, it names a column twice
        rows.sort(key=lambda r: r.get("alcohol_related") != r.get("drug_related"))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([list(r.values()) for r in rows])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(buffer.getvalue(), encoding="utf-8")
    return list(rows[0].values())


def everything_a_reader_sees(rt: Runtime, extract_id: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> str:
    wh = rt.warehouse
    parts = [
        wh.query("SELECT * FROM ops.extract_ledger").astype(str).to_csv(),
        wh.query("SELECT * FROM restricted.quarantine").astype(str).to_csv(),
        wh.query("SELECT * FROM ops.audit_log").astype(str).to_csv(),
    ]
    rt.close()
    capsys.readouterr()
    assert main(["feedback", extract_id, "--out", str(tmp_path / "fb")]) == 0
    assert main(["status"]) == 0
    assert main(["status", "--json"]) == 0
    parts.append(capsys.readouterr().out)
    for path in (tmp_path / "fb").iterdir():
        parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


@pytest.mark.parametrize(("partner", "dataset", "same_flags"), [
    ("police", "incidents", False),  # unexpected columns: the header check
    ("council", "contacts", False),
    ("health", "attendances", True),  # a column named twice: the reader's duplicate check
])
def test_a_file_without_its_header_line_echoes_no_value(
        wh_env: dict[str, str], synthetic: SyntheticResult, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        partner: str, dataset: str, same_flags: bool) -> None:
    extract = next(e for e in synthetic.extracts if e.partner == partner)
    path = tmp_path / "in" / f"{partner}_no_header.csv"
    first = headerless(extract.path, path, same_flags=same_flags)
    header = extract.path.read_text(encoding="utf-8").splitlines()[0].split(",")
    values = [(IDENTIFYING[partner][name], v) for name, v in zip(header, first, strict=False)
              if name in IDENTIFYING[partner] and len(v) >= 3]
    assert len(values) >= 4, len(values)  # the test would prove nothing without identifiers in that row
    identifiers = Identifiers()
    for kind, value in values:
        identifiers.add(kind, [value])

    assert main(["ingest", str(path), "--partner", partner, "--dataset", dataset]) == 4
    cli_text = "\n".join(capsys.readouterr())
    rt = Runtime(load_settings(wh_env))
    (row,) = rt.warehouse.query("SELECT extract_id, reason FROM ops.extract_ledger").itertuples(index=False)
    assert_conserved(rt)
    reason = str(row.reason)
    scanner = Scanner(identifiers)
    seen = cli_text + everything_a_reader_sees(rt, row.extract_id, tmp_path, capsys)
    leaked = scan_text_with_control(seen, "ledger, quarantine, audit log, status, CLI output", scanner)
    leaked += scan_files_with_control(sorted((tmp_path / "fb").iterdir()), tmp_path / "fb", scanner)
    assert leaked == [], f"{len(leaked)} kind(s) of identifying value of the first row were echoed"
    # The refusal still says what is wrong and where to look: positions and counts, the missing header.
    assert "position" in reason and "header line" in reason, reason


def test_unexpected_header_names_that_cannot_be_data_are_named(env: dict[str, str], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A real header with extra columns: plain names are given; a name holding digits only by position."""
    header = ("surname,forenames,birth_date,home_postcode,sex,nhs_number,occurred_on,incident_type,"
              "estimated_cost,ethnicity,LS6 2QT")
    path = tmp_path / "police.csv"
    path.write_text(header + "\nSmith,Ann,30000,LS1 1AA,F,,01/05/2024,arrest,10,x,y\n", encoding="utf-8")
    assert main(["ingest", str(path), "--partner", "police", "--dataset", "incidents"]) == 4
    message = capsys.readouterr().err
    assert "ethnicity" in message and "position 11" in message
    assert "LS6 2QT" not in message and "Smith" not in message
    assert "2 of the file's 11 columns" in message
