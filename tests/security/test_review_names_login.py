"""A clerical-review decision names the database login that made it (as re-identification does), never
free text: `--by` is only a stated name recorded beside the login in the audit entry."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from helpers import write_csv

from ptp_pipeline.cli import main
from ptp_pipeline.synthetic.extracts import SPECS

POLICE = list(SPECS["police"].columns)


def rows(people: list[tuple[str, str, str, str]], day: str) -> list[list[str]]:
    return [[s, f, dob, pc, "", "", "M", "", day, "incident", "100"] for s, f, dob, pc in people]


def test_a_review_decision_is_recorded_under_the_login(
    logins: dict[str, str], env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline_url = logins["ptp_pipeline"]
    login = pipeline_url.split("://", 1)[1].split("@", 1)[0]
    monkeypatch.setenv("PTP_WAREHOUSE", pipeline_url)
    first = [("Kelly", "Roger", "35233", "LS24 5QW"), ("Okafor", "Ngozi", "30111", "LS7 2GN")]
    # Same forename and date of birth, an unrelated surname and no postcode: between the thresholds.
    doubtful = [("Zimmerman", "Roger", "35233", "")]
    for name, people, day in (("a", first, "01/06/2024"), ("b", doubtful, "01/07/2024")):
        path = write_csv(tmp_path / f"{name}.csv", POLICE, rows(people, day))
        assert main(["ingest", str(path), "--partner", "police", "--dataset", "incidents"]) == 0
    assert main(["linkage", "review", "decide", "1", "reject", "--by", "Somebody Else"]) == 0
    with psycopg.connect(pipeline_url) as con:
        decided = con.execute("SELECT decided_by FROM restricted.link_review WHERE review_id = 1").fetchone()
        entry = con.execute("SELECT actor, detail FROM ops.audit_log WHERE action = 'link_review'").fetchall()
    assert decided == (login,)
    assert len(entry) == 1 and entry[0][0] == login
    assert "stated reviewer: Somebody Else" in entry[0][1]
