"""The pipeline's login runs no DDL: it drops and rebuilds secondary indexes for a bulk load only through the owner's
functions, which read the definitions themselves, and it cannot empty their stash to commit without an index."""

from __future__ import annotations

import psycopg
import pytest


def test_the_pipeline_bulk_loads_through_the_owners_functions_only(logins: dict[str, str]) -> None:
    with psycopg.connect(logins["ptp_pipeline"], autocommit=True) as con:
        before = con.execute("SELECT indexname, indexdef FROM pg_indexes ORDER BY 1").fetchall()
        with con.transaction():
            assert con.execute("SELECT ops.bulk_drop_indexes('restricted.link_identity')").fetchone()[0] > 10
            assert con.execute("SELECT ops.bulk_rebuild_indexes('restricted.link_identity')").fetchone()[0] > 10
        assert con.execute("SELECT indexname, indexdef FROM pg_indexes ORDER BY 1").fetchall() == before
        with pytest.raises(psycopg.errors.InsufficientPrivilege), con.transaction():
            con.execute("DROP INDEX restricted.link_identity_nhs")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), con.transaction():
            con.execute("SELECT ops.bulk_drop_indexes('restricted.link_identity')")
            con.execute("DELETE FROM ops.bulk_index")
        assert con.execute("SELECT indexname, indexdef FROM pg_indexes ORDER BY 1").fetchall() == before
    for role in ("ptp_analyst", "ptp_reidentifier", "ptp_researcher"):
        with psycopg.connect(logins[role], autocommit=True) as con, \
                pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("SELECT ops.bulk_drop_indexes('restricted.link_identity')")
