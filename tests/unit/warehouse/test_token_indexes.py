"""PostgreSQL's token indexes: single tokens looked up by equality sit in hash indexes (cheaper to insert into
than B-trees: bench/ingest.py), and the planner still answers a look-up of each through its index."""

from __future__ import annotations

import pytest

from ptp_pipeline.warehouse import open_warehouse

HASHED = {"link_identity_nhs": ("restricted.link_identity", "nhs"),
          "link_identity_ni": ("restricted.link_identity", "ni"),
          "link_identity_surname": ("restricted.link_identity", "sn"),
          "link_identity_dob_sw": ("restricted.link_identity", "dob_sw"),
          "link_record_ident": ("restricted.link_record", "ident")}


@pytest.mark.parametrize("name", sorted(HASHED))
def test_a_single_token_look_up_goes_through_its_hash_index(pg_database: str, name: str) -> None:
    table, col = HASHED[name]
    wh = open_warehouse(pg_database)
    try:
        definition = wh.scalar("SELECT indexdef FROM pg_indexes WHERE indexname = ?", (name,))
        assert definition is not None and "USING hash" in str(definition)
        with wh.transaction():
            wh.execute("SET LOCAL enable_seqscan = off")  # an empty table: make the planner show its index
            plan = "\n".join(wh.query(f"EXPLAIN SELECT * FROM {table} WHERE {col} = 'abc'").iloc[:, 0])
        assert name in plan
    finally:
        wh.close()


def test_event_ids_keep_their_b_tree(pg_database: str) -> None:
    """The merge inserts events in id order, which a B-tree takes cheaply."""
    wh = open_warehouse(pg_database)
    try:
        definition = str(wh.scalar("SELECT indexdef FROM pg_indexes WHERE indexname = 'pathway_event_id'"))
        assert "USING btree" in definition
    finally:
        wh.close()
