"""The merge holds its identities' field tokens as Arrow dictionaries: the same values in a fifth of the memory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ptp_pipeline.linkage import frequencies
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.warehouse.merge import extract_identities


def test_identities_keep_their_values_with_field_tokens_as_dictionaries(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from ptp_pipeline.warehouse import merge

    monkeypatch.setattr(merge, "MERGE_BATCH_ROWS", 1_000)  # three batches, each with its own dictionaries
    n = 3_000
    plain = {IDENT: [f"{i:032x}" for i in range(n)],
             **{c: [None if i % 7 == 0 else f"{(i // 1_000) * 100 + (i * 31 + j) % 50:016x}" for i in range(n)]
                for j, c in enumerate(TOKEN_COLUMNS)}}
    path = tmp_path / "identities.parquet"
    pq.write_table(pa.table(plain), path, row_group_size=1_000)
    wanted = pa.array(plain[IDENT][: n - 10])
    found = extract_identities(path, wanted)
    assert len(found) == n - 10
    assert found[IDENT].dtype == "string" and found[IDENT].tolist() == plain[IDENT][: n - 10]
    for c in TOKEN_COLUMNS:
        assert pa.types.is_dictionary(found[c].dtype.pyarrow_dtype), c
        got = [None if pd.isna(v) else v for v in found[c].tolist()]
        assert got == plain[c][: n - 10], c
    as_text = found.astype({c: "string" for c in TOKEN_COLUMNS})
    def counts(frame: pd.DataFrame) -> pd.DataFrame:
        return frequencies.counts_of(frame).sort_values(["col", "token"], ignore_index=True)

    pd.testing.assert_frame_equal(counts(found), counts(as_text))
