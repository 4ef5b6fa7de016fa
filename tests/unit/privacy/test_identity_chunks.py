"""Issue 15: pseudonymise works on an extract's distinct identities a chunk at a time (memory follows the
chunk, not the extract); what it writes must be exactly what one pass over all of them writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ptp_pipeline import pipeline
from ptp_pipeline.privacy import pseudonymise
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import load_settings
from ptp_pipeline.synthetic import SyntheticResult


def _stage_files(env: dict[str, str], home: Path, synthetic: SyntheticResult) -> dict[str, pd.DataFrame]:
    rt = Runtime(load_settings({**env, "PTP_HOME": str(home)}))
    try:
        health = next(e for e in synthetic.extracts if e.partner == "health")
        extract_id, _ = pipeline.receive(rt, health.path, health.partner, health.dataset)
        pipeline.check(rt, extract_id)
        pipeline.pseudonymise(rt, extract_id)
        folder = rt.work(extract_id)
        return {name: pd.read_parquet(folder / name)
                for name in (pseudonymise.IDENTITIES_FILE, "pseudonymised.parquet")}
    finally:
        rt.close()


def test_identities_in_chunks_write_what_one_pass_writes(env: dict[str, str], tmp_path: Path,
                                                         synthetic: SyntheticResult,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _stage_files(env, tmp_path / "whole", synthetic)
    distinct = len(whole[pseudonymise.IDENTITIES_FILE])
    monkeypatch.setattr(pseudonymise, "IDENTITY_CHUNK", 37)  # many chunks, and identities repeated across them
    chunked = _stage_files(env, tmp_path / "chunked", synthetic)
    assert distinct > 5 * 37
    for name, frame in whole.items():
        pd.testing.assert_frame_equal(chunked[name], frame, obj=name)
