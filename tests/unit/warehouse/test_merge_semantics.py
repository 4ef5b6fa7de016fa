"""Merge semantics on both backends (DuckDB and PostgreSQL), through the pipeline and the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved, ledger, protocols_valid_from, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.privacy.nhs_number import check_digit
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]
HEALTH = ["nhs_number", "given_name", "family_name", "dob", "postcode", "sex", "attendance_date", "activity",
          "alcohol_related", "drug_related", "tariff_cost"]
TABLES = ["shared.person", "shared.pathway_event", "restricted.link_record", "restricted.link_identity",
          "restricted.quarantine", "ops.extract_ledger", "ops.audit_log"]


def nhs_numbers(n: int) -> list[str]:
    found: list[str] = []
    stem = 943476590
    while len(found) < n:
        digit = check_digit(str(stem))
        if digit is not None:
            found.append(f"{stem}{digit}")
        stem += 1
    return found


NHS_A, NHS_B = nhs_numbers(2)


def police_rows(dates: list[str], cost: str = "100.00") -> list[list[str]]:
    return [["Smith", "John", "32874", "LS6 2AB", "M", NHS_A, d, "arrest", cost] for d in dates]


def snapshot(rt: Runtime, tables: list[str] = TABLES) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for table in tables:
        frame = rt.warehouse.query(f"SELECT * FROM {table}").astype(str)
        out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for table in a:
        pd.testing.assert_frame_equal(a[table], b[table], obj=table)


def events(rt: Runtime) -> pd.DataFrame:
    return rt.warehouse.query("SELECT * FROM shared.pathway_event ORDER BY event_id")


def test_insert_frame_keeps_types_nulls_and_empty_strings(wh_rt: Runtime) -> None:
    wh = wh_rt.warehouse
    frame = pd.DataFrame({
        "event_id": ["a", "b", "c"], "person_id": pd.array([1, None, 3], dtype="Int64"),
        "agency": ["police", "police", "health"], "dataset": ["x", "x", "y"],
        "event_type": ['quote " and, comma', "", "z"],
        "event_date": [date(2024, 1, 1), date(2024, 2, 29), date(2023, 12, 31)],
        "setting": [None, "", "ward"], "cost": [1.25, None, 99999.99], "attributes": ['{"a": "Y"}', None, None],
        "extract_id": ["e1", "e1", "e2"],
    })
    wh.insert_frame("shared.pathway_event", frame)
    back = wh.query("SELECT * FROM shared.pathway_event ORDER BY event_id")
    assert back["event_type"].tolist() == ['quote " and, comma', "", "z"]
    assert back["setting"].tolist()[1:] == ["", "ward"] and pd.isna(back["setting"].iloc[0])
    assert pd.isna(back["person_id"].iloc[1]) and back["person_id"].iloc[2] == 3
    assert back["cost"].iloc[2] == pytest.approx(99999.99) and pd.isna(back["cost"].iloc[1])
    assert [d.date() for d in pd.to_datetime(back["event_date"])] == frame["event_date"].tolist()


def test_a_failed_transaction_leaves_nothing(wh_rt: Runtime) -> None:
    wh = wh_rt.warehouse
    with pytest.raises(RuntimeError), wh.transaction():
        wh.insert_frame("shared.person", pd.DataFrame({"person_id": [1, 2], "n_events": [3, 4]}))
        wh.execute("INSERT INTO ops.audit_log (seq, logged_at, actor, action, extract_id, detail, prev_hash, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (1, pd.Timestamp("2024-01-01").to_pydatetime(), "t", "t", None, None, "0", "0"))
        raise RuntimeError("crash inside the transaction")
    assert wh.scalar("SELECT count(*) FROM shared.person") == 0
    assert wh.scalar("SELECT count(*) FROM ops.audit_log") == 0


def test_migrations_are_versioned_and_idempotent(wh_env: dict[str, str]) -> None:
    from ptp_pipeline.warehouse import open_warehouse

    first = open_warehouse(wh_env["PTP_WAREHOUSE"])
    try:
        from ptp_pipeline.warehouse.schema import MIGRATIONS

        expected = sorted(v for v, _, _ in MIGRATIONS)
        assert sorted(first.query("SELECT version FROM ops.schema_version")["version"].astype(int)) == expected
        assert {1, 2} <= set(expected)
        assert first.migrate() == 0
        assert {"person", "pathway_event"} <= {t for s, t in first.tables() if s == "shared"}
        assert ("restricted", "optout") in first.tables()
    finally:
        first.close()


def test_same_file_twice_changes_nothing(wh_rt: Runtime, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "police.csv", POLICE, police_rows(["01/05/2024", "02/05/2024"]))
    assert pipeline.ingest(wh_rt, path, "police", "incidents").status == "merged"
    before = snapshot(wh_rt)
    again = pipeline.ingest(wh_rt, path, "police", "incidents")
    assert again.status == "already_merged"
    assert_same(before, snapshot(wh_rt))
    assert_conserved(wh_rt)


def test_resent_period_supersedes_the_earlier_extract(wh_rt: Runtime, tmp_path: Path) -> None:
    may_june = ["01/05/2024", "15/05/2024", "03/06/2024"]
    first = write_csv(tmp_path / "a.csv", POLICE, police_rows(may_june, "100.00"))
    resent = write_csv(tmp_path / "b.csv", POLICE, police_rows(may_june, "150.00"))
    later = write_csv(tmp_path / "c.csv", POLICE, police_rows(["01/01/2025"], "70.00"))
    a = pipeline.ingest(wh_rt, first, "police", "incidents")
    b = pipeline.ingest(wh_rt, resent, "police", "incidents")
    ev = events(wh_rt)
    assert len(ev) == 3 and set(ev["extract_id"]) == {b.extract_id}
    assert ev["cost"].sum() == pytest.approx(450.0)
    assert wh_rt.warehouse.scalar("SELECT total_cost FROM shared.person") == pytest.approx(450.0)
    rows = {r["extract_id"]: r for r in ledger(wh_rt)}
    assert rows[a.extract_id]["status"] == "merged" and rows[a.extract_id]["rows_superseded"] == 3
    assert str(rows[b.extract_id]["period_start"])[:10] == "2024-05-01"
    assert str(rows[b.extract_id]["period_end"])[:10] == "2024-06-03"
    log = wh_rt.warehouse.query("SELECT action, extract_id, detail FROM ops.audit_log WHERE action = 'supersede'")
    assert log["extract_id"].tolist() == [a.extract_id] and b.extract_id in log["detail"].iat[0]
    pipeline.ingest(wh_rt, later, "police", "incidents")
    assert len(events(wh_rt)) == 4  # another period supersedes nothing
    assert_conserved(wh_rt)


def health_rows(nhs: str, dates: list[str], given: str = "Ann") -> list[list[str]]:
    return [[nhs, given, "Lee", "1980-03-02", "LS1 1AA", "F", d, "ae_attendance", "Y", "N", "250.00"] for d in dates]


def test_optout_removes_health_events_and_keeps_them_out(wh_rt: Runtime, tmp_path: Path) -> None:
    health = write_csv(tmp_path / "h1.csv", HEALTH,
                       health_rows(NHS_A, ["2024-01-05", "2024-01-09"]) + health_rows(NHS_B, ["2024-01-07"], "Bea"))
    police = write_csv(tmp_path / "p.csv", POLICE, police_rows(["01/05/2024"]))
    pipeline.ingest(wh_rt, health, "health", "attendances")
    pipeline.ingest(wh_rt, police, "police", "incidents")
    listed = tmp_path / "optout.txt"
    listed.write_text(f"nhs_number\n{NHS_A[:3]} {NHS_A[3:6]} {NHS_A[6:]}\n\n")
    wh_rt.close()
    assert main(["optout", "add", str(listed)]) == 0
    by_agency = events(wh_rt).groupby("agency").size().to_dict()
    assert by_agency == {"health": 1, "police": 1}  # NHS_A's two health events gone, police event kept
    stored = wh_rt.warehouse.query("SELECT * FROM restricted.optout")
    assert len(stored) == 1 and NHS_A not in stored.to_string()
    later = write_csv(tmp_path / "h2.csv", HEALTH, health_rows(NHS_A, ["2024-03-01"]) +
                      health_rows(NHS_B, ["2024-03-02"], "Bea"))
    out = pipeline.ingest(wh_rt, later, "health", "attendances")
    assert out.status == "merged" and out.rows_accepted == 2
    assert events(wh_rt).groupby("agency").size().to_dict() == {"health": 2, "police": 1}
    rows = {r["extract_id"]: r for r in ledger(wh_rt)}
    assert rows[out.extract_id]["rows_opted_out"] == 1
    assert main(["optout", "count"]) == 0
    assert_conserved(wh_rt)


def test_optout_refuses_a_bad_file_without_quoting_it(wh_rt: Runtime, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    listed = tmp_path / "optout.txt"
    bad = NHS_A[:-1] + str((int(NHS_A[-1]) + 1) % 10)
    listed.write_text(f"{NHS_B}\n{bad}\n")
    assert main(["optout", "add", str(listed)]) == 4
    err = capsys.readouterr().err
    assert "line" in err and "2" in err and bad not in err and NHS_B not in err
    assert wh_rt.warehouse.scalar("SELECT count(*) FROM restricted.optout") == 0


def test_audit_verify_detects_edits_and_deletions(wh_rt: Runtime, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for i, day in enumerate(["01/05/2024", "01/06/2024"]):
        pipeline.ingest(wh_rt, write_csv(tmp_path / f"p{i}.csv", POLICE, police_rows([day])), "police", "incidents")
    assert_conserved(wh_rt)
    head = str(wh_rt.warehouse.scalar("SELECT hash FROM ops.audit_log ORDER BY seq DESC LIMIT 1"))
    assert int(wh_rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log")) >= 4
    wh_rt.close()
    assert main(["audit", "verify", "--head", head]) == 0
    assert head in capsys.readouterr().out

    def tamper(sql: str) -> None:
        wh = wh_rt.warehouse
        if wh.dialect == "postgresql":  # the log refuses edits from every login: an attacker owning the table
            wh.execute("ALTER TABLE ops.audit_log DISABLE TRIGGER audit_log_append_only")
        wh.execute(sql)
        wh_rt.close()

    tamper("DELETE FROM ops.audit_log WHERE seq = (SELECT max(seq) FROM ops.audit_log)")
    # A cut tail leaves a valid, shorter chain, which the head recorded by the last verification exposes ...
    assert main(["audit", "verify"]) == 6
    assert "deleted from its end" in capsys.readouterr().err
    assert main(["audit", "verify", "--head", head]) == 6  # ... as does a head kept elsewhere
    assert "deleted from its end" in capsys.readouterr().err
    tamper("UPDATE ops.audit_log SET detail = 'nothing to see' WHERE seq = 3")
    assert main(["audit", "verify"]) == 6
    assert "entry 3 was edited" in capsys.readouterr().err
    tamper("DELETE FROM ops.audit_log WHERE seq = 2")
    assert main(["audit", "verify"]) == 6
    assert "entry 2 is missing" in capsys.readouterr().err


def test_export_writes_one_tier_only(wh_rt: Runtime, tmp_path: Path) -> None:
    pipeline.ingest(wh_rt, write_csv(tmp_path / "p.csv", POLICE, police_rows(["01/05/2024", "02/05/2024"])),
                    "police", "incidents")
    assert_conserved(wh_rt)
    wh_rt.close()
    assert main(["pathways"]) == 0
    target = tmp_path / "export"
    assert main(["export", "--format", "parquet", str(target)]) == 0
    files = sorted(p.name for p in target.iterdir())
    assert "transitions.parquet" in files and "pathways.html" in files and "pathway_event.parquet" not in files
    for f in target.glob("*.parquet"):
        assert not {"person_id", "event_id", "event_date", "cost"} & set(pd.read_parquet(f).columns), f.name
    assert main(["export", "--format", "csv", str(target)]) == 2
    research = tmp_path / "research"
    assert main(["export", str(research), "--tier", "research"]) == 2  # a researcher states a purpose
    assert main(["export", str(research), "--tier", "research", "--purpose", "Pathway evaluation, ref 2025-07"]) == 0
    assert sorted(p.name for p in research.iterdir()) == ["event.parquet", "person.parquet"]
    assert main(["export", str(research), "--tier", "shared"]) == 2


def test_purge_applies_protocol_retention(wh_env: dict[str, str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    protocols = protocols_valid_from(tmp_path / "protocols", "2015-01-01")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(protocols))
    wh_rt = Runtime(load_settings({**wh_env, "PTP_PROTOCOLS_DIR": str(protocols)}))
    old = write_csv(tmp_path / "old.csv", POLICE, police_rows(["01/05/2019", "02/05/2024"]))
    out = pipeline.ingest(wh_rt, old, "police", "incidents")
    folder = wh_rt.settings.work_dir / str(out.extract_id)
    assert (folder / "raw").exists()
    wh_rt.close()
    today = date.today()
    assert main(["purge", "--as-of", today.isoformat()]) == 0
    # the 2019 event is older than the police protocol's 6 years; the raw copy is younger than 30 days
    assert events(wh_rt)["event_date"].dt.year.tolist() == [2024]
    assert (folder / "raw").exists()
    wh_rt.close()
    assert main(["purge", "--as-of", "2040-01-01"]) == 0
    assert events(wh_rt).empty and wh_rt.warehouse.scalar("SELECT count(*) FROM shared.person") == 0
    assert not folder.exists()
    (row,) = ledger(wh_rt)
    assert row["rows_purged"] == 2 and row["status"] == "merged"
    actions = set(wh_rt.warehouse.query("SELECT action FROM ops.audit_log")["action"])
    assert {"purge", "purge_raw"} <= actions
    assert_conserved(wh_rt)
    wh_rt.close()
    assert main(["purge", "--as-of", "31/01/2030"]) == 2


def test_results_stream_in_batches_and_empty_tables_still_export(wh_rt: Runtime, tmp_path: Path) -> None:
    from ptp_pipeline.warehouse.export import export

    wh = wh_rt.warehouse
    n = 250
    wh.execute("CREATE TEMP TABLE _events AS SELECT * FROM research.event WHERE false")
    wh.insert_frame("_events", pd.DataFrame({
        "person_id": range(n), "agency": "police", "dataset": "incidents", "event_type": "arrest",
        "event_period": date(2024, 1, 1), "cost_band": "0-50"}))
    wh.execute("INSERT INTO research.event SELECT * FROM _events")  # no COPY under row-level security
    sizes = [b.num_rows for b in wh.batches("SELECT * FROM research.event", rows=100)]
    assert sum(sizes) == n and max(sizes) <= 100 and len(sizes) >= 3
    written = {table: rows for table, rows, _ in export(wh, tmp_path / "out", tier="research",
                                                        purpose="Streaming test, stated purpose")}
    assert written["research.event"] == n and written["research.person"] == 0
    assert "person_id" in pd.read_parquet(tmp_path / "out" / "person.parquet").columns
    assert not list((tmp_path / "out").glob(".*partial"))
