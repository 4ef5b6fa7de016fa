"""Issues 16.9, 19.1 and 16.7 on PostgreSQL: each login runs its own commands. An admin login runs
`ptp migrate` (all DDL and grants); the pipeline's login ingests but owns nothing and cannot rewrite
the audit log; an analyst's login exports and reports; no command but `ptp migrate` changes the
schema; and an analyst cannot take a lock that stalls merges."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from helpers import pg_refused

from ptp_pipeline.cli import main
from ptp_pipeline.synthetic import SyntheticResult
from ptp_pipeline.warehouse.roles import ROLES

PTP = str(Path(sys.executable).parent / "ptp")


def as_login(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("PTP_WAREHOUSE", url)


def test_no_command_but_migrate_changes_the_schema(pg_databases: Callable[..., str], env: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = pg_databases(migrated=False)
    as_login(monkeypatch, url)
    assert main(["status"]) == 6
    message = capsys.readouterr().err
    assert "ptp migrate" in message and "admin login" in message
    with psycopg.connect(url) as con:  # status created nothing
        assert con.execute("SELECT count(*) FROM pg_namespace WHERE nspname IN ('ops', 'shared', 'restricted')"
                           ).fetchone() == (0,)
    assert main(["migrate"]) == 0
    assert "migration(s) applied" in capsys.readouterr().out
    assert main(["status"]) == 0


def test_pipeline_login_ingests_but_owns_nothing_and_cannot_rewrite_the_audit_log(
        logins: dict[str, str], env: dict[str, str], synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = logins["ptp_pipeline"]
    as_login(monkeypatch, pipeline)
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    assert main(["ingest", str(extract.path), "--partner", "police", "--dataset", "incidents"]) == 0
    assert main(["pathways"]) == 0
    assert main(["audit", "verify"]) == 0
    assert main(["migrate"]) == 6  # DDL is the admin's
    assert "admin login" in capsys.readouterr().err
    login = pipeline.split("://", 1)[1].split("@", 1)[0]
    with psycopg.connect(pipeline) as con:
        owners = con.execute("SELECT DISTINCT nspowner::regrole::text FROM pg_namespace "
                             "WHERE nspname IN ('ops', 'shared', 'restricted')").fetchall()
        tables = con.execute("SELECT DISTINCT tableowner FROM pg_tables "
                             "WHERE schemaname IN ('ops', 'shared', 'restricted')").fetchall()
    assert login not in {o for (o,) in owners} | {t for (t,) in tables}
    assert not {o for (o,) in owners} & set(ROLES)
    for sql in ("UPDATE ops.audit_log SET detail = 'x'", "DELETE FROM ops.audit_log", "TRUNCATE ops.audit_log",
                "DELETE FROM ops.audit_head", "CREATE TABLE shared.mine (x int)", "DROP TABLE shared.person",
                "ALTER TABLE ops.audit_log DISABLE TRIGGER ALL"):
        assert pg_refused(pipeline, sql), sql
    # Not even the owner may edit the log while its trigger stands.
    assert pg_refused(pipeline.replace(f"{login}@", "postgres@"), "UPDATE ops.audit_log SET detail = 'x'")


def test_analyst_login_exports_and_reports_but_cannot_ingest(
        logins: dict[str, str], env: dict[str, str], synthetic: SyntheticResult, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    as_login(monkeypatch, logins["ptp_pipeline"])
    for extract in synthetic.extracts:
        assert main(["ingest", str(extract.path), "--partner", extract.partner, "--dataset", extract.dataset]) == 0
    assert main(["pathways"]) == 0
    capsys.readouterr()
    as_login(monkeypatch, logins["ptp_analyst"])
    monkeypatch.delenv("PTP_KEY")  # an analyst holds no key
    assert main(["export", str(tmp_path / "export")]) == 0
    assert sorted(p.name for p in (tmp_path / "export").iterdir())
    assert main(["report", "--out", str(tmp_path / "report.html")]) == 0
    assert (tmp_path / "report.html").stat().st_size > 10_000
    extract = synthetic.extracts[0]
    monkeypatch.setenv("PTP_KEY", env["PTP_KEY"])
    code = main(["ingest", str(extract.path), "--partner", extract.partner, "--dataset", extract.dataset])
    assert code == 6, code  # refused in words, not an internal error
    assert "does not allow this command" in capsys.readouterr().err


def test_an_analyst_holding_the_old_advisory_lock_key_does_not_stall_merges(
        logins: dict[str, str], env: dict[str, str], synthetic: SyntheticResult, tmp_path: Path) -> None:
    analyst = logins["ptp_analyst"]
    assert pg_refused(analyst, "SELECT * FROM ops.merge_lock FOR UPDATE")
    assert pg_refused(analyst, "LOCK TABLE ops.merge_lock IN EXCLUSIVE MODE")
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    with psycopg.connect(analyst, autocommit=True) as con:
        for name in ("ptp.merge", "ptp.audit"):
            con.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])
        started = time.monotonic()
        child = subprocess.Popen([PTP, "ingest", str(extract.path), "--partner", "police", "--dataset", "incidents"],
                                 env={**os.environ, "PTP_WAREHOUSE": logins["ptp_pipeline"]},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _, stderr = child.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            pytest.fail(f"the merge waited {time.monotonic() - started:.0f} s on a lock an analyst holds")
    assert child.returncode == 0, stderr.decode()
