"""Each kind of bad input a partner sends: a clear message (file, line, what to do), never a traceback,
never a value from the file; and nothing lost (received = accepted + quarantined, or refused whole)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import assert_conserved

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.pipeline import Outcome
from ptp_pipeline.quality.feedback import write_feedback
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

REPO = Path(__file__).resolve().parents[3]
HEADER = "surname,forenames,birth_date,home_postcode,sex,nhs_number,occurred_on,incident_type,estimated_cost"
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright"]


def good_lines(n: int = 30) -> list[str]:
    """Valid police rows (Excel serial birth dates, as the police protocol agrees)."""
    return [f"{SURNAMES[i % 10]},Ann{'a' * (i // 10)},{30000 + i},LS1 1AA,F,,01/05/2024,arrest,10" for i in range(n)]


def ingest_bytes(rt: Runtime, tmp_path: Path, data: bytes, name: str = "police.csv") -> Outcome:
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    outcome = pipeline.ingest(rt, path, "police", "incidents")
    assert_conserved(rt)
    return outcome


def ingest_lines(rt: Runtime, tmp_path: Path, lines: list[str], encoding: str = "utf-8") -> Outcome:
    return ingest_bytes(rt, tmp_path, ("\n".join(lines) + "\n").encode(encoding))


def refused(outcome: Outcome, *expected: str) -> str:
    assert outcome.status == "refused", outcome
    reason = str(outcome.reason)
    for text in expected:
        assert text in reason, (text, reason)
    assert "Traceback" not in reason
    return reason


def quarantine(rt: Runtime) -> list[dict[str, object]]:
    frame = rt.warehouse.query("SELECT source_row, source_line, field, problem FROM restricted.quarantine "
                               "ORDER BY source_row, field")
    return frame.to_dict(orient="records")  # type: ignore[return-value]


@pytest.fixture
def rt_encoding(env: dict[str, str], tmp_path: Path) -> object:
    """A runtime whose police protocol declares a given file.encoding."""
    made: list[Runtime] = []

    def build(encoding: str) -> Runtime:
        protocols = tmp_path / f"protocols-{encoding}"
        shutil.copytree(REPO / "protocols", protocols)
        police = protocols / "police_incidents.yaml"
        police.write_text(police.read_text().replace("encoding: utf-8", f"encoding: {encoding}"))
        runtime = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
        made.append(runtime)
        return runtime

    yield build
    for runtime in made:
        runtime.close()


def test_zero_byte_file(rt: Runtime, tmp_path: Path) -> None:
    refused(ingest_bytes(rt, tmp_path, b""), "empty (0 bytes)")


def test_blank_file(rt: Runtime, tmp_path: Path) -> None:
    refused(ingest_bytes(rt, tmp_path, b"\n \r\n"), "only blank space")


def test_header_only(rt: Runtime, tmp_path: Path) -> None:
    refused(ingest_lines(rt, tmp_path, [HEADER]), "header but no data rows")


def test_wrong_delimiter(rt: Runtime, tmp_path: Path) -> None:
    lines = [line.replace(",", ";") for line in [HEADER, *good_lines(3)]]
    refused(ingest_lines(rt, tmp_path, lines), "one column", "(comma)", "semicolons")


def test_ragged_rows_name_the_line(rt: Runtime, tmp_path: Path) -> None:
    lines = [HEADER, *good_lines(3)]
    lines[2] += ",extra"
    reason = refused(ingest_lines(rt, tmp_path, lines), "line 3 (data row 2) has 10 values but the header has 9")
    assert "Smith" not in reason and "Jones" not in reason


def test_ragged_row_after_a_quoted_line_break_names_its_own_line(rt: Runtime, tmp_path: Path) -> None:
    rows = good_lines(3)
    rows[0] = '"Smith\nSmythe",Ann,30000,LS1 1AA,F,,01/05/2024,arrest,10'  # row 1 on lines 2-3
    rows[2] += ",extra"  # row 3 starts on line 5, not 4
    refused(ingest_lines(rt, tmp_path, [HEADER, *rows]), "line 5 (data row 3) has 10 values")


@pytest.mark.parametrize(("encoding", "name"), [("cp1252", "O’Brien"), ("latin-1", "Zoë")])
def test_legacy_encoding_declared_is_accepted_undeclared_is_refused(
        rt: Runtime, rt_encoding: object, tmp_path: Path, encoding: str, name: str) -> None:
    lines = [HEADER, *good_lines(30)]
    lines[4] = lines[4].replace("Ann", name, 1) if name == "Zoë" else name + lines[4][lines[4].index(","):]
    data = ("\n".join(lines) + "\n").encode(encoding)
    reason = refused(ingest_bytes(rt, tmp_path, data), "not valid utf-8 text", "on line 5", "file.encoding")
    assert name not in reason
    declared = rt_encoding(encoding)  # type: ignore[operator]
    outcome = ingest_bytes(declared, tmp_path / "declared", data)
    assert (outcome.status, outcome.rows_accepted) == ("merged", 30), outcome


def test_utf8_byte_order_mark(rt: Runtime, tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + ("\n".join([HEADER, *good_lines(30)]) + "\n").encode()
    outcome = ingest_bytes(rt, tmp_path, data)
    assert (outcome.status, outcome.rows_accepted) == ("merged", 30), outcome


def test_utf8_byte_order_mark_when_the_protocol_declares_cp1252(rt_encoding: object, tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + ("\n".join([HEADER, *good_lines(3)]) + "\n").encode()
    refused(ingest_bytes(rt_encoding("cp1252"), tmp_path, data),  # type: ignore[operator]
            "UTF-8 byte-order mark", "declares file.encoding cp1252")


def test_utf16_export(rt: Runtime, tmp_path: Path) -> None:
    data = ("\n".join([HEADER, *good_lines(3)]) + "\n").encode("utf-16")
    refused(ingest_bytes(rt, tmp_path, data), "the file is UTF-16 text")


def test_newlines_inside_quoted_fields_keep_rows_and_lines_apart(rt: Runtime, tmp_path: Path) -> None:
    rows = good_lines(30)
    rows[0] = '"Smith\nSmythe",Ann,30000,LS1 1AA,F,,01/05/2024,arrest,10'  # row 1 spans lines 2-3
    rows[1] = '"Jones\r\nof\nLeeds",Bob,30001,LS1 1AA,M,,01/05/2024,riot,10'  # row 2 spans lines 4-6, bad type
    rows[2] = rows[2].replace("01/05/2024", "01/05/2099")  # row 3, on line 7
    outcome = ingest_lines(rt, tmp_path, [HEADER, *rows])
    assert (outcome.status, outcome.rows_received, outcome.rows_quarantined) == ("merged", 30, 2), outcome
    q = quarantine(rt)
    assert {(r["source_row"], r["source_line"], r["field"]) for r in q} == {
        (2, 4, "incident_type"), (3, 7, "occurred_on")}
    assert any("in the future" in str(r["problem"]) for r in q if r["source_row"] == 3)


def test_excel_serial_dates(rt: Runtime, tmp_path: Path) -> None:
    rows = good_lines(30)
    rows[5] = rows[5].replace("01/05/2024", "45413")  # an Excel serial where dd/mm/yyyy was agreed
    outcome = ingest_lines(rt, tmp_path, [HEADER, *rows])
    assert (outcome.status, outcome.rows_accepted, outcome.rows_quarantined) == ("merged", 29, 1)
    (q,) = quarantine(rt)
    assert (q["source_row"], q["field"]) == (6, "occurred_on")
    assert "not a real date in the agreed format" in str(q["problem"])
    years = rt.warehouse.query("SELECT DISTINCT birth_year FROM restricted.link_record")["birth_year"]
    assert set(years) == {1982}, "Excel serials 30000-30029 are 1982 birth dates"


def test_event_dates_in_the_future_or_outside_the_protocol(rt: Runtime, tmp_path: Path) -> None:
    rows = good_lines(30)
    rows[0] = rows[0].replace("01/05/2024", "01/01/2099")
    rows[1] = rows[1].replace("01/05/2024", "31/12/2023")  # before the protocol's valid_from
    outcome = ingest_lines(rt, tmp_path, [HEADER, *rows])
    assert (outcome.status, outcome.rows_quarantined) == ("merged", 2)
    problems: dict[object, list[str]] = {}
    for r in quarantine(rt):
        problems.setdefault(r["source_row"], []).append(str(r["problem"])[:20])
    assert problems == {1: ["is in the future (af", "is outside the proto"], 2: ["is outside the proto"]}
    assert rt.warehouse.scalar("SELECT max(event_date) FROM shared.pathway_event").year == 2024


def test_duplicate_column_names(rt: Runtime, tmp_path: Path) -> None:
    refused(ingest_lines(rt, tmp_path, [HEADER + ",surname", *(r + ",x" for r in good_lines(3))]),
            "repeats a column name: 'surname' at positions 1 and 10")


def test_nhs_number_200_characters_long(rt: Runtime, tmp_path: Path) -> None:
    long_nhs = "9434765919" * 20
    rows = good_lines(30)
    rows[3] = rows[3].replace(",F,,", f",F,{long_nhs},")
    rows[4] = rows[4].replace(",F,,", ",F,943 476 5918,")  # wrong check digit
    rows[5] = rows[5].replace(",F,,", ",F,943 476 5919,")  # valid
    outcome = ingest_lines(rt, tmp_path, [HEADER, *rows])
    assert (outcome.status, outcome.rows_quarantined) == ("merged", 2)
    q = quarantine(rt)
    assert [(r["source_row"], r["field"]) for r in q] == [(4, "nhs_number"), (5, "nhs_number")]
    assert "not a valid NHS number" in str(q[0]["problem"])
    assert rt.warehouse.scalar("SELECT count(*) FROM restricted.link_identity WHERE nhs IS NOT NULL") == 1


def test_names_in_non_latin_scripts_are_accepted(rt: Runtime, tmp_path: Path) -> None:
    rows = good_lines(30)
    names = [("Иванов", "Пётр"), ("王", "秀英"), ("محمد", "أحمد"), ("Παπαδόπουλος", "Ελένη")]
    for i, (surname, forename) in enumerate(names):
        rows[i] = f"{surname},{forename}" + rows[i][rows[i].index(",", rows[i].index(",") + 1):]
    outcome = ingest_lines(rt, tmp_path, [HEADER, *rows])
    assert (outcome.status, outcome.rows_accepted, outcome.rows_quarantined) == ("merged", 30, 0), outcome
    events = rt.warehouse.query("SELECT * FROM shared.pathway_event").astype(str).to_csv()
    assert "Иванов" not in events and "王" not in events


def test_truncated_last_line(rt: Runtime, tmp_path: Path) -> None:
    lines = [HEADER, *good_lines(30)]
    data = ("\n".join(lines)).encode()[:-25]  # the transfer stopped part-way through the last row
    refused(ingest_bytes(rt, tmp_path, data), "line 31 (data row 30) has", "transfer may have been cut off")


def test_truncated_inside_quotes(rt: Runtime, tmp_path: Path) -> None:
    lines = [HEADER, *good_lines(30), '"Smith,Ann,30000,LS1 1AA']
    refused(ingest_lines(rt, tmp_path, lines), "a quote opened on line 32 (data row 31) is never closed")


@pytest.mark.parametrize("data", [b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)), b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_binary_file_named_csv(rt: Runtime, tmp_path: Path, data: bytes) -> None:
    refused(ingest_bytes(rt, tmp_path, data), "the file is binary", "not delimited text")


# --- Issue 17: hostile inputs found by the malformed-file corpus ---------------------------------------


@pytest.mark.parametrize("ending", [b"\r", b"\r\n"])
def test_bare_carriage_returns_end_lines_as_line_feeds_do(rt: Runtime, tmp_path: Path, ending: bytes) -> None:
    """Old Mac exports end lines with CR alone; a CR-LF file may hold one stray CR. Both read as lines."""
    lines = [HEADER, *good_lines(30)]
    if ending == b"\r\n":  # the last line break is a CR alone
        lines = [*lines[:-2], lines[-2] + "\r" + lines[-1]]
    data = ending.join(line.encode() for line in lines) + ending
    outcome = ingest_bytes(rt, tmp_path, data, name="mac.csv")
    assert (outcome.status, outcome.rows_received, outcome.rows_accepted) == ("merged", 30, 30), outcome


def test_bare_carriage_return_file_still_names_a_ragged_line(rt: Runtime, tmp_path: Path) -> None:
    lines = [HEADER, *good_lines(3)]
    lines[2] += ",extra"
    data = "\r".join(lines).encode() + b"\r"
    reason = refused(ingest_bytes(rt, tmp_path, data, name="mac.csv"), "line 3 (data row 2) has 10 values")
    assert "Smith" not in reason


def test_carriage_return_inside_quotes_stays_in_the_value(rt: Runtime, tmp_path: Path) -> None:
    rows = good_lines(3)
    rows[0] = '"Smith\rSmythe",Ann,30000,LS1 1AA,F,,01/05/2024,arrest,10'
    outcome = ingest_lines(rt, tmp_path, [HEADER, *rows])
    assert (outcome.status, outcome.rows_received) == ("merged", 3), outcome


def test_a_header_csv_cannot_read_is_refused_not_an_internal_error(rt: Runtime, tmp_path: Path) -> None:
    header = '"' + "x" * 200_000 + '",' + HEADER
    refused(ingest_lines(rt, tmp_path, [header, *good_lines(3)]), "header line cannot be read as CSV")


def test_utf8_file_declared_cp1252_is_refused_as_a_protocol_problem(rt_encoding: object, tmp_path: Path) -> None:
    """Read as cp1252, UTF-8 "Zoë" becomes "ZoÃ«": tokens would differ from every other extract's."""
    lines = [HEADER, *good_lines(30)]
    lines[4] = lines[4].replace("Ann", "Zoë", 1)
    declared = rt_encoding("cp1252")  # type: ignore[operator]
    reason = refused(ingest_bytes(declared, tmp_path, ("\n".join(lines) + "\n").encode("utf-8")),
                     "declares file.encoding cp1252, but the file is UTF-8", "line 5",
                     "protocol's encoding is likely wrong")
    assert "Zo" not in reason
    ascii_only = ingest_lines(declared, tmp_path / "ascii", [HEADER, *good_lines(30)])
    assert ascii_only.status == "merged", ascii_only  # UTF-8 and cp1252 agree on ASCII: nothing to refuse


def test_implausible_dates_of_birth_are_quarantined_with_their_reason(rt: Runtime, tmp_path: Path) -> None:
    """Future, before 1900, after the event: each row quarantined with its own reason; the rest merge."""
    header = "nhs_number,given_name,family_name,dob,postcode,sex,attendance_date,activity,tariff_cost"
    rows = [f"4010232137,Ann,Smith,19{50 + i % 40}-03-0{1 + i % 9},LS6 2AB,F,2024-06-01,ae_attendance,10"
            for i in range(40)]
    rows[2] = rows[2].replace("1952-03-03", "2099-03-03")   # future
    rows[5] = rows[5].replace("1955-03-06", "1850-03-06")   # before 1900
    rows[8] = rows[8].replace("1958-03-09", "2024-07-01")   # after the attendance of 2024-06-01
    path = tmp_path / "in" / "health.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    outcome = pipeline.ingest(rt, path, "health", "attendances")
    assert_conserved(rt)
    assert (outcome.status, outcome.rows_accepted, outcome.rows_quarantined) == ("merged", 37, 3), outcome
    assert [(q["source_row"], q["field"], q["problem"]) for q in quarantine(rt)] == [
        (3, "dob", "is a date of birth in the future"),
        (6, "dob", "is a date of birth before 1900"),
        (9, "dob", "is a date of birth after the row's event date (the person was not yet born)"),
    ]


@pytest.mark.parametrize("nhs", ["0000000000", "9999999999", "000 000 0019", "5000000005"])
def test_nhs_numbers_never_issued_are_quarantined_not_tokenised(rt: Runtime, tmp_path: Path, nhs: str) -> None:
    lines = [HEADER, *good_lines(30)]
    lines[3] = lines[3].replace(",F,,", f",F,{nhs},")
    outcome = ingest_lines(rt, tmp_path, lines)
    assert (outcome.status, outcome.rows_quarantined) == ("merged", 1), outcome
    assert [(q["source_row"], q["field"]) for q in quarantine(rt)] == [(3, "nhs_number")]
    assert "never issued" in str(quarantine(rt)[0]["problem"])
    tokens = rt.warehouse.query("SELECT count(*) AS n FROM restricted.link_identity WHERE nhs IS NOT NULL")
    assert int(tokens.iloc[0]["n"]) == 0


# --- Issue 17.7: messages name the file, the protocol, the agreed format, and guess what was meant -------


def test_missing_required_column_names_file_protocol_and_what_to_do(
        env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "police_may.csv"
    path.write_text("\n".join([HEADER.replace(",occurred_on", ""),
                               *[line.replace(",01/05/2024", "") for line in good_lines(3)]]) + "\n")
    assert main(["ingest", str(path), "--partner", "police", "--dataset", "incidents"]) == 4
    text = capsys.readouterr().err
    for expected in ("police_may.csv", "required column(s) occurred_on of protocol police-incidents v1",
                     "export the column(s) with exactly these names", "required: false"):
        assert expected in text, (expected, text)


@pytest.mark.parametrize(("written", "meant"), [("OccurredOn", "occurred_on"), ("Occurred On", "occurred_on"),
                                                ("incidenttype", "incident_type")])
def test_a_column_named_differently_gets_a_did_you_mean(rt: Runtime, tmp_path: Path, written: str, meant: str) -> None:
    header = HEADER.replace(meant, written)
    refused(ingest_lines(rt, tmp_path, [header, *good_lines(3)]), f"Did you mean: {written} -> {meant}?")


def test_no_did_you_mean_for_a_header_that_is_a_data_row(rt: Runtime, tmp_path: Path) -> None:
    """Without its header line, the first row stands there: its values are never quoted, not even as a guess."""
    reason = refused(ingest_lines(rt, tmp_path, good_lines(30)))
    assert "Did you mean" not in reason and "Smith" not in reason


def test_a_date_format_every_row_breaks_names_the_format_and_blames_the_protocol(
        rt: Runtime, tmp_path: Path) -> None:
    """The partner sends ISO dates, the protocol agreed DD/MM/YYYY: every row fails the same way."""
    rows = [line.replace("01/05/2024", "2024-05-01") for line in good_lines(30)]
    reason = refused(ingest_lines(rt, tmp_path, [HEADER, *rows]),
                     "not a real date in the agreed format DD/MM/YYYY", "30 of 30 rows fail the same check",
                     "the protocol is the likely cause")
    (extract_id,) = rt.warehouse.query("SELECT extract_id FROM ops.extract_ledger")["extract_id"]
    page = write_feedback(rt.warehouse, extract_id, tmp_path / "fb").html.read_text(encoding="utf-8")
    assert "the protocol is the likely cause" in page and "2024-05-01" not in page + reason


def test_a_few_bad_dates_blame_no_protocol(rt: Runtime, tmp_path: Path) -> None:
    rows = good_lines(30)
    rows[3] = rows[3].replace("01/05/2024", "2024-05-01")
    outcome = ingest_lines(rt, tmp_path, [HEADER, *rows])
    assert (outcome.status, outcome.rows_quarantined) == ("merged", 1), outcome
    (problem,) = [q["problem"] for q in quarantine(rt)]
    assert problem == "is missing or is not a real date in the agreed format DD/MM/YYYY"
