"""Linkage options and edge inputs through the library API: the keyed cascade alone (no probabilistic pass),
a key given as a ProjectKey, a frame with no identifier column, scoring with and without cascade groups,
guards for persons outside the candidates, token counts of identities without names or postcodes, and a
model that cannot be trained or is trained on a capped sample."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ptp_pipeline.linkage import frequencies, link_frame, model
from ptp_pipeline.linkage.engine import CASCADE_GROUP, config_from, link_batch, splink_pairs
from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS, linkage_tokens
from ptp_pipeline.linkage.frame import frame_parts
from ptp_pipeline.privacy.keys import ProjectKey
from ptp_pipeline.warehouse.connect import open_warehouse

RAW = secrets.token_bytes(32)
FIRST = {"forename": "Amara", "surname": "Abernathy", "date_of_birth": "1950-01-01", "postcode": "LS6 2AB", "sex": "F"}
OTHERS = [{"forename": f, "surname": s, "date_of_birth": f"19{60 + i}-0{1 + i % 9}-1{i % 9}", "postcode": "LS7 2GN",
           "sex": "M"} for i, (f, s) in enumerate(zip(["Bogdan", "Ciaran", "Delyth", "Eilidh", "Farhan"],
                                                    ["Blackwood", "Castellano", "Dunmore", "Eversleigh", "Fairbairn"],
                                                    strict=True))]


def _tokens(rows: list[dict[str, str]]) -> pd.DataFrame:
    return linkage_tokens(ProjectKey("options-test", RAW), frame_parts(pd.DataFrame(rows))).drop_duplicates(IDENT)


def test_without_the_probabilistic_pass_only_match_keys_link() -> None:
    moved = {**FIRST, "postcode": "LS1 1AA"}  # the name and date-of-birth key holds
    typo = {**FIRST, "surname": "Abernethy"}  # no key holds: only the probabilistic pass would link it
    frame = pd.DataFrame([FIRST, moved, typo, *OTHERS])
    keyed = dataclasses.replace(config_from(None), probabilistic=False)
    out = link_frame(frame, RAW, cfg=keyed)
    assert out.person_id.iloc[0] == out.person_id.iloc[1] != out.person_id.iloc[2]
    assert out.person_id.nunique() == len(frame) - 1
    assert set(out.link_pass) == {"cascade:name_dob", "new person"}
    both = link_frame(frame, RAW)
    assert both.person_id.iloc[0] == both.person_id.iloc[2], "with the probabilistic pass the typo links"


def test_a_project_key_links_as_its_raw_bytes_do() -> None:
    frame = pd.DataFrame([FIRST, {**FIRST, "postcode": "LS1 1AA"}, *OTHERS])
    by_key = link_frame(frame, ProjectKey("link-frame", RAW))
    pd.testing.assert_frame_equal(by_key, link_frame(frame, RAW))
    pd.testing.assert_frame_equal(by_key, link_frame(frame, RAW.hex()))


def test_a_frame_without_identifier_columns_gives_every_record_its_own_person() -> None:
    out = link_frame(pd.DataFrame({"record": [10, 11, 12], "notes": ["a", "a", "a"]}), RAW)
    assert out.record.tolist() == [10, 11, 12]
    assert out.person_id.nunique() == 3
    assert (out.link_pass == "unlinkable").all() and out.match_probability.isna().all()


def _coded(rows: list[dict[str, str]]) -> pd.DataFrame:
    tokens = _tokens(rows)
    return tokens[TOKEN_COLUMNS].assign(**{IDENT: np.arange(len(tokens))})[[IDENT, *TOKEN_COLUMNS]]


def test_scoring_skips_pairs_of_one_cascade_group_and_only_those() -> None:
    new = _coded([FIRST, {**FIRST, "postcode": "LS1 1AA"}, *OTHERS])
    none = new.iloc[:0]
    scored = splink_pairs(new, none, model.settings(), 0.5, tf={})
    pair = scored[(scored.ident_l == 0) & (scored.ident_r == 1)]
    assert len(pair) == 1 and pair.match_probability.iloc[0] >= 0.95
    grouped = new.assign(**{CASCADE_GROUP: [0, 0, *range(2, len(new))]})
    apart = splink_pairs(grouped, none, model.settings(), 0.5, tf={})
    assert apart[(apart.ident_l == 0) & (apart.ident_r == 1)].empty, "a pair the cascade joined is not scored"
    rest = scored[~((scored.ident_l == 0) & (scored.ident_r == 1))]
    pd.testing.assert_frame_equal(rest.sort_values(["ident_l", "ident_r"]).reset_index(drop=True),
                                  apart.sort_values(["ident_l", "ident_r"]).reset_index(drop=True))


def test_guards_ignore_persons_that_are_not_among_the_candidates() -> None:
    existing = _tokens([FIRST]).assign(person_id=7)
    new = _tokens([{**FIRST, "postcode": "LS1 1AA"}])
    cfg = config_from(None)
    touched = pd.DataFrame({"person_id": [7], "identities": [1], "strong": [frozenset()]})
    plain = link_batch(new, existing, cfg, None, 8, touched)
    assert plain.identities.person_id.tolist() == [7]
    # A full person 9 (at the size guard) that is not a candidate changes nothing.
    crowded = pd.concat([touched, pd.DataFrame({"person_id": [9], "identities": [cfg.guards.max_size],
                                                "strong": [frozenset({"nhs:x"})]})], ignore_index=True)
    other = link_batch(new, existing, cfg, None, 8, crowded)
    pd.testing.assert_frame_equal(other.identities, plain.identities)
    # The same guard on the candidate itself stops the link.
    full = touched.assign(identities=cfg.guards.max_size)
    assert link_batch(new, existing, cfg, None, 8, full).identities.person_id.tolist() == [8]


def test_an_identity_given_twice_is_linked_once() -> None:
    """A batch may repeat an identity (two records of one person): it is one identity with one person."""
    new = _tokens([FIRST, *OTHERS])
    twice = pd.concat([new, new.iloc[[0, 2]]], ignore_index=True)
    cfg = config_from(None)
    once = link_batch(new, pd.DataFrame(), cfg, None, 1).identities
    repeated = link_batch(twice, pd.DataFrame(), cfg, None, 1).identities
    assert repeated[IDENT].is_unique and len(repeated) == len(new)
    pd.testing.assert_frame_equal(repeated.reset_index(drop=True), once.reset_index(drop=True))


def test_identities_without_names_or_postcodes_add_no_token_counts(tmp_path: Path) -> None:
    wh = open_warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}", migrate=True)
    try:
        numbers_only = _tokens([{"nhs_number": "9434765919"}, {"nhs_number": "9434765870"}])
        assert numbers_only[list(frequencies.TF_COLUMNS)].isna().all().all()
        frequencies.add(wh, numbers_only)
        assert wh.scalar(f"SELECT count(*) FROM {frequencies.COUNTS_TABLE}") == 0
        assert wh.scalar(f"SELECT count(*) FROM {frequencies.TOTALS_TABLE}") == 0
        frequencies.add(wh, _tokens([FIRST, *OTHERS]))
        assert wh.query(f"SELECT col, n FROM {frequencies.TOTALS_TABLE} ORDER BY col").values.tolist() == [
            ["fn_full", 6], ["pc", 6], ["sn", 6]]
    finally:
        wh.close()


def test_no_identities_to_learn_from_keeps_the_priors(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ptp_pipeline.linkage.model"):
        assert model.train(_tokens([FIRST]).iloc[:0]) == model.settings()
    assert "linkage model not trained" in caplog.text and "prior m/u values kept" in caplog.text


def _word(i: int, width: int = 6) -> str:
    """A name of letters only, one per number (names lose digits when normalised)."""
    letters = "ABCDEFGHIJKLMNOPRSTUVWY"
    return "".join(letters[(i // len(letters) ** k) % len(letters)] for k in range(width)).title()


def _strangers(n: int) -> pd.DataFrame:
    """No two share a date of birth, a forename or a surname."""
    born = pd.Timestamp("1930-01-01") + pd.to_timedelta(range(n), unit="D")
    return _tokens([{"forename": _word(i), "surname": _word(i + 7 * n), "date_of_birth": d.strftime("%Y-%m-%d"),
                     "postcode": f"LS{1 + i % 29} {i % 10}AB", "sex": "MF"[i % 2]} for i, d in enumerate(born)])


def _levels(m: dict[str, Any], name: str) -> dict[tuple[str, str], float]:
    return {(c["output_column_name"], level["label_for_charts"]): level[name]
            for c in m["comparisons"] for level in c["comparison_levels"] if level.get(name) is not None}


def test_a_block_without_pairs_keeps_its_comparisons_and_their_prior_m() -> None:
    """No two identities share a date of birth, or a forename and surname: EM has nothing to learn m from on
    either block, so the model keeps every comparison (Splink drops a block's comparisons from a session
    that fails) with the prior m, and u estimated by random sampling."""
    trained = model.train(_strangers(400))
    prior = model.settings()
    assert [c["output_column_name"] for c in trained["comparisons"]] == [
        c["output_column_name"] for c in prior["comparisons"]]
    assert _levels(trained, "m_probability") == _levels(prior, "m_probability")
    assert _levels(trained, "u_probability") != _levels(prior, "u_probability")


def test_training_learns_from_a_sample_of_at_most_train_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    identities = _strangers(300)
    monkeypatch.setattr(model, "TRAIN_SAMPLE", 200)
    capped = model.train(identities)
    sampled = model.train(identities.sample(200, random_state=1))
    for name in ("m_probability", "u_probability"):
        assert _levels(capped, name) == pytest.approx(_levels(sampled, name), rel=1e-9)
    other = model.train(identities.iloc[:200])
    assert _levels(capped, "u_probability") != pytest.approx(_levels(other, "u_probability"), rel=1e-3), (
        "other identities give other u: the sample was used")


def test_a_pair_scores_the_same_whichever_record_comes_first() -> None:
    """Which record of a pair is "left" follows the keyed identity tokens, so it changes with the key: a level
    that looks one way only (one record's forename as the other's surname) made links depend on the key."""
    surname_twice = {**FIRST, "forename": FIRST["surname"]}  # the surname entered as the forename too
    rows = [FIRST, surname_twice, *OTHERS]
    tokens = _tokens(rows)[[*TOKEN_COLUMNS]]
    probabilities = []
    for order in ([0, 1], [1, 0]):
        coded = pd.concat([tokens.iloc[order], tokens.iloc[2:]]).assign(**{IDENT: np.arange(len(tokens))})
        scored = splink_pairs(coded[[IDENT, *TOKEN_COLUMNS]], coded.iloc[:0], model.settings(), 0.0, tf={})
        probabilities.append(scored[(scored.ident_l == 0) & (scored.ident_r == 1)].match_probability.iloc[0])
    assert probabilities[0] == pytest.approx(probabilities[1], rel=1e-12)


def test_a_stored_model_compares_as_the_current_settings_do_with_its_trained_weights() -> None:
    """A model stored before the name-swap levels looked both ways keeps its m and u but not its one-way SQL."""
    def swap_level(m: dict[str, Any]) -> dict[str, Any]:
        forename = next(c for c in m["comparisons"] if c["output_column_name"] == "forename")
        return next(lv for lv in forename["comparison_levels"] if lv["label_for_charts"] == "forename given as surname")

    stored = model.settings()
    swap_level(stored).update(sql_condition="fn_l = sn_r", m_probability=0.123)
    current = model.with_current_conditions(stored)
    assert swap_level(current)["sql_condition"] == swap_level(model.settings())["sql_condition"] != "fn_l = sn_r"
    assert swap_level(current)["m_probability"] == 0.123
    assert swap_level(stored)["sql_condition"] == "fn_l = sn_r", "a copy, not an edit"


def test_training_learns_the_same_weights_whatever_the_key() -> None:
    """Identities carry keyed tokens, and Splink samples pairs for u by the ids it is given: with the tokens as
    ids each key drew other pairs (FEBRL's persons moved by up to 2 of 2,000 from key to key)."""
    rng = np.random.default_rng(7)
    names = ["Amara", "Bogdan", "Ciaran", "Delyth", "Eilidh", "Farhan", "Gideon", "Hollis", "Ingrid", "Jovan"]
    rows = [{"forename": str(rng.choice(names)), "surname": str(rng.choice(names)) + "son",
             "date_of_birth": f"19{rng.integers(40, 99)}-0{rng.integers(1, 9)}-1{rng.integers(0, 9)}",
             "postcode": f"LS{rng.integers(1, 9)} {rng.integers(1, 9)}AB", "sex": str(rng.choice(["F", "M"]))}
            for _ in range(900)]
    parts = frame_parts(pd.DataFrame(rows))

    def weights(raw: bytes) -> list[tuple[str, str, float, float]]:
        tokens = linkage_tokens(ProjectKey("options-test", raw), parts)
        trained = model.train(tokens[tokens[IDENT].notna()].drop_duplicates(IDENT))
        return [(c["output_column_name"], lv["label_for_charts"], lv["m_probability"], lv["u_probability"])
                for c in trained["comparisons"] for lv in c["comparison_levels"] if not lv.get("is_null_level")]

    first, second = weights(secrets.token_bytes(32)), weights(secrets.token_bytes(32))
    assert [w[:2] for w in first] == [w[:2] for w in second]
    for a, b in zip(first, second, strict=True):
        assert a[2] == pytest.approx(b[2], rel=1e-9) and a[3] == pytest.approx(b[3], rel=1e-9), a[:2]


def test_scoring_a_part_of_the_new_identities_at_a_time_gives_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Splink scores the new identities a part at a time (issue 15: its memory follows the part): the pairs,
    their orientation and their scores are those of scoring them all at once, new-new and new-existing."""
    from ptp_pipeline.linkage import engine

    rng = np.random.default_rng(5)
    people = [{"forename": f, "surname": s, "date_of_birth": f"19{50 + i}-0{1 + i % 9}-1{i % 9}",
               "postcode": f"LS{i % 4 + 1} {i % 9}AB", "sex": "MF"[i % 2]}
              for i, (f, s) in enumerate([(f, s) for f in ("Amara", "Bogdan", "Ciaran", "Delyth", "Eilidh")
                                          for s in ("Abernathy", "Blackwood", "Dunmore", "Fairbairn")])]
    rows = []
    for p in people:  # each person with the variants the blocking rules are for (a swap reads one way)
        y, m, d = p["date_of_birth"].split("-")
        rows += [p, {**p, "surname": p["surname"][:-1] + "e"}, {**p, "date_of_birth": f"{y}-{d}-{m}"},
                 {**p, "forename": p["surname"], "surname": p["forename"]}, {**p, "postcode": "LS9 9ZZ"}]
    tokens = _tokens(rows)[[*TOKEN_COLUMNS]].sample(frac=1.0, random_state=1)
    n_new = len(tokens) * 2 // 3
    coded = tokens.assign(**{IDENT: np.arange(len(tokens)), CASCADE_GROUP: rng.integers(0, 40, len(tokens))})
    new, existing = coded.iloc[:n_new], coded.iloc[n_new:]

    def scored(part: int) -> pd.DataFrame:
        monkeypatch.setattr(engine, "SCORE_BATCH", part)
        out = splink_pairs(new, existing, model.settings(), 0.0, tf={})
        return out.sort_values(["ident_l", "ident_r"]).reset_index(drop=True)

    whole = scored(len(new))
    assert len(whole) > len(new) and (whole.ident_r >= n_new).any()  # pairs within new and with existing
    for part in (13, len(new) - 1):
        pd.testing.assert_frame_equal(scored(part), whole)
