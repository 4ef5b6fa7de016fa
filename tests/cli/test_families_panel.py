"""The priority-families panel end to end (issue 19.4), on DuckDB and PostgreSQL: the cohort list (no
identifier), a batch for a named lead professional sealed to their key and never printed, decrypted with
their private key, and `ptp audit list` showing every person opened."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from helpers import assert_conserved

from ptp_pipeline.cli import main
from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.pathways import rebuild
from ptp_pipeline.pipeline import ingest
from ptp_pipeline.privacy.panel_export import open_batch
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

PURPOSE = "Priority families panel, March review: lead professional assignment"


def names(synthetic: SyntheticResult) -> set[str]:
    persons = synthetic.persons
    return set(persons["surname"].dropna()) | set(persons["nhs_number"].dropna().astype(str))


@pytest.fixture
def panel_env(
    wh_env: dict[str, str], synthetic: SyntheticResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The synthetic partnership ingested with a sealed vault, pathways rebuilt."""
    private, public = tmp_path / "keys" / "reid.pem", tmp_path / "keys" / "reid_public.pem"
    new_reid_keypair(private, public)
    values = {**wh_env, "PTP_REID_PUBLIC_KEY_FILE": str(public), "PTP_REID_KEY_FILE": str(private)}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    rt = Runtime(load_settings(values))
    try:
        for extract in synthetic.extracts:
            assert ingest(rt, extract.path, extract.partner, extract.dataset).status == "merged"
        assert_conserved(rt)
        rebuild(rt)
    finally:
        rt.close()
    return values


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_panel_list_batch_decrypt_and_audit(
    panel_env: dict[str, str], synthetic: SyntheticResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort = cli_json(capsys, "families", "list", "--json")
    assert len(cohort) >= 10
    assert set(cohort[0]) == {"household_id", "cost_rank", "size_band", "area", "agencies", "n_agencies", "cost_band"}
    assert main(["families", "list"]) == 0
    listed = capsys.readouterr().out
    assert not [n for n in names(synthetic) if len(n) >= 5 and n in listed], "the list holds no identifier"

    lead_private, lead_public = tmp_path / "lead" / "lead.pem", tmp_path / "lead" / "lead.pub"
    assert main(["families", "keypair", str(lead_private), str(lead_public)]) == 0
    chosen = [int(str(h["household_id"])) for h in cohort[:3]]
    batch = tmp_path / "out" / "march.batch"
    args = [
        "families",
        "export",
        "--out",
        str(batch),
        "--lead",
        "A. Lead, Early Help Hub",
        "--recipient-key",
        str(lead_public),
        "--purpose",
        PURPOSE,
    ]
    capsys.readouterr()
    assert main([*args, *(x for h in chosen for x in ("--household", str(h)))]) == 0
    printed = capsys.readouterr().out
    assert "Wrote batch" in printed and not [n for n in names(synthetic) if len(n) >= 5 and n in printed]
    raw = batch.read_bytes()
    assert not [n for n in names(synthetic) if len(n) >= 5 and n.encode() in raw], "the file is encrypted"

    # The lead professional opens it with their private key; the re-identifier's own key does not open it.
    records = open_batch(batch, lead_private)
    rt = Runtime(load_settings(panel_env))
    try:
        marks = ", ".join("?" * len(chosen))
        members = set(
            rt.warehouse.query(
                f"SELECT person_id FROM shared.household_member WHERE household_id IN ({marks})", tuple(chosen)
            )["person_id"].astype(int)
        )
    finally:
        rt.close()
    assert set(records["household_id"].astype(int)) == set(chosen)
    assert set(records["person_id"].astype(int)) == members and len(members) >= 3
    surname_column = next(c for c in records.columns if "surname" in c)
    real = {n.lower() for n in synthetic.persons["surname"]}
    got = [n.lower() for n in records[surname_column].dropna()]  # as partners sent them: cases and typos vary
    assert got and sum(n in real for n in got) >= 0.6 * len(got)
    with pytest.raises(KeyMaterialError):
        open_batch(batch, Path(panel_env["PTP_REID_KEY_FILE"]))
    opened = tmp_path / "lead" / "march.csv"
    assert main(["families", "open", str(batch), "--key", str(lead_private), "--out", str(opened)]) == 0
    assert opened.stat().st_mode & 0o077 == 0 and len(opened.read_text().splitlines()) == len(records) + 1

    # Every person opened is in the audit log, and the batch with its file's hash.
    entries = cli_json(capsys, "audit", "list", "--kind", "reidentify", "--json")
    persons = {
        int(str(e["detail"]).split(";")[0].removeprefix("person ")) for e in entries if e["action"] == "reidentify"
    }
    assert persons == members
    batch_entries = [e for e in entries if e["action"] == "reidentify_batch"]
    assert len(batch_entries) == 1
    assert f"file sha256 {hashlib.sha256(raw).hexdigest()}" in str(batch_entries[0]["detail"])
    assert "lead professional: A. Lead, Early Help Hub" in str(batch_entries[0]["detail"])
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert cli_json(capsys, "audit", "list", "--kind", "reidentify", "--since", tomorrow, "--json") == []
    assert main(["audit", "verify"]) == 0


def test_a_batch_without_a_purpose_is_refused_and_audited(
    panel_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lead_private, lead_public = tmp_path / "lead.pem", tmp_path / "lead.pub"
    new_reid_keypair(lead_private, lead_public)
    batch = tmp_path / "b.batch"
    assert (
        main(
            [
                "families",
                "export",
                "--out",
                str(batch),
                "--lead",
                "A. Lead",
                "--recipient-key",
                str(lead_public),
                "--purpose",
                "x",
            ]
        )
        == 5
    )
    assert "purpose" in capsys.readouterr().err and not batch.exists()
    assert not list(tmp_path.glob(".b.batch*")), "no partial file is left behind"
    entries = cli_json(capsys, "audit", "list", "--kind", "reidentify", "--json")
    assert [e["action"] for e in entries] == ["reidentify_refused"]
