"""Pull over SFTP from a real OpenSSH sshd on loopback: exactly once, atomic, resumable."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_conserved, ledger
from pull_servers import Sshd, write_protocol_with_source

from ptp_pipeline.cli import main
from ptp_pipeline.pull import pull
from ptp_pipeline.pull.errors import TransferChanged
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult


@pytest.fixture
def outbox(tmp_path: Path, synthetic: SyntheticResult) -> Path:
    """The council's SFTP outbox, holding one synthetic extract."""
    folder = tmp_path / "sftp" / "outbox"
    folder.mkdir(parents=True)
    council = next(e for e in synthetic.extracts if e.partner == "council")
    shutil.copy(council.path, folder / council.path.name)
    (folder / "readme.txt").write_text("not an extract: the pattern skips it\n")
    return folder


def use_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sshd: Sshd, outbox: Path, after: str = "leave",
               conn: str | None = None) -> Runtime:
    source = f"""
source:
  kind: sftp
  conn_id: council_sftp
  folder: {outbox}
  pattern: "council_contacts_*.csv"
  after: {after}
""" + (f"  move_to: {outbox.parent / 'done'}\n" if after == "move" else "")
    monkeypatch.setenv("PTP_PROTOCOLS_DIR", str(write_protocol_with_source(tmp_path / "protocols",
                                                                             "council_contacts.yaml", source)))
    monkeypatch.setenv("AIRFLOW_CONN_COUNCIL_SFTP", conn or sshd.conn_json())
    return Runtime(load_settings())


@pytest.fixture
def runtime_for() -> Iterator[list[Runtime]]:
    opened: list[Runtime] = []
    yield opened
    for rt in opened:
        rt.close()


def landing_files(rt: Runtime) -> list[str]:
    folder = rt.settings.landing_dir / "council" / "contacts"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_pull_lands_and_ingests_once_then_pulls_nothing_new(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd, outbox: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    rt = use_source(monkeypatch, tmp_path, sshd, outbox)
    assert main(["pull", "council", "contacts", "--dry-run"]) == 0
    assert "council_contacts_" in capsys.readouterr().out
    assert landing_files(rt) == []

    assert main(["pull", "council", "contacts"]) == 0
    assert "Pulled 1 new extract(s) from sftp connection 'council_sftp'" in capsys.readouterr().out
    try:
        (row,) = ledger(rt)
        assert row["status"] == "merged"
        assert row["source"] == f"sftp:council_sftp:{outbox}/{row['file_name']}"
        assert_conserved(rt)
        assert landing_files(rt) == [str(row["file_name"])]
    finally:
        rt.close()

    assert main(["pull", "council", "contacts"]) == 0
    assert "Pulled 0 new extract(s)" in capsys.readouterr().out
    try:
        assert len(ledger(rt)) == 1
        assert rt.warehouse.scalar("SELECT count(*) FROM ops.pull_record") == 1
        assert len(landing_files(rt)) == 1
        assert sorted(p.name for p in outbox.iterdir()) == [row["file_name"], "readme.txt"]  # after: leave
    finally:
        rt.close()


def test_move_after_pull(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd,
                         outbox: Path) -> None:
    rt = use_source(monkeypatch, tmp_path, sshd, outbox, after="move")
    name = next(p.name for p in outbox.glob("council_*"))
    assert main(["pull", "council", "contacts"]) == 0
    assert [p.name for p in outbox.iterdir()] == ["readme.txt"]
    assert [p.name for p in (outbox.parent / "done").iterdir()] == [name]
    assert main(["pull", "council", "contacts"]) == 0
    try:
        (row,) = ledger(rt)
        assert row["status"] == "merged"
        assert_conserved(rt)
    finally:
        rt.close()


def test_interrupted_transfer_leaves_landing_clean_and_completes_next_run(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd, outbox: Path) -> None:
    rt = use_source(monkeypatch, tmp_path, sshd, outbox)
    def interrupt(remote: str, received: int) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C, or the worker stopped, mid-transfer

    try:
        with pytest.raises(KeyboardInterrupt):
            pull(rt, "council", "contacts", on_progress=interrupt)
        assert landing_files(rt) == []
        assert ledger(rt) == []
        assert rt.warehouse.scalar("SELECT count(*) FROM ops.pull_record") == 0
        pulling = rt.settings.home / "pulling" / "council" / "contacts"
        assert list(pulling.iterdir()) == []  # the interrupted fetch removed its temporary file
        # A pull killed outright (SIGKILL, power cut) cannot clean up: it leaves its temporary file behind.
        stale = pulling / "0123.part"
        stale.write_bytes(b"client_ref,nhs")

        result = pull(rt, "council", "contacts")
        assert len(result.landed) == 1
        assert list(stale.parent.iterdir()) == []  # swept
        (row,) = ledger(rt)
        assert row["status"] == "merged"
        assert_conserved(rt)
    finally:
        rt.close()


def test_remote_file_changing_during_transfer_lands_nothing(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd, outbox: Path) -> None:
    rt = use_source(monkeypatch, tmp_path, sshd, outbox)
    remote = next(outbox.glob("council_*"))

    appended: list[int] = []

    def partner_still_writing(path: str, received: int) -> None:
        if appended:  # once: the partner's last write
            return
        appended.append(received)
        with remote.open("a") as fh:
            fh.write("C0000001,,Late,Row,01/01/1990,LS1 1AA,M,01/01/2025,asb_report,1.00\n")

    try:
        with pytest.raises(TransferChanged, match="changed during the transfer; nothing was landed"):
            pull(rt, "council", "contacts", on_progress=partner_still_writing)
        assert landing_files(rt) == []
        assert ledger(rt) == []
        remote.unlink()
        vanishing = outbox / "council_contacts_20250401_20250430.csv"
        vanishing.write_text("client_ref\nC1234567\n")
        with pytest.raises(TransferChanged, match="vanished from the SFTP server of connection 'council_sftp'"):
            pull(rt, "council", "contacts", on_progress=lambda remote, n: vanishing.unlink())
        assert landing_files(rt) == []
        assert ledger(rt) == []
    finally:
        rt.close()


def test_refused_login_names_the_connection_and_is_not_retried(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd, outbox: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    wrong = tmp_path / "wrong_key"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    conn = sshd.conn_json().replace(str(sshd.user_key), str(wrong))
    rt = use_source(monkeypatch, tmp_path, sshd, outbox, conn=conn)
    rt.close()
    assert main(["pull", "council", "contacts"]) == 7
    stderr = capsys.readouterr().err
    assert "Login refused" in stderr and "connection 'council_sftp'" in stderr
    assert "Traceback" not in stderr and str(wrong) not in stderr
    assert landing_files(rt) == []


def test_same_extract_republished_under_a_new_name_is_merged_once(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sshd: Sshd, outbox: Path) -> None:
    rt = use_source(monkeypatch, tmp_path, sshd, outbox)
    original = next(outbox.glob("council_*"))
    shutil.copy(original, outbox / "council_contacts_resent.csv")
    try:
        result = pull(rt, "council", "contacts")
        assert len(result.landed) == 2
        assert sorted(o.status for o in result.outcomes) == ["already_merged", "merged"]  # type: ignore[attr-defined]
        assert len(ledger(rt)) == 1
        statuses = rt.warehouse.query("SELECT status FROM ops.pull_record")["status"].tolist()
        assert statuses == ["recorded", "recorded"]
        assert pull(rt, "council", "contacts").landed == []
        assert_conserved(rt)
    finally:
        rt.close()
