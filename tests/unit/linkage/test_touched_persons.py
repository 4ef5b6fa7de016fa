"""What the guards know of each stored person a new batch may join: its identities and strong identifiers."""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.linkage.engine import IDENTITY_TABLE, touched_persons
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.warehouse import open_warehouse


def test_each_person_with_its_identities_and_every_strong_token(warehouse_url: str) -> None:
    rows = [  # person, nhs, ni
        (1, "n1", None), (1, "n1", "x1"), (1, "n2", None),  # one person, two NHS numbers and an NI number
        (2, None, None),  # no strong identifier
        (3, "n3", None),
        (4, "n4", None),  # not asked for
    ]
    stored = pd.DataFrame({IDENT: [f"i{k}" for k in range(len(rows))], "person_id": [r[0] for r in rows],
                           "link_pass": "new person"})
    for col in TOKEN_COLUMNS:
        stored[col] = pd.Series([None] * len(rows), dtype="string")
    stored["nhs"] = pd.Series([r[1] for r in rows], dtype="string")
    stored["ni"] = pd.Series([r[2] for r in rows], dtype="string")
    wh = open_warehouse(warehouse_url)
    try:
        wh.insert_frame(IDENTITY_TABLE, stored)
        with wh.transaction():
            got = touched_persons(wh, pd.Series([3, 1, 2]).to_numpy())
        assert got["person_id"].tolist() == [1, 2, 3]
        assert got["identities"].tolist() == [3, 1, 1]
        assert got["strong"].tolist() == [frozenset({"nhs:n1", "nhs:n2", "ni:x1"}), frozenset(), frozenset({"nhs:n3"})]
    finally:
        wh.close()
