"""Issue 16.6 on PostgreSQL: a re-identifier's login cannot read the vault directly; it opens only through
a committed `restricted.request_vault` then `restricted.open_vault_records`, which hands out only the
requested records (sealed one by one) and records each opening as the login; an opening whose transaction
rolls back stays recorded; `ptp reidentify` names the login (not free text) in a signed audit entry;
refusals are audited; an opening outside that route fails `ptp audit verify`."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from ptp_pipeline.cli import main
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.synthetic import SyntheticResult


def login_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0]


@pytest.fixture
def sealed_police(logins: dict[str, str], env: dict[str, str], synthetic: SyntheticResult, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Path:
    """The police extract ingested by the pipeline's login and sealed; returns the re-identifier's private key."""
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    monkeypatch.setenv("PTP_REID_PUBLIC_KEY_FILE", str(public))
    monkeypatch.setenv("PTP_WAREHOUSE", logins["ptp_pipeline"])
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    assert main(["ingest", str(extract.path), "--partner", "police", "--dataset", "incidents"]) == 0
    return private


def test_the_vault_opens_only_through_the_audited_route(
        logins: dict[str, str], sealed_police: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    private = sealed_police
    reidentifier = logins["ptp_reidentifier"]
    with psycopg.connect(reidentifier, autocommit=True) as con:
        with pytest.raises(errors.InsufficientPrivilege):
            con.execute("SELECT ciphertext FROM restricted.vault")
        person = con.execute("SELECT person_id FROM shared.person LIMIT 1").fetchone()[0]  # type: ignore[index]

    monkeypatch.setenv("PTP_WAREHOUSE", reidentifier)
    monkeypatch.setenv("PTP_REID_KEY_FILE", str(private))
    assert main(["reidentify", str(person), "--purpose", "short"]) == 5  # refused: and audited
    assert main(["reidentify", str(person), "--purpose", "Safeguarding referral, case review",
                 "--by", "Somebody Else"]) == 0
    capsys.readouterr()
    with psycopg.connect(logins["ptp_pipeline"]) as con:
        entries = con.execute("SELECT actor, action, detail FROM ops.audit_log WHERE action LIKE 'reidentify%%' "
                              "ORDER BY seq").fetchall()
    assert [(a, act) for a, act, _ in entries] == [(login_of(reidentifier), "reidentify_refused"),
                                                   (login_of(reidentifier), "reidentify")]
    assert "stated officer: Somebody Else" in entries[1][2] and "vault access" in entries[1][2]

    monkeypatch.setenv("PTP_WAREHOUSE", logins["ptp_pipeline"])
    assert main(["audit", "verify"]) == 0
    # Straight from psql, with the private key at hand: the opening is recorded, and no signed entry names it.
    with psycopg.connect(reidentifier, autocommit=True) as con:
        extract_id, row = con.execute("SELECT extract_id, source_row FROM restricted.link_record LIMIT 1").fetchone()  # type: ignore[misc]
        access = con.execute("SELECT restricted.request_vault(%s, %s, %s)",
                             [extract_id, [row], "looking around quietly"]).fetchone()[0]  # type: ignore[index]
        assert con.execute("SELECT count(*) FROM restricted.open_vault_records(%s)", [access]).fetchone() == (1,)
    assert main(["audit", "verify"]) == 6
    assert "opened 1 time(s) outside `ptp reidentify`" in capsys.readouterr().err


def test_an_opening_rolled_back_stays_recorded_and_hands_out_only_the_requested_records(
        logins: dict[str, str], sealed_police: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reidentifier, pipeline = logins["ptp_reidentifier"], logins["ptp_pipeline"]
    purpose = "Safeguarding referral, case review"
    with psycopg.connect(reidentifier, autocommit=True) as con:
        person, extract_id = con.execute("SELECT person_id, extract_id FROM restricted.link_record GROUP BY 1, 2 "
                                         "HAVING count(*) >= 2 LIMIT 1").fetchone()  # type: ignore[misc]
        rows = [r for (r,) in con.execute("SELECT source_row FROM restricted.link_record WHERE person_id = %s "
                                          "AND extract_id = %s", [person, extract_id])]
        with pytest.raises(errors.InsufficientPrivilege):  # the old route recorded inside the caller's transaction
            con.execute("SELECT * FROM restricted.open_vault(%s, %s)", [extract_id, purpose])
    # A request and its opening in one transaction: refused, since a rollback would erase the request.
    with psycopg.connect(reidentifier) as con:
        access = con.execute("SELECT restricted.request_vault(%s, %s, %s)", [extract_id, rows, purpose]).fetchone()[0]  # type: ignore[index]
        with pytest.raises(errors.InsufficientPrivilege, match="not committed"):
            con.execute("SELECT * FROM restricted.open_vault_records(%s)", [access])
        con.rollback()
    # A committed request, opened in a transaction that then rolls back: the records came out, the record stays.
    with psycopg.connect(reidentifier, autocommit=True) as con:
        access = con.execute("SELECT restricted.request_vault(%s, %s, %s)", [extract_id, rows, purpose]).fetchone()[0]  # type: ignore[index]
    with psycopg.connect(reidentifier) as con:
        opened = con.execute("SELECT source_row FROM restricted.open_vault_records(%s)", [access]).fetchall()
        con.rollback()
    assert sorted(r for (r,) in opened) == sorted(rows)  # the person's records only, not the whole extract
    with psycopg.connect(pipeline) as con:
        total = con.execute("SELECT count(*) FROM restricted.vault_record WHERE extract_id = %s",
                            [extract_id]).fetchone()[0]  # type: ignore[index]
        recorded = con.execute("SELECT login, source_rows FROM ops.vault_access WHERE access_id = %s",
                               [access]).fetchall()
    assert total > len(rows)
    assert recorded == [(login_of(reidentifier), rows)]
    assert main(["audit", "verify"]) == 6
    assert "outside `ptp reidentify`" in capsys.readouterr().err
