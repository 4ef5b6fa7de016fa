"""PostgreSQL only: roles per audience, placeholders, and connection errors a data officer can act on."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from ptp_pipeline.cli import main
from ptp_pipeline.warehouse import open_warehouse
from ptp_pipeline.warehouse.postgres_backend import to_psycopg

HIDDEN = ["ops.extract_ledger", "ops.audit_log", "ops.schema_version", "restricted.link_identity",
          "restricted.linkage_model", "restricted.link_record", "restricted.quarantine", "restricted.optout",
          "shared.person", "shared.pathway_event", "research.person", "research.event"]


@pytest.fixture
def migrated(pg_database: str) -> str:
    wh = open_warehouse(pg_database)
    try:
        wh.execute("INSERT INTO shared.person (person_id, n_events) VALUES (?, ?)", (1, 2))
        wh.execute("INSERT INTO published.headline (measure, value) VALUES (?, ?)", ("persons", 0))
    finally:
        wh.close()
    return pg_database


def as_role(url: str, role: str) -> psycopg.Connection:
    con = psycopg.connect(url, autocommit=True)
    con.execute(f"SET ROLE {role}")
    return con


def refused(con: psycopg.Connection, sql: str) -> bool:
    try:
        con.execute(sql)
    except errors.InsufficientPrivilege:
        return True
    return False


def test_analyst_reads_the_published_tier_only_and_writes_nothing(migrated: str) -> None:
    with as_role(migrated, "ptp_analyst") as con:
        assert con.execute("SELECT count(*) FROM published.headline").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM published.transitions").fetchone() == (0,)
        for table in HIDDEN:
            assert refused(con, f"SELECT * FROM {table}"), table
        for sql in ["INSERT INTO published.headline (measure) VALUES ('x')", "UPDATE published.headline SET value = 0",
                    "DELETE FROM published.headline", "TRUNCATE published.headline",
                    "CREATE TABLE published.mine (x int)", "INSERT INTO ops.audit_log (seq) VALUES (99)"]:
            assert refused(con, sql), sql


def test_pipeline_role_appends_to_audit_log_but_cannot_rewrite_it(migrated: str) -> None:
    with as_role(migrated, "ptp_pipeline") as con:
        con.execute("SELECT count(*) FROM restricted.link_identity")
        con.execute("INSERT INTO ops.audit_log VALUES (1, now(), 'a', 'b', NULL, NULL, 'p', 'h')")
        assert refused(con, "UPDATE ops.audit_log SET detail = 'x'")
        assert refused(con, "DELETE FROM ops.audit_log")


def test_reidentifier_reads_restricted_but_not_ops_and_writes_nothing(migrated: str) -> None:
    with as_role(migrated, "ptp_reidentifier") as con:
        con.execute("SELECT count(*) FROM restricted.link_identity")
        con.execute("SELECT count(*) FROM shared.person")
        assert refused(con, "SELECT * FROM ops.extract_ledger")
        assert refused(con, "DELETE FROM restricted.link_identity")


def test_grants_hold_after_a_restart(migrated: str) -> None:
    open_warehouse(migrated, migrate=True).close()  # migrate again: nothing to apply, grants re-applied
    with as_role(migrated, "ptp_analyst") as con:
        assert con.execute("SELECT count(*) FROM published.headline").fetchone() == (1,)
        assert refused(con, "SELECT * FROM shared.person")
        assert refused(con, "SELECT * FROM restricted.optout")


def test_placeholders_become_psycopg_ones_outside_literals() -> None:
    sql = "SELECT '?', \"a?b\" FROM t WHERE x LIKE 'a%' AND y = ? AND z = ?"
    assert to_psycopg(sql) == "SELECT '?', \"a?b\" FROM t WHERE x LIKE 'a%%' AND y = %s AND z = %s"


def test_unreachable_server_is_a_clear_error_without_the_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PTP_HOME", str(tmp_path))
    monkeypatch.setenv("PTP_WAREHOUSE", "postgresql://ptp:s3cret-pw@127.0.0.1:1/ptp")
    assert main(["status"]) == 6
    err = capsys.readouterr().err
    assert "cannot connect to the PostgreSQL warehouse" in err and "pg_ctlcluster" in err
    assert "s3cret-pw" not in err and "Traceback" not in err
    monkeypatch.setenv("PTP_WAREHOUSE", "mysql://root@127.0.0.1/ptp")
    assert main(["status"]) == 2
    assert "not supported" in capsys.readouterr().err
