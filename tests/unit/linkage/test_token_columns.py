"""The warehouse keeps every linkage token the pseudonymise stage makes, and nothing else."""

from __future__ import annotations

from ptp_pipeline.linkage.fields import TOKEN_COLUMNS
from ptp_pipeline.runtime import Runtime


def test_link_identity_has_a_column_for_every_token(rt: Runtime) -> None:
    cols = rt.warehouse.query("SELECT * FROM restricted.link_identity LIMIT 0").columns.tolist()
    assert [c for c in cols if c not in ("ident", "person_id", "link_pass", "match_probability", "first_extract")] \
        == TOKEN_COLUMNS
