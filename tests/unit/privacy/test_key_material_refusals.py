"""Key material the pipeline is given and refuses, each with a message a data officer can act on: no project
key, a key file that is missing, re-identification keys that are not RSA or that others can read, records
sealed for another re-identification key. And the vault's two older shapes: nothing sealed, one blob."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.extract.read import SOURCE_ROW
from ptp_pipeline.privacy.keys import load_key, new_key_file
from ptp_pipeline.privacy.vault import (
    load_private_key,
    load_public_key,
    new_reid_keypair,
    seal,
    seal_records,
    sealed_identifiers,
    unseal_records,
)
from ptp_pipeline.warehouse.connect import open_warehouse

IDENTIFIERS = pd.DataFrame({SOURCE_ROW: [1, 2], "surname": ["Kelly", None], "forenames": ["Roger", "Ngozi"]})


def test_a_project_key_is_required(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="no project key is configured"):
        load_key("p")
    missing = tmp_path / "nowhere.key"
    with pytest.raises(KeyMaterialError, match=f"key file {missing} does not exist"):
        load_key("p", key_file=missing)
    made = new_key_file(tmp_path / "project.key")
    assert load_key("p", key_file=made) == load_key("p", key=made.read_text().strip())


def _ec_pair(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "ec.pem", tmp_path / "ec.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def test_re_identification_keys_must_be_rsa(tmp_path: Path) -> None:
    private, public = _ec_pair(tmp_path)
    with pytest.raises(KeyMaterialError, match="is not an RSA public key"):
        load_public_key(public)
    with pytest.raises(KeyMaterialError, match="is not an RSA private key"):
        load_private_key(private)


def test_a_re_identification_key_others_can_read_is_refused(tmp_path: Path) -> None:
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    assert load_private_key(private).key_size == 3072
    private.chmod(0o640)
    with pytest.raises(KeyMaterialError, match="can be read by other users") as refused:
        load_private_key(private)
    assert f"chmod 600 {private}" in str(refused.value)


def test_records_sealed_for_another_key_are_refused_and_none_opens_as_empty(tmp_path: Path) -> None:
    mine, mine_pub = tmp_path / "a.pem", tmp_path / "a.pub"
    theirs, theirs_pub = tmp_path / "b.pem", tmp_path / "b.pub"
    new_reid_keypair(mine, mine_pub)
    new_reid_keypair(theirs, theirs_pub)
    sealed = seal_records(IDENTIFIERS, load_public_key(theirs_pub), "e1")
    opened = unseal_records(sealed, load_private_key(theirs), "e1")
    assert opened.surname.tolist()[0] == "Kelly" and pd.isna(opened.surname.iloc[1])
    with pytest.raises(KeyMaterialError, match="sealed for re-identification key") as refused:
        unseal_records(sealed, load_private_key(mine), "e1")
    assert "Kelly" not in str(refused.value) and "Roger" not in str(refused.value)
    empty = unseal_records(sealed.iloc[:0], load_private_key(mine), "e1")
    assert list(empty.columns) == [SOURCE_ROW] and empty.empty and empty[SOURCE_ROW].dtype == "int64"


def test_an_extract_sealed_whole_opens_and_one_never_sealed_has_nothing(tmp_path: Path) -> None:
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    blob = seal(IDENTIFIERS, load_public_key(public), "old-extract")
    wh = open_warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}", migrate=True)
    try:
        wh.execute("INSERT INTO restricted.vault VALUES (?, ?, ?, ?, ?)",
                   ("old-extract", blob.key_id, blob.wrapped_key, blob.nonce, blob.ciphertext))
        key = load_private_key(private)
        pd.testing.assert_frame_equal(sealed_identifiers(wh, "old-extract", key), IDENTIFIERS)
        assert sealed_identifiers(wh, "never-sealed", key) is None
    finally:
        wh.close()
