"""Issue 16.4: keys are 256 random bits, not passwords; an extract under another key never merges; key
rotation re-keys every keyed token (person match keys, address tokens, the opt-out list)."""

from __future__ import annotations

import base64
import csv
import secrets
from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved

from ptp_pipeline.cli import main
from ptp_pipeline.errors import KeyMaterialError
from ptp_pipeline.pipeline import ingest
from ptp_pipeline.privacy.keys import load_key, new_key_file
from ptp_pipeline.privacy.normalise import normalise_nhs_number
from ptp_pipeline.privacy.vault import new_reid_keypair
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult

PASSWORD_48 = "Correct-Horse-Battery-Staple-2024-Leeds-Council!"
UNSEEN_NHS = "9434765919"  # valid check digit; in no synthetic extract


@pytest.mark.parametrize(("text", "expected"), [
    (PASSWORD_48, "looks like a password or passphrase"),
    ("correct horse battery staple", "looks like a password or passphrase"),
    ("Q" * 48, "base64 of 36 bytes (288 bits)"),  # a password that happens to be base64 characters
    ("ab" * 16, "is 128 bits (32 hex characters)"),  # a 128-bit key was reported as 192 bits
    ("ab" * 40, "is 320 bits (80 hex characters)"),
])
def test_only_256_random_bits_are_a_key(text: str, expected: str) -> None:
    assert len(PASSWORD_48) == 48
    with pytest.raises(KeyMaterialError) as info:
        load_key("p", key=text)
    message = info.value.render()
    assert expected in message and "256" in message, message
    assert text not in message
    good = secrets.token_bytes(32)
    assert load_key("p", key=good.hex()).key_id == load_key("p", key=base64.b64encode(good).decode()).key_id


def test_a_password_as_ptp_key_is_refused_before_anything_is_read(
        env: dict[str, str], synthetic: SyntheticResult, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PTP_KEY", PASSWORD_48)
    extract = synthetic.extracts[0]
    assert main(["ingest", str(extract.path), "--partner", extract.partner, "--dataset", extract.dataset]) == 5
    message = capsys.readouterr().err
    assert "password or passphrase" in message and PASSWORD_48 not in message


def test_an_extract_under_another_key_is_refused_at_merge(wh_env: dict[str, str], synthetic: SyntheticResult) -> None:
    council, health = (next(e for e in synthetic.extracts if e.partner == p) for p in ("council", "health"))
    rt = Runtime(load_settings(wh_env))
    assert ingest(rt, council.path, "council", "contacts").status == "merged"
    persons = int(rt.warehouse.scalar("SELECT count(*) FROM shared.person"))
    rt.close()
    other = Runtime(load_settings({**wh_env, "PTP_KEY": secrets.token_hex(32)}))
    try:
        outcome = ingest(other, health.path, "health", "attendances")
        assert outcome.status == "refused", outcome
        assert "warehouse's tokens are under key" in str(outcome.reason)
        assert int(other.warehouse.scalar("SELECT count(*) FROM shared.person")) == persons
        assert int(other.warehouse.scalar("SELECT count(*) FROM shared.pathway_event WHERE agency = 'health'")) == 0
        assert_conserved(other)
    finally:
        other.close()
    rt = Runtime(load_settings(wh_env))  # the right key: the same file now merges
    try:
        assert ingest(rt, health.path, "health", "attendances").status == "merged"
        assert_conserved(rt)
    finally:
        rt.close()


def _optout_file(health: Path, target: Path) -> Path:
    with health.open(encoding="utf-8") as fh:
        numbers = pd.Series([r["nhs_number"] for r in csv.DictReader(fh)], dtype="string")
    valid = normalise_nhs_number(numbers)["nhs_number"].dropna().drop_duplicates()
    target.write_text("\n".join([*valid.iloc[::7], UNSEEN_NHS]) + "\n", encoding="utf-8")
    return target


def _run(values: dict[str, str], synthetic: SyntheticResult, optout: Path, rotate_to: Path | None,
         monkeypatch: pytest.MonkeyPatch) -> tuple[int, int, int]:
    """Council and police, the opt-out list, [a key rotation], then health: (withheld, address matches, persons)."""
    council, health, police = (next(e for e in synthetic.extracts if e.partner == p)
                               for p in ("council", "health", "police"))
    rt = Runtime(load_settings(values))
    for e in (council, police):
        assert ingest(rt, e.path, e.partner, e.dataset).status == "merged"
    rt.close()
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    assert main(["optout", "add", str(optout)]) == 0
    before = None
    if rotate_to is not None:
        rt = Runtime(load_settings(values))
        before = set(rt.warehouse.query("SELECT addr_street FROM restricted.record_address")["addr_street"].dropna())
        rt.close()
        assert main(["key", "rotate", "--new-key-file", str(rotate_to)]) == 0
        values = {**values, "PTP_KEY_FILE": str(rotate_to)}
    rt = Runtime(load_settings(values))
    try:
        if before is not None:
            after = set(rt.warehouse.query("SELECT addr_street FROM restricted.record_address")["addr_street"].dropna())
            assert len(after) == len(before) > 0 and not after & before, "every address token re-made"
        outcome = ingest(rt, health.path, "health", "attendances")
        assert outcome.status == "merged", outcome
        assert_conserved(rt)
        withheld = int(rt.warehouse.scalar("SELECT rows_opted_out FROM ops.extract_ledger WHERE partner = 'health'"))
        # Records of health sharing a street-address token with council or police records (what households use).
        shared_addresses = int(rt.warehouse.scalar(
            "SELECT count(DISTINCT h.addr_street) FROM restricted.record_address h "
            "JOIN restricted.record_address o ON o.addr_street = h.addr_street "
            "WHERE h.extract_id LIKE 'health.%' AND o.extract_id NOT LIKE 'health.%'"))
        persons = int(rt.warehouse.scalar("SELECT count(*) FROM shared.person"))
        return withheld, shared_addresses, persons
    finally:
        rt.close()


def test_rotation_re_keys_opt_out_and_address_tokens(warehouse_url: str, synthetic: SyntheticResult,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      request: pytest.FixtureRequest) -> None:
    """The same ingests with and without a rotation before the last one withhold the same opt-out events,
    find the same shared addresses and the same persons (before: 0 withheld, households doubled)."""
    private, public = tmp_path / "reid.pem", tmp_path / "reid.pub"
    new_reid_keypair(private, public)
    old_key, new_key = new_key_file(tmp_path / "old.key"), new_key_file(tmp_path / "new.key")
    optout = _optout_file(next(e for e in synthetic.extracts if e.partner == "health").path, tmp_path / "optout.txt")
    base = {"PTP_KEY_FILE": str(old_key), "PTP_REID_PUBLIC_KEY_FILE": str(public), "PTP_REID_KEY_FILE": str(private)}
    if warehouse_url.startswith("duckdb"):
        urls = [f"duckdb:///{tmp_path / n / 'ptp.duckdb'}" for n in ("plain", "rotated")]
    else:
        urls = [warehouse_url, request.getfixturevalue("pg_databases")()]
    plain = _run({**base, "PTP_HOME": str(tmp_path / "plain"), "PTP_WAREHOUSE": urls[0]}, synthetic, optout, None,
                 monkeypatch)
    rotated = _run({**base, "PTP_HOME": str(tmp_path / "rotated"), "PTP_WAREHOUSE": urls[1]}, synthetic, optout,
                   new_key, monkeypatch)
    assert plain[0] > 0 and plain[1] > 0
    assert rotated == plain
