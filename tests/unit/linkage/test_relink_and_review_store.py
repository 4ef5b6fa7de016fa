"""The linkage store's maintenance paths: a full re-cluster that splits and re-joins persons (ids kept where
they can be, moves audited), review pairs never listed twice, review decisions refused for what does not
exist, and the model trained once the warehouse first holds enough identities, then reused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import assert_conserved, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.cli import main
from ptp_pipeline.errors import ConfigError
from ptp_pipeline.linkage.engine import LinkConfig, Linked, config_from
from ptp_pipeline.linkage.fields import IDENT, linkage_tokens
from ptp_pipeline.linkage.frame import frame_parts
from ptp_pipeline.linkage.model import TRAIN_FROM
from ptp_pipeline.linkage.store import decide, full_relink, insert_identities, insert_review, load_model, model_for
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.connect import open_warehouse

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "home_address", "uprn", "sex", "nhs_number",
          "occurred_on", "incident_type", "estimated_cost"]
# Roger Kelly twice, at two addresses (two identities, one person through the name and date-of-birth key).
PEOPLE = [("Kelly", "Roger", "35233", "LS24 5QW"), ("Okafor", "Ngozi", "30111", "LS7 2GN"),
          ("Lindqvist", "Sven", "28001", "LS9 8BB"), ("Kelly", "Roger", "35233", "LS1 1AA")]


def _persons(rt: Runtime) -> pd.DataFrame:
    return rt.warehouse.query("SELECT r.source_row, r.ident, r.person_id, e.person_id AS event_person "
                              "FROM restricted.link_record r JOIN shared.pathway_event e ON e.event_id = r.record_id "
                              "ORDER BY r.source_row")


def test_a_full_relink_splits_and_rejoins_persons_keeping_their_ids(wh_rt: Runtime, tmp_path: Path) -> None:
    rt = wh_rt
    rows = [[s, f, dob, pc, "", "", "M", "", "01/06/2024", "incident", "100"] for s, f, dob, pc in PEOPLE]
    assert pipeline.ingest(rt, write_csv(tmp_path / "p.csv", POLICE, rows), "police", "incidents").status == "merged"
    before = _persons(rt)
    kelly = int(before.person_id.iloc[0])
    assert before.person_id.tolist() == [kelly, *before.person_id.iloc[1:3], kelly]
    assert before.ident.nunique() == 4

    # Nothing may link (no match keys, no model): Roger Kelly's second identity leaves his person for a new id.
    apart = full_relink(rt.warehouse, LinkConfig(match_keys=[], probabilistic=False))
    assert apart == {"identities": 4, "persons_before": 3, "persons_after": 4, "changed": 1}
    split = _persons(rt)
    assert split.person_id.iloc[:3].tolist() == before.person_id.iloc[:3].tolist(), "the first identity keeps the id"
    moved = int(split.person_id.iloc[3])
    assert moved not in set(before.person_id), "the identity split off gets an id never used before"
    assert (split.person_id == split.event_person).all(), "events follow their records"
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.person") == 4
    assert rt.warehouse.scalar("SELECT count(*) FROM restricted.link_identity WHERE person_id = ?", (moved,)) == 1

    # The project's linkage again: the two join, under the id the persons had before the split.
    joined = full_relink(rt.warehouse, config_from(rt.project), extract_id="relink-test")
    assert joined == {"identities": 4, "persons_before": 4, "persons_after": 3, "changed": 1}
    again = _persons(rt)
    assert again.person_id.tolist() == before.person_id.tolist()
    assert (again.person_id == again.event_person).all()
    assert rt.warehouse.scalar("SELECT count(*) FROM shared.person") == 3
    details = rt.warehouse.query("SELECT extract_id, detail FROM ops.audit_log WHERE action = 'linkage_relinked' "
                                 "ORDER BY seq")
    assert details.detail.tolist() == [
        "full re-cluster: 4 identities, persons 3 -> 4, 1 identities moved",
        "full re-cluster: 4 identities, persons 4 -> 3, 1 identities moved"]
    assert details.extract_id.tolist()[1] == "relink-test"
    assert_conserved(rt)


def test_relink_of_an_empty_warehouse_changes_nothing(env: dict[str, str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["linkage", "relink"]) == 0
    assert "0 identities re-clustered: persons 0 -> 0; 0 identities moved" in capsys.readouterr().out
    assert main(["audit", "list", "--json"]) == 0
    assert "linkage_relinked" not in capsys.readouterr().out, "nothing re-clustered, nothing audited"


def test_deciding_a_pair_that_does_not_exist_is_refused(env: dict[str, str],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["linkage", "review", "decide", "7", "accept"]) != 0
    err = capsys.readouterr().err
    assert "there is no review pair 7" in err and "ptp linkage review list" in err


def _review(pairs: list[tuple[str, str, float]]) -> Linked:
    review = pd.DataFrame(pairs, columns=["ident_l", "ident_r", "match_probability"])
    return Linked(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), review, {}, 1)


def _listed(wh: Warehouse) -> list[tuple[int, str, str, str]]:
    frame = wh.query("SELECT review_id, ident_l, ident_r, found_in FROM restricted.link_review ORDER BY review_id")
    return [(int(r.review_id), r.ident_l, r.ident_r, r.found_in) for r in frame.itertuples(index=False)]


def test_a_review_pair_is_listed_once_whichever_way_round_it_comes(warehouse_url: str) -> None:
    wh = open_warehouse(warehouse_url, migrate=True)
    try:
        insert_review(wh, _review([("b", "a", 0.7), ("a", "c", 0.6)]), "e1")
        assert _listed(wh) == [(1, "a", "b", "e1"), (2, "a", "c", "e1")]
        # Found again in a later extract (one turned round), plus one new pair: only the new one is numbered.
        insert_review(wh, _review([("a", "b", 0.8), ("c", "a", 0.6), ("b", "c", 0.55)]), "e2")
        assert _listed(wh) == [(1, "a", "b", "e1"), (2, "a", "c", "e1"), (3, "b", "c", "e2")]
        insert_review(wh, _review([("c", "b", 0.9)]), "e3")  # every pair known: nothing added
        assert len(_listed(wh)) == 3
        with pytest.raises(ValueError, match="accept or reject"):
            decide(wh, 1, "maybe")
        with pytest.raises(ConfigError, match="no review pair 9"):
            decide(wh, 9, "reject")
        assert wh.scalar("SELECT count(*) FROM restricted.link_review WHERE decision IS NOT NULL") == 0
    finally:
        wh.close()


def _word(i: int, width: int = 6) -> str:
    """A name of letters only, one per number (names lose their digits when normalised)."""
    letters = "ABCDEFGHIJKLMNOPRSTUVWY"
    return "".join(letters[(i // len(letters) ** k) % len(letters)] for k in range(width)).title()


def _identities(n: int, start: int = 0) -> pd.DataFrame:
    """`n` strangers' identity tokens: no two share a date of birth, a forename or a surname (deterministic)."""
    born = pd.Timestamp("1930-01-01") + pd.to_timedelta(range(start, start + n), unit="D")
    rows = [{"forename": _word(i), "surname": _word(i + 10**5), "date_of_birth": d.strftime("%Y-%m-%d"),
             "postcode": f"LS{1 + i % 29} {i % 10}AB", "sex": "MF"[i % 2]} for i, d in enumerate(born, start)]
    key = ProjectKey("model-test", bytes.fromhex("5a" * 32))
    return linkage_tokens(key, frame_parts(pd.DataFrame(rows))).drop_duplicates(IDENT)


def test_the_model_is_trained_once_enough_identities_are_stored_or_arrive_then_reused(tmp_path: Path) -> None:
    wh = open_warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}", migrate=True)
    try:
        stored = _identities(TRAIN_FROM - 5)
        assert model_for(wh, stored) is None, "too few identities: the priors serve, nothing is stored"
        assert wh.scalar("SELECT count(*) FROM restricted.linkage_model") == 0
        insert_identities(wh, Linked(stored.assign(person_id=range(1, len(stored) + 1), link_pass="new person",
                                                   match_probability=float("nan")),
                                     pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {}, 1), "e1")
        # The stored identities and the new batch together reach TRAIN_FROM: trained on both, and stored.
        batch = _identities(10, start=TRAIN_FROM)
        model = model_for(wh, batch)
        assert model is not None and model == load_model(wh)
        assert wh.query("SELECT model_id, identities FROM restricted.linkage_model").values.tolist() == [
            [1, TRAIN_FROM + 5]]
        text = str(wh.scalar("SELECT settings FROM restricted.linkage_model"))
        assert not any(str(t) in text for t in (*stored[IDENT], *batch[IDENT])), "the model holds no token"
        # Later batches get the stored model: not trained again, not stored again.
        assert model_for(wh, _identities(3, start=5 * TRAIN_FROM)) == model
        assert wh.scalar("SELECT count(*) FROM restricted.linkage_model") == 1
    finally:
        wh.close()
