"""Issue 19.1 and 19.4 as real PostgreSQL logins: the re-identifier's login lists the priority families, writes a
batch for a lead professional and reviews the audit log without any DDL; an analyst's login may list the cohort
(shared tables) but can neither open the vault for a batch nor read the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptp_pipeline.cli import main
from ptp_pipeline.privacy.panel_export import open_batch
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.synthetic import SyntheticResult


def test_panel_as_each_login(
    logins: dict[str, str],
    env: dict[str, str],
    synthetic: SyntheticResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reid_private, reid_public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(reid_private, reid_public)
    lead_private, lead_public = tmp_path / "lead.pem", tmp_path / "lead.pub"
    new_reid_keypair(lead_private, lead_public)
    monkeypatch.setenv("PTP_REID_PUBLIC_KEY_FILE", str(reid_public))
    monkeypatch.setenv("PTP_WAREHOUSE", logins["ptp_pipeline"])
    for extract in synthetic.extracts:
        assert main(["ingest", str(extract.path), "--partner", extract.partner, "--dataset", extract.dataset]) == 0
    assert main(["pathways"]) == 0

    monkeypatch.setenv("PTP_WAREHOUSE", logins["ptp_reidentifier"])
    monkeypatch.setenv("PTP_REID_KEY_FILE", str(reid_private))
    capsys.readouterr()
    assert main(["families", "list", "--json"]) == 0
    household = json.loads(capsys.readouterr().out)[0]["household_id"]
    batch = tmp_path / "batch.bin"
    assert (
        main(
            [
                "families",
                "export",
                "--out",
                str(batch),
                "--lead",
                "A. Lead, Early Help",
                "--recipient-key",
                str(lead_public),
                "--purpose",
                "Priority families panel, April",
                "--household",
                str(household),
            ]
        )
        == 0
    )
    assert len(open_batch(batch, lead_private)) >= 1
    capsys.readouterr()
    assert main(["audit", "list", "--kind", "reidentify", "--json"]) == 0
    actions = [e["action"] for e in json.loads(capsys.readouterr().out)]
    assert actions.count("reidentify_batch") == 1 and actions.count("reidentify") >= 1

    monkeypatch.setenv("PTP_WAREHOUSE", logins["ptp_analyst"])
    monkeypatch.delenv("PTP_REID_KEY_FILE")
    assert main(["families", "list", "--json"]) == 0
    capsys.readouterr()
    assert main(["audit", "list"]) == 6  # refused in words
    assert "does not allow this command" in capsys.readouterr().err
    monkeypatch.setenv("PTP_REID_KEY_FILE", str(reid_private))  # even holding the key
    assert (
        main(
            [
                "families",
                "export",
                "--out",
                str(tmp_path / "b2.bin"),
                "--lead",
                "A. Lead",
                "--recipient-key",
                str(lead_public),
                "--purpose",
                "Priority families panel, April",
                "--household",
                str(household),
            ]
        )
        == 6
    )
    assert not (tmp_path / "b2.bin").exists()

    monkeypatch.setenv("PTP_WAREHOUSE", logins["ptp_pipeline"])
    assert main(["audit", "verify"]) == 0  # every vault opening is named by a signed entry
