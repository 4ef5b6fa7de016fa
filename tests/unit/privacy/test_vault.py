"""Re-identification: sealed per record, opened only with the private key, a purpose, and an audit entry."""

from __future__ import annotations

import getpass
import hashlib
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved

from ptp_pipeline.cli import main
from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.pipeline import ingest
from ptp_pipeline.privacy.reidentify import reidentify
from ptp_pipeline.privacy.vault import ReidentificationRefused, new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult
from ptp_pipeline.warehouse import audit


@pytest.fixture(scope="module")
def reid_home(tmp_path_factory: pytest.TempPathFactory, synthetic: SyntheticResult) -> tuple[Path, dict[str, str]]:
    """The synthetic partnership ingested once with a re-identification key; each test works on a copy."""
    base = tmp_path_factory.mktemp("reid")
    private, public = base / "reid" / "private.pem", base / "reid" / "public.pem"
    new_reid_keypair(private, public)
    values = {"PTP_HOME": str(base / "home"), "PTP_KEY": secrets.token_hex(32), "PTP_REID_PUBLIC_KEY_FILE": str(public)}
    rt = Runtime(load_settings(values))
    try:
        for extract in synthetic.extracts:
            assert ingest(rt, extract.path, extract.partner, extract.dataset).status == "merged"
        assert_conserved(rt)
    finally:
        rt.close()
    return base, values


@pytest.fixture
def reid(reid_home: tuple[Path, dict[str, str]], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, Path, dict[str, str]]]:
    base, built = reid_home
    copy = tmp_path / "reid-copy"
    shutil.copytree(base, copy)
    values = {k: v.replace(str(base), str(copy)) for k, v in built.items()}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    rt = Runtime(load_settings(values))
    yield rt, copy / "reid" / "private.pem", values
    rt.close()


def test_vault_round_trip_returns_the_persons_identifiers(
    reid: tuple[Runtime, Path, dict[str, str]], synthetic: SyntheticResult
) -> None:
    rt, private, _ = reid
    person = int(rt.warehouse.scalar("SELECT person_id FROM shared.person WHERE n_agencies = 3 LIMIT 1"))
    found = reidentify(
        rt.warehouse,
        person,
        purpose="Lead professional assignment panel",
        officer="A. Officer",
        private_key_file=private,
    )
    assert set(found.partner) == {"council", "health", "police"}
    truth = pd.concat(
        [
            pd.read_csv(synthetic.truth_dir / f"{e.partner}_{e.dataset}.csv").assign(partner=e.partner)
            for e in synthetic.extracts
        ]
    )
    rows = found.merge(truth, on=["partner", "source_row"])
    assert rows.person_id.nunique() == 1, "every re-identified record belongs to the same true person"
    assert found["surname"].notna().any()
    entry = rt.warehouse.query("SELECT actor, action, detail FROM ops.audit_log ORDER BY seq DESC LIMIT 1").iloc[0]
    # The actor is who the system knows (the OS account on DuckDB, the login on PostgreSQL), not free text.
    assert (entry.actor, entry.action) == (getpass.getuser(), "reidentify")
    assert f"person {person}" in entry.detail and "Lead professional" in entry.detail
    assert "stated officer: A. Officer" in entry.detail
    assert audit.verify(rt.warehouse) == []
    rt.close()


def test_refused_without_purpose_or_key(reid: tuple[Runtime, Path, dict[str, str]]) -> None:
    rt, private, _ = reid
    before = rt.warehouse.scalar("SELECT count(*) FROM ops.audit_log")
    with pytest.raises(ReidentificationRefused, match="no purpose"):
        reidentify(rt.warehouse, 1, purpose="", officer="A. Officer", private_key_file=private)
    with pytest.raises(KeyMaterialError, match="re-identification private key"):
        reidentify(rt.warehouse, 1, purpose="A proper stated purpose", officer="A", private_key_file=None)
    with pytest.raises(ReidentificationRefused, match="not in the warehouse"):
        reidentify(rt.warehouse, 10**9, purpose="A proper stated purpose", officer="A", private_key_file=private)
    refusals = rt.warehouse.query("SELECT action, detail FROM ops.audit_log WHERE seq > ? ORDER BY seq", (int(before),))
    assert list(refusals.action) == ["reidentify_refused"] * 3, "nothing returned; every refusal audited"
    rt.close()


def test_vault_holds_ciphertext_only_one_key_per_record(reid: tuple[Runtime, Path, dict[str, str]],
                                                         synthetic: SyntheticResult) -> None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from ptp_pipeline.privacy.vault import _OAEP, load_private_key

    rt, private, _ = reid
    sealed = rt.warehouse.query("SELECT extract_id, source_row, wrapped_key, nonce, ciphertext "
                                "FROM restricted.vault_record ORDER BY extract_id, source_row")
    linked = int(rt.warehouse.scalar("SELECT count(*) FROM restricted.link_record"))
    sealed[["wrapped_key", "nonce", "ciphertext"]] = sealed[["wrapped_key", "nonce", "ciphertext"]].map(bytes)
    assert len(sealed) >= linked > 0 and sealed.wrapped_key.is_unique and sealed.nonce.is_unique
    assert int(rt.warehouse.scalar("SELECT count(*) FROM restricted.vault")) == 0  # nothing sealed whole
    surnames = set(pd.read_csv(synthetic.extracts[0].path, dtype=str).surname.dropna())
    joined = b"".join(sealed.ciphertext)
    assert not [s for s in surnames if len(s) > 4 and s.encode() in joined]
    # One record's key opens that record and no other.
    key = load_private_key(private).decrypt(sealed.wrapped_key.iloc[0], _OAEP)
    a, b = sealed.iloc[0], sealed.iloc[1]
    assert AESGCM(key).decrypt(a.nonce, a.ciphertext, f"{a.extract_id}:{a.source_row}".encode())
    with pytest.raises(InvalidTag):
        AESGCM(key).decrypt(b.nonce, b.ciphertext, f"{b.extract_id}:{b.source_row}".encode())
    rt.close()


def test_cli_reidentify(
    reid: tuple[Runtime, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rt, private, values = reid
    rt.close()
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    assert main(["reidentify", "1"]) == 5
    assert "no purpose" in capsys.readouterr().err
    assert main(["reidentify", "1", "--purpose", "Safeguarding referral, case review"]) == 5
    assert "PTP_REID_KEY_FILE" in capsys.readouterr().err
    monkeypatch.setenv("PTP_REID_KEY_FILE", str(private))
    assert main(["reidentify", "1", "--purpose", "Safeguarding referral, case review", "--by", "B. Officer"]) == 0
    assert "recorded in the audit log" in capsys.readouterr().out


def test_shared_tables_hold_no_unkeyed_hash_of_any_identifier(
    reid: tuple[Runtime, Path, dict[str, str]], synthetic: SyntheticResult
) -> None:
    """Plain hashes of identifiers (the brute-forceable kind) appear nowhere, in any zone."""
    rt, _, _ = reid
    from ptp_pipeline.privacy.normalise import normalise_nhs_number

    values: set[str] = set()
    for e in synthetic.extracts:
        frame = pd.read_csv(e.path, dtype=str, keep_default_na=False)
        values |= set(normalise_nhs_number(frame["nhs_number"])["nhs_number"].dropna())
        values |= {v for c in frame.columns for v in frame[c] if v}
    hashes = set()
    for v in values:
        for algo in (hashlib.sha256, hashlib.sha1, hashlib.md5):
            digest = algo(v.encode()).hexdigest()
            hashes |= {digest, digest[:32], digest[:16]}
    found = []
    for schema, table in rt.warehouse.tables():
        frame = rt.warehouse.query(f"SELECT * FROM {schema}.{table}")
        for col in frame.columns:
            if frame[col].dtype == object:
                found += [f"{schema}.{table}.{col}" for v in frame[col].dropna().astype(str) if v in hashes]
    assert not found
    assert rt.warehouse.scalar("SELECT count(*) FROM restricted.link_identity") > 1000
    rt.close()


def test_linkage_report(reid: tuple[Runtime, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    rt, _, values = reid
    from ptp_pipeline.privacy.linkage_report import linkage_report

    keys, agencies = linkage_report(rt.warehouse, rt.project)
    assert keys.key_type.tolist()[0] == "cascade:nhs"
    records = rt.warehouse.scalar("SELECT count(*) FROM restricted.link_record")
    assert (keys.records_with_key <= records).all() and (keys.identities <= keys.records_with_key).all()
    assert agencies.persons.sum() == rt.warehouse.scalar("SELECT count(*) FROM shared.person")
    rt.close()
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    assert main(["linkage"]) == 0
    out = capsys.readouterr().out
    assert "cascade:name_dob" in out and "persons known to 3 agencies" in out
