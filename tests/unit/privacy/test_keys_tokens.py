"""Keys and tokens: stable per key, separated per project and key type, unreproducible without the key."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.privacy.keys import ProjectKey, load_key, new_key_file
from ptp_pipeline.privacy.tokens import TOKEN_HEX_CHARS, hmac_token, hmac_tokens

SECRET = bytes(range(32))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=20))
def test_bulk_tokens_equal_reference_hmac(values: list[str]) -> None:
    key = ProjectKey("p", SECRET).subkey("match/nhs")
    bulk = hmac_tokens(key, pd.Series(values, dtype="string"))
    expected = [hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:TOKEN_HEX_CHARS] for v in values]
    assert bulk.tolist() == expected
    assert len(expected[0]) * 4 >= 128


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_domain_separation_gives_unrelated_tokens(value: str) -> None:
    one, two = ProjectKey("leeds", SECRET), ProjectKey("bradford", SECRET)
    assert hmac_token(one.subkey("match/nhs"), value) != hmac_token(two.subkey("match/nhs"), value)
    assert hmac_token(one.subkey("match/nhs"), value) != hmac_token(one.subkey("match/name_dob"), value)
    assert hmac_token(one.subkey("match/nhs"), value) == hmac_token(
        ProjectKey("leeds", SECRET).subkey("match/nhs"), value
    )


def test_token_not_reproducible_without_the_key() -> None:
    value = "9434765919"
    token = hmac_token(ProjectKey("p", SECRET).subkey("match/nhs"), value)
    assert token not in {
        hashlib.sha256(value.encode()).hexdigest()[:TOKEN_HEX_CHARS],
        hashlib.md5(value.encode()).hexdigest()[:TOKEN_HEX_CHARS],
    }
    other = ProjectKey("p", secrets.token_bytes(32))
    assert hmac_token(other.subkey("match/nhs"), value) != token


def test_missing_values_are_not_tokenised() -> None:
    out = hmac_tokens(SECRET, pd.Series(["a", None, pd.NA], dtype="string"))
    assert out.isna().tolist() == [False, True, True]


def test_short_keys_and_readable_key_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="exactly 256 are required"):
        ProjectKey("p", b"short")
    path = new_key_file(tmp_path / "k.key")
    assert load_key("p", key_file=path).key_id == load_key("p", key=path.read_text()).key_id
    os.chmod(path, 0o644)
    with pytest.raises(KeyMaterialError, match="can be read by other users"):
        load_key("p", key_file=path)


def test_key_never_appears_in_repr_or_errors(tmp_path: Path) -> None:
    key = ProjectKey("p", SECRET)
    assert SECRET.hex() not in repr(key) and str(list(SECRET)) not in repr(key)
    with pytest.raises(KeyMaterialError) as info:
        load_key("p", key="zz-not-a-key-" + SECRET.hex()[:10])
    assert SECRET.hex()[:10] not in str(info.value)


def test_key_from_airflow_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from ptp_pipeline.privacy.keys import key_from_airflow_variable

    monkeypatch.setenv("AIRFLOW_VAR_PTP_PROJECT_KEY", SECRET.hex())
    assert load_key("p", key=key_from_airflow_variable("ptp_project_key")).key_id == ProjectKey("p", SECRET).key_id
    with pytest.raises(KeyMaterialError, match="could not be read") as info:
        key_from_airflow_variable("ptp_no_such_variable")
    assert SECRET.hex() not in str(info.value)
