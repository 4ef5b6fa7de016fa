"""Each stage through its public function in ptp_pipeline.pipeline."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved, ledger, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.errors import ExtractError
from ptp_pipeline.runtime import Runtime, WorkItem
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

POLICE_HEADER = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
                 "incident_type", "estimated_cost"]
GOOD_ROWS = [
    ["Smith", "John", "32874", "LS6 2AB", "M", "", "01/05/2024", "arrest", "500.00"],
    ["SMITH", "Johnny", "32874", "ls62ab", "M", "", "02/05/2024", "custody", "900.00"],
    ["Jones", "Mary", "31000", "LS1 1AA", "F", "943 476 5919", "03/06/2024", "incident", "100"],
]


def police_file(tmp_path: Path, rows: list[list[str]] | None = None, header: list[str] | None = None,
                name: str = "police.csv") -> Path:
    return write_csv(tmp_path / "in" / name, header or POLICE_HEADER, rows if rows is not None else GOOD_ROWS)


def test_receive_fingerprints_file_and_opens_ledger_row(rt: Runtime, tmp_path: Path) -> None:
    path = police_file(tmp_path)
    extract_id, already = pipeline.receive(rt, path, "police", "incidents")
    assert not already
    (row,) = ledger(rt)
    assert row["extract_id"] == extract_id and row["status"] == "received"
    assert row["protocol_id"] == "police-incidents" and row["protocol_version"] == 1
    assert row["key_id"] == rt.key.key_id
    import hashlib

    assert extract_id.endswith(hashlib.sha256(path.read_bytes()).hexdigest()[:16])


def test_receive_refuses_dataset_without_protocol(rt: Runtime, tmp_path: Path) -> None:
    path = police_file(tmp_path)
    with pytest.raises(ExtractError, match="no data-sharing protocol exists for partner 'fire'"):
        pipeline.receive(rt, path, "fire", "callouts")
    (row,) = ledger(rt)
    assert row["status"] == "refused" and "no data-sharing protocol" in str(row["reason"])


@pytest.mark.parametrize("status", ["draft", "suspended", "expired"])
def test_receive_refuses_protocol_not_in_force(env: dict[str, str], tmp_path: Path, status: str) -> None:
    protocols = tmp_path / "protocols"
    shutil.copytree(Path(__file__).resolve().parents[2] / "protocols", protocols)
    police = protocols / "police_incidents.yaml"
    police.write_text(police.read_text().replace("status: approved", f"status: {status}"))
    rt = Runtime(load_settings({**env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    try:
        with pytest.raises(ExtractError, match=f"police-incidents v1 is {status}"):
            pipeline.receive(rt, police_file(tmp_path), "police", "incidents")
        assert ledger(rt)[0]["status"] == "refused"
    finally:
        rt.close()


def test_check_refuses_column_the_protocol_does_not_allow(rt: Runtime, tmp_path: Path) -> None:
    rows = [[*r, "White British"] for r in GOOD_ROWS]
    path = police_file(tmp_path, rows, [*POLICE_HEADER, "ethnicity"], name="police_with_ethnicity.csv")
    outcome = pipeline.ingest(rt, path, "police", "incidents")
    assert outcome.status == "refused"
    assert outcome.reason is not None
    assert "ethnicity" in outcome.reason and "police-incidents" in outcome.reason
    with pytest.raises(ExtractError) as info:
        pipeline.check(rt, str(outcome.extract_id))
    assert "police_with_ethnicity.csv" in str(info.value) and "ethnicity" in str(info.value)
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 0
    assert rt.warehouse.scalar("SELECT count(*) FROM restricted.link_record") == 0
    row = ledger(rt)[0]
    assert row["status"] == "refused" and "ethnicity" in str(row["reason"])
    assert_conserved(rt)


def test_check_refuses_missing_required_column(rt: Runtime, tmp_path: Path) -> None:
    header = [h for h in POLICE_HEADER if h != "occurred_on"]
    rows = [r[:6] + r[7:] for r in GOOD_ROWS]
    outcome = pipeline.ingest(rt, police_file(tmp_path, rows, header), "police", "incidents")
    assert outcome.status == "refused" and "occurred_on" in str(outcome.reason)


def test_check_parses_fields_and_marks_bad_values(rt: Runtime, tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, ["Brown", "Bob", "31/02/1985", "LS1 1AA", "M", "", "not a date", "arrest", "12x"]]
    extract_id, _ = pipeline.receive(rt, police_file(tmp_path, rows), "police", "incidents")
    pipeline.check(rt, extract_id)
    checked = pd.read_parquet(rt.work(extract_id) / "checked.parquet")
    assert checked["status__birth_date"].tolist() == ["valid", "valid", "valid", "invalid"]
    assert checked["status__occurred_on"].tolist()[-1] == "invalid"
    assert checked["status__estimated_cost"].tolist()[-1] == "invalid"
    assert checked["birth_date"].iloc[0] == pd.Timestamp("1990-01-01")
    assert WorkItem.load(rt.work(extract_id)).rows_received == 4


def test_pseudonymise_leaves_no_direct_identifier(rt: Runtime, tmp_path: Path) -> None:
    extract_id, _ = pipeline.receive(rt, police_file(tmp_path), "police", "incidents")
    pipeline.check(rt, extract_id)
    pipeline.pseudonymise(rt, extract_id)
    folder = rt.work(extract_id)
    assert not (folder / "checked.parquet").exists(), "raw identifiers must not outlive the stage"
    frame = pd.read_parquet(folder / "pseudonymised.parquet")
    identities = pd.read_parquet(folder / "identities.parquet")
    text = (frame.astype(str).to_csv(index=False) + identities.astype(str).to_csv(index=False)).upper()
    for raw in ("SMITH", "JOHN", "JONES", "MARY", "LS6 2AB", "LS62AB", "9434765919", "943 476 5919", "32874",
                "1990-01-01"):
        # As a whole word: a 32-hex-digit token may hold "32874" by chance (about one run in ten did).
        assert not re.search(rf"(?<![0-9A-Z]){re.escape(raw)}(?![0-9A-Z])", text), raw
    # Field tokens are kept once per identity; each row names its identity.
    assert frame["key__t_ident"].notna().all()
    assert frame["key__t_ident"].nunique() == len(identities)
    by_ident = identities.set_index("ident").reindex(frame["key__t_ident"])
    # Same person, different spelling: every field token agrees after normalisation.
    for col in ("fn", "sn", "dob", "pc"):
        assert by_ident[col].iloc[0] == by_ident[col].iloc[1], col
    assert by_ident["nhs"].notna().tolist() == [False, False, True]
    assert frame["district"].tolist() == ["LS6", "LS6", "LS1"]


def test_validate_quarantines_failing_rows_with_reasons(rt: Runtime, tmp_path: Path) -> None:
    good = [[f"Name{i}", "Ann", "30000", "LS1 1AA", "F", "", "01/05/2024", "arrest", "10"] for i in range(30)]
    bad = [["Brown", "Bob", "31/02/1985", "LS1 1AA", "M", "", "01/05/2024", "riot", "-5"]]
    outcome = pipeline.ingest(rt, police_file(tmp_path, good + bad + [good[0]]), "police", "incidents")
    assert outcome.status == "merged"
    assert (outcome.rows_received, outcome.rows_accepted, outcome.rows_quarantined) == (32, 30, 2)
    q = rt.warehouse.query("SELECT source_row, field, problem FROM restricted.quarantine ORDER BY 1, 2")
    assert set(q[q.source_row == 31].field) == {"birth_date", "estimated_cost", "incident_type"}
    assert q[q.source_row == 32].problem.tolist() == ["repeats an earlier row exactly"]
    merged = rt.warehouse.query("SELECT source_row FROM restricted.link_record")
    assert sorted(merged.source_row) == list(range(1, 31)), "the quarantined rows stay out of the warehouse"
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 30
    assert_conserved(rt)


def test_validation_leaves_no_frame_of_the_extract_behind(rt: Runtime, tmp_path: Path) -> None:
    """GX's process-wide context kept the last batch of each dataset and every metric (row masks) of
    every extract it validated: in an Airflow worker or a `ptp ingest` of many files they add up."""
    import gc

    rows = [[f"Name{i}", "Ann", "30000", "LS1 1AA", "F", "", "01/05/2024", "arrest", "10"] for i in range(1237)]
    assert pipeline.ingest(rt, police_file(tmp_path, rows), "police", "incidents").status == "merged"
    gc.collect()
    # type(), not isinstance(): some objects in a test process (Airflow's lazy proxies) import modules when
    # asked for their class.
    left = [type(o).__name__ for o in gc.get_objects()
            if issubclass(type(o), (pd.DataFrame, pd.Series, pd.Index)) and len(o) == len(rows)]
    assert left == [], f"{len(left)} pandas objects of the extract's {len(rows)} rows outlive the ingest"


def test_validate_refuses_extract_above_threshold(rt: Runtime, tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, ["Brown", "Bob", "31/02/1985", "LS1 1AA", "M", "", "01/05/2024", "riot", "5"]]
    outcome = pipeline.ingest(rt, police_file(tmp_path, rows), "police", "incidents")
    assert outcome.status == "refused" and "above its threshold of 10%" in str(outcome.reason)
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event") == 0
    assert_conserved(rt)


def test_merge_links_persons_and_same_file_twice_changes_nothing(rt: Runtime, tmp_path: Path) -> None:
    path = police_file(tmp_path)
    first = pipeline.ingest(rt, path, "police", "incidents")
    assert first.status == "merged"
    snapshot = {t: rt.warehouse.query(f"SELECT * FROM {t[0]}.{t[1]}") for t in rt.warehouse.tables()}
    again = pipeline.ingest(rt, path, "police", "incidents")
    assert again.status == "already_merged" and again.extract_id == first.extract_id
    for table, before in snapshot.items():
        after = rt.warehouse.query(f"SELECT * FROM {table[0]}.{table[1]}")
        pd.testing.assert_frame_equal(before, after, obj=".".join(table))
    persons = rt.warehouse.query("SELECT * FROM shared.person ORDER BY person_id")
    assert len(persons) == 2, "John/Johnny Smith with the same DOB and postcode are one person"
    assert sorted(persons.n_events.tolist()) == [1, 2]
    assert_conserved(rt)


def test_every_synthetic_extract_conserves_rows(rt: Runtime, synthetic: SyntheticResult) -> None:
    for extract in synthetic.extracts:
        outcome = pipeline.ingest(rt, extract.path, extract.partner, extract.dataset)
        assert outcome.status == "merged", outcome
        assert outcome.rows_received == extract.rows
    assert_conserved(rt)
    events = rt.warehouse.scalar("SELECT count(*) FROM shared.pathway_event")
    accepted = sum(int(r["rows_accepted"]) for r in ledger(rt))  # type: ignore[call-overload]
    assert events == accepted
