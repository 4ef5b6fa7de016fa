"""Issue 16.8: everything the pipeline writes is owner-only (umask 077: PTP_HOME 0700, ptp.duckdb 0600), and
raw identifiers (checked.parquet) never outlive the stage that needs them: removed on every exit path of
pseudonymise, and swept at the next receipt when a killed task left them."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_conserved

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.errors import ExtractError
from ptp_pipeline.extract.workarea import RAW_MAGIC
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A login shell's usual umask (022): what a file gets when nothing tightens it."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home.parent)): stat.S_IMODE(p.stat().st_mode)
            for p in [home, *home.rglob("*")] if not p.is_symlink()}


def test_everything_under_ptp_home_is_owner_only(env: dict[str, str], synthetic: SyntheticResult,
                                                loose_umask: None) -> None:
    home = Path(env["PTP_HOME"])
    home.mkdir(parents=True, mode=0o755)
    home.chmod(0o755)  # as an earlier release (or a shell) left it
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    assert main(["ingest", str(extract.path), "--partner", "police", "--dataset", "incidents"]) == 0
    extract_id = f"police.incidents.{hashlib.sha256(extract.path.read_bytes()).hexdigest()[:16]}"
    assert main(["feedback", extract_id]) == 0
    found = modes(home)
    assert found["home"] == 0o700
    assert found["home/ptp.duckdb"] == 0o600
    loose = {p: oct(m) for p, m in found.items() if m & 0o077}
    assert loose == {}, loose


def test_a_duckdb_file_left_world_readable_is_tightened(env: dict[str, str], loose_umask: None) -> None:
    home = Path(env["PTP_HOME"])
    Runtime(load_settings(env)).warehouse.close()  # creates it
    (home / "ptp.duckdb").chmod(0o644)
    Runtime(load_settings(env)).warehouse.close()
    assert stat.S_IMODE((home / "ptp.duckdb").stat().st_mode) == 0o600


def test_a_failing_pseudonymise_leaves_no_raw_file(env: dict[str, str], synthetic: SyntheticResult,
                                                   tmp_path: Path) -> None:
    bad_key = tmp_path / "not-a-key.pem"
    bad_key.write_text("not a public key\n")
    rt = Runtime(load_settings({**env, "PTP_REID_PUBLIC_KEY_FILE": str(bad_key)}))
    extract = next(e for e in synthetic.extracts if e.partner == "police")
    try:
        extract_id, _ = pipeline.receive(rt, extract.path, "police", "incidents")
        pipeline.check(rt, extract_id)
        assert (rt.work(extract_id) / "checked.parquet").exists()
        with pytest.raises(ValueError):
            pipeline.pseudonymise(rt, extract_id)  # sealing for the vault fails part-way
        assert not (rt.work(extract_id) / "checked.parquet").exists()
    finally:
        rt.close()


def test_a_raw_file_left_by_a_killed_task_is_swept_at_the_next_receipt(
        env: dict[str, str], synthetic: SyntheticResult) -> None:
    rt = Runtime(load_settings(env))
    police, health = (next(e for e in synthetic.extracts if e.partner == p) for p in ("police", "health"))
    try:
        killed, _ = pipeline.receive(rt, police.path, "police", "incidents")
        pipeline.check(rt, killed)  # then the worker running pseudonymise was killed (SIGKILL)
        checked = rt.work(killed) / "checked.parquet"
        assert checked.exists()
        pipeline.ingest(rt, health.path, "health", "attendances")
        assert checked.exists(), "a recent file of an extract in progress is left to its stage"
        old = time.time() - 2 * 3600
        os.utime(checked, (old, old))
        pipeline.ingest(rt, health.path, "health", "attendances")
        assert not checked.exists()
        # The killed extract's rerun checks again from its raw copy and merges.
        pipeline.pseudonymise(rt, killed)
        pipeline.validate(rt, killed)
        pipeline.merge(rt, killed)
        assert pipeline.outcome(rt, killed).status == "merged"
        assert_conserved(rt)
    finally:
        rt.close()


def test_the_received_copy_is_encrypted_at_rest(env: dict[str, str], synthetic: SyntheticResult) -> None:
    rt = Runtime(load_settings(env))
    police = next(e for e in synthetic.extracts if e.partner == "police")
    surnames = {line.split(",", 1)[0] for line in police.path.read_text(encoding="utf-8").splitlines()[1:]}
    try:
        extract_id, _ = pipeline.receive(rt, police.path, "police", "incidents")
        raw = (rt.work(extract_id) / "raw").read_bytes()
        assert not [s for s in surnames if len(s) > 4 and s.encode() in raw]
        assert police.path.read_bytes()[:40] not in raw
        pipeline.check(rt, extract_id)  # the check stage reads it back
        assert pipeline.ingest(rt, police.path, "police", "incidents").status == "merged"
        assert_conserved(rt)
    finally:
        rt.close()
    other = Runtime(load_settings({**env, "PTP_KEY": "ab" * 32}))
    try:  # under another key the copy cannot be read: a clear refusal, no traceback, no value
        health = next(e for e in synthetic.extracts if e.partner == "health")
        extract_id, _ = pipeline.receive(other, health.path, "health", "attendances")
        (other.work(extract_id) / "raw").write_bytes((rt.work(extract_id) / "raw").read_bytes()[:-1] + b"x")
        with pytest.raises(Exception, match="cannot be decrypted"):
            pipeline.check(other, extract_id)
        (other.work(extract_id) / "raw").write_bytes(RAW_MAGIC + b"short")  # cut short: not even a whole nonce
        with pytest.raises(ExtractError, match="cannot be decrypted"):
            pipeline.check(other, extract_id)
    finally:
        other.close()
