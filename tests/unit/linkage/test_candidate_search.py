"""The candidate search of an incremental merge finds every stored identity that meets a new one on some blocking
rule or match key, and only those, on both backends (any faster search must keep this). The oracle is the plain
search written out here: one join per rule and direction over every stored row."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ptp_pipeline.linkage import engine
from ptp_pipeline.linkage.engine import (
    IDENTITY_TABLE,
    NEW_COLUMNS,
    LinkConfig,
    _candidates,
    _join_rules,
    _rule_sql,
    config_from,
)
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.warehouse import open_warehouse


def _identities(rng: np.random.Generator, n: int, prefix: str) -> pd.DataFrame:
    # Few distinct values per column (and some missing), so that every rule, the swapped ones included, matches.
    frame = pd.DataFrame({c: pd.Series(rng.choice(["a", "b", "c", "d", None], n), dtype="string")
                          for c in TOKEN_COLUMNS})
    frame.insert(0, IDENT, [f"{prefix}{i}" for i in range(n)])
    return frame


CONFIGS = {
    "shipped rules and keys": config_from(None),
    # Keys no blocking rule leads with: the narrowing must follow the keys too.
    "cascade only, unusual keys": LinkConfig(match_keys=[("sector_sex", ["pc_sec", "sex"]), ("year", ["dob_y"])],
                                             probabilistic=False),
}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("seed", [1, 2])
def test_every_identity_meeting_a_rule_is_a_candidate(warehouse_url: str, seed: int, config: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """On both paths: one statement (a nightly file) and a rule at a time (a large batch), which give the same."""
    rng = np.random.default_rng(seed)
    wh = open_warehouse(warehouse_url)
    try:
        stored = _identities(rng, 300, "s").assign(person_id=np.arange(300), link_pass="new person")
        wh.insert_frame(IDENTITY_TABLE, stored)
        new = _identities(rng, 3, "n")
        wh.execute(f"CREATE TEMP TABLE IF NOT EXISTS _oracle ({NEW_COLUMNS})")
        wh.insert_frame("_oracle", new)
        cfg = CONFIGS[config]
        rules = _join_rules(cfg)
        expected: set[str] = set()
        for rule in rules:
            for a, b in (("e", "n"), ("n", "e")):
                found = wh.query(f"SELECT e.ident FROM {IDENTITY_TABLE} e JOIN _oracle n ON {_rule_sql(rule, a, b)}")
                expected |= set(found["ident"])
        got = _candidates(wh, cfg, new)
        assert 0 < len(expected) < len(stored)  # the case is neither empty nor everything
        assert set(got["ident"]) == expected
        assert got.set_index("ident")["person_id"].to_dict() == {
            i: int(i[1:]) for i in expected}
        monkeypatch.setattr(engine, "CANDIDATES_AT_ONCE", 0)
        pd.testing.assert_frame_equal(_candidates(wh, cfg, new), got)
    finally:
        wh.close()


def test_a_rule_that_reads_one_way_is_joined_both_ways(warehouse_url: str) -> None:
    """Symmetric rules are joined one way round only; the day-and-month swap reads one way, so a stored
    identity whose date is the new one's swapped date must still be found (the other way round finds nothing)."""
    def one(ident: str, **tokens: str) -> pd.DataFrame:
        frame = pd.DataFrame({c: pd.Series([tokens.get(c)], dtype="string") for c in TOKEN_COLUMNS})
        frame.insert(0, IDENT, ident)
        return frame

    wh = open_warehouse(warehouse_url)
    try:
        wh.insert_frame(IDENTITY_TABLE, one("stored", dob="y", sn_ph="s").assign(person_id=7, link_pass="new person"))
        assert _candidates(wh, config_from(None), one("new", dob="x", dob_sw="y", sn_ph="s"))["ident"].tolist() == [
            "stored"]
    finally:
        wh.close()


def test_a_large_batch_against_a_large_warehouse_stays_within_duckdbs_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A partner's second large extract meets nearly every stored identity on some rule. Joined in one statement
    DuckDB holds every rule's hash table at once and stops at its memory limit (250,000 identities against
    250,000 at 1 GB; here 20,000 against 20,000 at 96 MB, the control); a rule at a time stays within it."""
    monkeypatch.setenv("PTP_DUCKDB_MEMORY_LIMIT", "96MB")
    rng = np.random.default_rng(3)
    words = np.array([f"{i:016x}" for i in range(400)])  # tokens as long as real ones, a realistic spread

    def identities(n: int, prefix: str) -> pd.DataFrame:
        frame = pd.DataFrame({c: pd.Series(rng.choice(words, n), dtype="string") for c in TOKEN_COLUMNS})
        frame.insert(0, IDENT, [f"{prefix}{i:015d}" for i in range(n)])
        return frame

    wh = open_warehouse(f"duckdb:///{tmp_path}/wh.duckdb", migrate=True)
    try:
        wh.execute("SET threads = 2")  # DuckDB's memory per query grows with its threads: as on CI's machine
        stored = identities(20_000, "s").assign(person_id=np.arange(20_000), link_pass="new person")
        wh.insert_frame(IDENTITY_TABLE, stored)
        new = identities(20_000, "n")
        monkeypatch.setattr(engine, "CANDIDATES_AT_ONCE", 10**9)
        with pytest.raises(duckdb.OutOfMemoryException), wh.transaction():
            _candidates(wh, config_from(None), new)
        monkeypatch.setattr(engine, "CANDIDATES_AT_ONCE", 10_000)
        with wh.transaction():
            got = _candidates(wh, config_from(None), new)
        assert 0 < len(got) <= len(stored)
        assert got["ident"].is_unique and set(got["ident"]) <= set(stored[IDENT])
    finally:
        wh.close()
