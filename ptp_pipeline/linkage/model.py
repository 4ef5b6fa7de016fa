"""The probabilistic pass: a Splink (Fellegi-Sunter) model over per-field keyed tokens.

Every level is token equality on some form (exact, phonetic, first/last letters, date parts,
day/month swapped, postcode sector/district), so Splink never sees a raw value. The model ships
with prior m/u values so a small first extract links sensibly; `train` re-estimates u by random
sampling and m by expectation maximisation (no labels) once there are enough identities, and the
trained model is kept in the warehouse (restricted.linkage_model) for every later merge.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from ptp_pipeline.linkage.fields import IDENT, STRONG
from ptp_pipeline.linkage.scratch import token_table
from ptp_pipeline.protocol.model import Linkage as ProtocolLinkage

#: Train the model (EM) once there are this many identities to learn from; until then the priors serve.
TRAIN_FROM = 2_000
#: Identities EM learns from at most: m/u are shares, and EM's pairs grow with the square of the sample.
#: Measured on the 1M-row bench warehouse (233,553 identities): 30,000 gives the m/u of 100,000 to within
#: 0.02 for 2.3 s of CPU instead of 10 s, and training runs inside the first large merge.
TRAIN_SAMPLE = 30_000

# Levels: (label, SQL on l./r. token columns, m, u). First match wins; the null level comes first.
Level = tuple[str, str, float, float]


def _eq(*cols: str) -> str:
    return " AND ".join(f"{c}_l = {c}_r" for c in cols)


def _splink_column(name: str, record: str) -> str:
    return f"{name}_{record}"  # Splink's comparison SQL: fn_l, sn_r


def alike(x: str, s: str, y: str, t: str, column: Callable[[str, str], str] = _splink_column) -> str:
    """SQL: name `x` of record `s` is like name `y` of record `t`: the same token, sound, letters, or first and last
    three letters (token families are shared by forename and surname, so across the names they compare).
    `column(name, record)` spells a token column of a record: Splink's `fn_l` by default."""
    same = [f"{column(x + form, s)} = {column(y + form, t)}" for form in ("", "_ph", "_srt")]
    ends = f"({column(x + '3', s)} = {column(y + '3', t)} AND {column(x + '_l3', s)} = {column(y + '_l3', t)})"
    return "(" + " OR ".join([*same, ends]) + ")"


def swapped_alike(column: Callable[[str, str], str] = _splink_column, left: str = "l", right: str = "r") -> str:
    """SQL: both names cross, each alike (`alike`): the forename of one record like the other's surname, and its
    surname like the other's forename."""
    return f"({alike('fn', left, 'sn', right, column)} AND {alike('sn', left, 'fn', right, column)})"


#: Names swapped and then mistyped ("Luke Seng" / "Sneg Luk") agree on no level of either name as written (FEBRL 4:
#: a fifth of the true pairs Splink on the raw values linked and the project did not, bench/public_linkage.py).
#: Both names must cross: one alone says nothing of a swap where the surname is shared (twins "Rose Ross" and
#: "Jane Ross": Rose sounds like Ross), and it would count one likeness in both name comparisons.
SWAPPED_ALIKE = swapped_alike()


def given_as_other(name: str, other: str, column: Callable[[str, str], str] = _splink_column, left: str = "l",
                   right: str = "r") -> str:
    """SQL: name `name` of one record is the other record's `other` name, and the two records' `other` names differ.
    A swap of names leaves those apart; where they are the same, the crossing is no swap: "Ross Ross" and his twin
    "Jane Ross" share their surname, so his forename equal to it is a forename like any other, and "Ross Ross" and
    "Ross Smith" share a forename, which says nothing of their surnames."""
    x_l, x_r, y_l, y_r = (column(n, r) for n, r in ((name, left), (name, right), (other, left), (other, right)))
    return f"(({x_l} = {y_r} OR {x_r} = {y_l}) AND {y_l} IS DISTINCT FROM {y_r})"


#: Both ways round: which record is "l" follows the keyed identity token, so it changes with the key.
FORENAME_AS_SURNAME = given_as_other("fn", "sn")
SURNAME_AS_FORENAME = given_as_other("sn", "fn")


NAME_LEVELS: dict[str, list[Level]] = {
    "forename": [
        # 0.7799: the levels' m add up to 1 with "all other" at its floor, 0.0001 (1.0201 before stop 37).
        ("exact full forename", _eq("fn_full"), 0.7799, 0.002),
        ("exact first forename or nickname", _eq("fn"), 0.10, 0.004),
        ("forename given as surname", FORENAME_AS_SURNAME, 0.02, 0.0002),
        ("phonetic", _eq("fn_ph"), 0.03, 0.01),
        ("first three letters", _eq("fn3"), 0.02, 0.03),
        ("last three letters", _eq("fn_l3"), 0.01, 0.03),
        ("same letters in another order", _eq("fn_srt"), 0.01, 0.001),
        ("names swapped, alike", SWAPPED_ALIKE, 0.01, 0.0001),
        ("initial", _eq("fn_i"), 0.02, 0.07),
    ],
    "surname": [
        ("exact surname", _eq("sn"), 0.84, 0.001),  # 0.01 to the swapped level: "all other" keeps its 0.01
        ("surname given as forename", SURNAME_AS_FORENAME, 0.02, 0.0002),
        ("phonetic", _eq("sn_ph"), 0.05, 0.004),
        ("first and last three letters", _eq("sn3", "sn_l3"), 0.02, 0.0008),
        ("same letters in another order", _eq("sn_srt"), 0.01, 0.0005),
        ("first three letters", _eq("sn3"), 0.02, 0.02),
        ("last three letters", _eq("sn_l3"), 0.02, 0.03),
        ("names swapped, alike", SWAPPED_ALIKE, 0.01, 0.0001),
    ],
}
DOB_LEVELS: list[Level] = [
    ("exact date of birth", _eq("dob"), 0.93, 0.0001),
    ("day and month swapped", "dob_sw_l = dob_r", 0.01, 0.00001),
    ("year and month", _eq("dob_y", "dob_m"), 0.02, 0.001),
    ("year and day", _eq("dob_y", "dob_d"), 0.015, 0.0005),
    ("month and day", _eq("dob_m", "dob_d"), 0.015, 0.003),
    ("year", _eq("dob_y"), 0.005, 0.015),
]
POSTCODE_LEVELS: list[Level] = [
    ("exact postcode", _eq("pc"), 0.60, 0.0005),
    ("postcode sector", _eq("pc_sec"), 0.08, 0.005),
    ("postcode district", _eq("pc_dist"), 0.10, 0.03),
]
#: The address line's house number and street (person evidence beside the postcode). A household shares
#: its house, its postcode and mostly its surname: for a pair whose surnames agree at any level (a typo
#: included), the same house says little more, so that level's m and u are fixed (`FIXED`) at a small
#: weight. Counted as if strangers shared the house (u by random sampling), relatives were false merges of
#: 1.8-2.4% of persons on `bench/linkage.py --persons 20000` (0.2-0.3% without address evidence).
ADDRESS_LEVELS: list[Level] = [
    ("house number and street, a surname alike", f"{_eq('ad_no', 'ad_st')} AND ("
     + " OR ".join(_eq(c) for c in ("sn", "sn_ph", "sn3", "sn_l3", "sn_srt")) + ")", 0.60, 0.30),
    ("house number and street", _eq("ad_no", "ad_st"), 0.15, 0.0001),
    ("house number and the street's first letters", _eq("ad_no", "ad_st5"), 0.05, 0.00005),
    ("same street", _eq("ad_st"), 0.06, 0.002),
    ("house number", _eq("ad_no"), 0.04, 0.03),
]
#: Levels whose m and u training cannot measure (conditional on other fields agreeing): kept as set.
FIXED = {"house number and street, a surname alike"}
LOCALITY_LEVELS: list[Level] = [("same locality", _eq("ad_loc"), 0.85, 0.01)]
SEX_LEVELS: list[Level] = [("same sex", _eq("sex"), 0.97, 0.5)]
#: m of "all other" for an identifier (differing identifiers: very strong evidence against); the same identifier
#: takes the rest, and `_comparison` gives "all other" what the levels leave.
STRONG_CONFLICT_M = 0.0005
STRONG_LEVELS: list[Level] = [("same identifier", "{c}_l = {c}_r", 1 - STRONG_CONFLICT_M, 0.0000001)]
LOCAL_LEVELS: list[Level] = [("same partner reference", "local_id_l = local_id_r", 1 - STRONG_CONFLICT_M, 0.0000005)]

#: Candidate pairs: records sharing one of these (on tokens) are compared. Cheap and selective.
#: Splink joins its input once per rule and checks every earlier rule on every pair a rule's join yields, so
#: the cost is (pairs the join's equalities yield) x (rules before it). Rules whose join stays selective with
#: fewer equalities are one rule with the alternatives in OR (each holds because one token implies a coarser
#: one: pc -> pc_sec -> pc_dist, sn -> sn3); a fold that would join on a coarse key alone (a forename in a
#: district, a surname in a birth year: 63M and 42M pairs at 3M rows) is not made. Blocking on the 1M-row bench
#: extract's identities 3.9-4.7 s -> 1.6 s, on the 3M one's 48-55 s -> 21.7 s, same pairs as the single rules
#: (tests/unit/linkage/test_blocking_rules.py holds them).
#: Some likeness of the person for the address rules: a sound, first or last letters or the letters of a name, a
#: name given as the other, the birth year, or day and month. A house holds a household, and a hostel or care home
#: holds hundreds of people: without it, the address rules joined 1.85M pairs of the 3M-row bench extract's
#: 701,339 identities (43% of all pairs) to score, almost all of two people who share a home; with it 0.34M and 0.36M.
#: A pair with none of these, and a forename, surname and date of birth on both records, has each of them at
#: its weakest level. (A missing one weighs nothing either way: FEBRL's pairs of one house with a date of birth
#: missing link on the house, bench/public_linkage.py.)
PERSON_HINT = "(" + " OR ".join([
    *(f"l.{c} = r.{c}" for c in ("fn_ph", "sn_ph", "fn3", "sn3", "fn_l3", "sn_l3", "fn_srt", "sn_srt", "dob_y")),
    "l.fn = r.sn", "l.sn = r.fn", "(l.dob_m = r.dob_m AND l.dob_d = r.dob_d)",
    *(f"l.{c} IS NULL OR r.{c} IS NULL" for c in ("fn", "sn", "dob"))]) + ")"
BLOCKING_RULES = [
    "l.nhs = r.nhs", "l.ni = r.ni", "l.uln = r.uln", "l.shared_ref = r.shared_ref", "l.local_id = r.local_id",
    # Same date of birth and one more field: surname or forename sound, postcode district (so postcode),
    # or forename and the first letters of the surname.
    "l.dob = r.dob AND (l.sn_ph = r.sn_ph OR l.fn_ph = r.fn_ph OR l.pc_dist = r.pc_dist"
    " OR (l.fn = r.fn AND l.sn3 = r.sn3) OR l.fn_full = r.sn OR l.sn = r.fn_full)",
    # Forename and surname swapped, whatever the date of birth (missing or mistyped on one of them as well: 6
    # of febrl4's 60 pairs left apart; Splink's own FEBRL examples block on the swap alone).
    "l.fn = r.sn AND l.sn = r.fn",
    # For people with few records, no date of birth or two fields mistyped (bench/public_linkage.py: recall
    # +0.02-0.03 on FEBRL): the same forename and postcode, or forename, surname's first letters and district
    # (which holds the same forename and surname in one sector).
    "l.fn = r.fn AND l.pc = r.pc",
    "l.fn = r.fn AND l.sn3 = r.sn3 AND l.pc_dist = r.pc_dist",
    "l.fn = r.fn AND l.sn = r.sn AND l.dob_y = r.dob_y",
    # fn3 is the first word's letters, fn its nickname-canonical form ("BOB" -> ROBERT): neither implies the other.
    "l.fn3 = r.fn3 AND l.sn = r.sn AND l.dob_y = r.dob_y AND l.dob_m = r.dob_m",
    "l.sn_ph = r.sn_ph AND l.fn_ph = r.fn_ph AND l.dob_m = r.dob_m AND l.dob_d = r.dob_d",
    "l.dob_sw = r.dob AND l.sn_ph = r.sn_ph",
    "l.sn = r.sn AND l.pc = r.pc",
    # The same house (number and street), or number and the street's first letters in one district: names
    # and date of birth both mistyped, or the street's type; with some hint of the same person (`PERSON_HINT`).
    f"l.ad_st = r.ad_st AND l.ad_no = r.ad_no AND {PERSON_HINT}",
    f"l.ad_st5 = r.ad_st5 AND l.ad_no = r.ad_no AND l.pc_dist = r.pc_dist AND {PERSON_HINT}",
    "l.fn_full = r.sn AND l.sn = r.fn_full",
    "l.fn = r.fn AND l.sn = r.sn AND l.ad_no = r.ad_no",
    "l.pc = r.pc AND l.fn3 = r.fn3 AND l.sn3 = r.sn3",
]
# EM sessions: each fixes some fields by blocking and estimates the others' m values.
TRAINING_BLOCKS = ["l.dob = r.dob", "l.fn = r.fn AND l.sn = r.sn"]
#: Pairs taken as matches to estimate the prior (with an assumed recall of 0.8): a shared strong or
#: partner identifier, or three of forename, surname, date of birth and postcode. Training sees
#: identities, and records agreeing on all four are already one identity, so the matching pairs left
#: mostly differ in one field: "name and date of birth" alone finds a fraction of them (the prior came
#: out 5-11x too low on FEBRL, 2.7x on the heavy-noise generator: bench/public_linkage.py).
PRIOR_RULES = [
    *(f"l.{c} = r.{c}" for c in (*STRONG, "local_id")),
    "l.fn = r.fn AND l.sn = r.sn AND l.dob = r.dob",
    "l.fn = r.fn AND l.sn = r.sn AND l.pc = r.pc",
    "l.fn = r.fn AND l.dob = r.dob AND l.pc = r.pc",
    "l.sn = r.sn AND l.dob = r.dob AND l.pc = r.pc",
]


def _comparison(name: str, cols: list[str], levels: list[Level]) -> dict[str, Any]:
    null = " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in cols)
    out: list[dict[str, Any]] = [{"sql_condition": null, "label_for_charts": "null", "is_null_level": True}]
    for label, sql, m, u in levels:
        level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label, "m_probability": m,
                                 "u_probability": u}
        if label in FIXED:
            level["fix_m_probability"] = level["fix_u_probability"] = True
        out.append(level)
    else_m = max(1e-4, 1.0 - sum(lv[2] for lv in levels))
    else_u = max(1e-4, 1.0 - sum(lv[3] for lv in levels))
    out.append({"sql_condition": "ELSE", "label_for_charts": "all other", "m_probability": else_m,
                "u_probability": else_u})
    return {"output_column_name": name, "comparison_levels": out}


def settings(prior: float = 1e-4) -> dict[str, Any]:
    """Splink settings with prior m/u values (used until a trained model is stored)."""
    comparisons = [
        _comparison("forename", ["fn"], NAME_LEVELS["forename"]),
        _comparison("surname", ["sn"], NAME_LEVELS["surname"]),
        _comparison("date_of_birth", ["dob"], DOB_LEVELS),
        _comparison("postcode", ["pc_dist"], POSTCODE_LEVELS),
        _comparison("address", ["ad_st"], ADDRESS_LEVELS),
        _comparison("locality", ["ad_loc"], LOCALITY_LEVELS),
        _comparison("sex", ["sex"], SEX_LEVELS),
        _comparison("local_id", ["local_id"], LOCAL_LEVELS),
    ]
    for sid in STRONG:
        levels = [(lab, sql.format(c=sid), m, u) for lab, sql, m, u in STRONG_LEVELS]
        comparisons.append(_comparison(sid, [sid], levels))
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": IDENT,
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [{"blocking_rule": b} for b in BLOCKING_RULES],
        "probability_two_random_records_match": prior,
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "max_iterations": 20,
    }


def with_current_conditions(model: dict[str, Any]) -> dict[str, Any]:
    """A stored model with each level's SQL as the current settings write it (matched by comparison and label),
    its trained m and u kept. A level's condition is how tokens are compared, not something learned: a stored
    model kept the one-way name-swap conditions that made scores depend on the key."""
    current = {(c["output_column_name"], lv["label_for_charts"]): lv["sql_condition"]
               for c in settings()["comparisons"] for lv in c["comparison_levels"]}
    out = copy.deepcopy(model)
    for comparison in out.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            sql = current.get((comparison.get("output_column_name"), level.get("label_for_charts")))
            if sql is not None:
                level["sql_condition"] = sql
    return out


#: `linkage.twin_share` (project.yaml; `forename_conflict: auto`): the largest share of EM's matching pairs whose
#: forenames share nothing that twins can explain. About 1 in 60 UK maternities is a twin birth (some 3% of people
#: are twins), and a pair of twins looks to EM like one person recorded twice (same surname, date of birth and
#: address). Trained m of the forename's "all other" level: 0.010 on the generator's default noise and 0.037 on its
#: heavy noise (20,000 persons: typos and nicknames, no replaced forenames), 0.099 on FEBRL 4 and 0.157 on FEBRL 3
#: (forenames replaced outright in some duplicates), bench/public_linkage.py.
TWIN_SHARE = ProtocolLinkage.model_fields["twin_share"].default


def forename_level_m(model: dict[str, Any]) -> float | None:
    """m of the forename comparison's "all other" level (forenames that share nothing), as the model holds it."""
    for comparison in model.get("comparisons", []):
        if comparison.get("output_column_name") == "forename":
            for level in comparison.get("comparison_levels", []):
                if level.get("label_for_charts") == "all other":
                    return float(level["m_probability"])
    return None


def forename_rule(model: dict[str, Any], conflict: str, twin_share: float = TWIN_SHARE) -> tuple[bool, dict[str, Any]]:
    """Whether forenames that share nothing veto a link, and the model to score with.

    `veto` and `evidence` are the project's choice. `auto` reads the trained model: EM counts twins among its
    matches, so a share of matching pairs with forenames sharing nothing up to `twin_share` is what twins explain
    and the veto stands (the priors give 0.0001); above it, the data replaces forenames more often than twins
    could account for, and the level is weighed as evidence with the twins' share taken out of its m (the other
    levels' m scaled so they still add up to one).
    """
    if conflict != "auto":
        return conflict == "veto", model
    m = forename_level_m(model)
    if m is None or m <= twin_share:
        return True, model
    out = copy.deepcopy(model)
    for comparison in out["comparisons"]:
        if comparison.get("output_column_name") == "forename":
            for level in comparison["comparison_levels"]:
                if level.get("is_null_level") or "m_probability" not in level:
                    continue
                level["m_probability"] = (m - twin_share if level.get("label_for_charts") == "all other"
                                          else float(level["m_probability"])) / (1 - twin_share)
    return False, out


#: Exact levels whose weight follows the token's frequency (column of its lookup, see frequencies.py).
TF_LEVELS = {"exact full forename": "fn_full", "exact surname": "sn", "exact postcode": "pc", "same street": "ad_st"}


def with_term_frequencies(model: dict[str, Any], on: bool) -> dict[str, Any]:
    """The model with (or without) term-frequency adjustment on the exact name and postcode levels.

    Applied at scoring time, so a stored model (trained without it) serves either way and the project
    can switch it off (`linkage.term_frequencies: false`) without retraining.
    """
    out = copy.deepcopy(model)
    for comparison in out.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            column = TF_LEVELS.get(level.get("label_for_charts", ""))
            if column is None:
                continue
            for name in ("tf_adjustment_column", "tf_adjustment_weight", "tf_minimum_u_value"):
                level.pop(name, None)
            if on:
                level["tf_adjustment_column"] = column
                level["tf_adjustment_weight"] = 1.0
    return out


def uses_term_frequencies(model: dict[str, Any]) -> bool:
    return any("tf_adjustment_column" in level for c in model.get("comparisons", [])
               for level in c.get("comparison_levels", []))


def quiet_splink() -> None:
    """Splink logs SQL and progress at INFO: tokens only, but keep the task logs short."""
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _linker(table: Any, model: dict[str, Any]) -> Any:
    from splink import Linker

    return Linker(table, model, log_level=logging.WARNING)


def train(identities: pd.DataFrame) -> dict[str, Any]:
    """Trained model, or the priors when the data cannot support training (too few links to learn from)."""
    if len(identities) > TRAIN_SAMPLE:
        identities = identities.sample(TRAIN_SAMPLE, random_state=1)
    try:
        return sanitise(_train(identities))
    except (ValueError, ZeroDivisionError, ArithmeticError) as exc:
        logging.getLogger(__name__).warning("linkage model not trained (%s): prior m/u values kept",
                                            type(exc).__name__)
        return settings()


def _train(identities: pd.DataFrame) -> dict[str, Any]:
    """Estimate u (random sampling) and m (EM, no labels) on token identities; returns the model.

    The prior that two random identities match comes from deterministic rules (`PRIOR_RULES`); with
    too few such pairs the shipped prior stays.
    """
    from ptp_pipeline.warehouse.duckdb_backend import scratch_duckdb

    n = len(identities)
    with scratch_duckdb() as con:
        from splink import DuckDBAPI

        quiet_splink()
        # Identities numbered in the order they come (first seen first), not by their keyed tokens: Splink's
        # random sampling of pairs for u follows the ids, so with the tokens each key drew other pairs (u of
        # one level 0.00026 with one key, 0.00002 with another: FEBRL's persons moved by up to 2 of 2,000).
        numbered = identities.assign(**{IDENT: range(len(identities))})
        table = DuckDBAPI(connection=con).register(token_table(con, "ptp_identities", numbered),
                                                   dataset_display_name="identities")
        linker = _linker(table, settings())
        with contextlib.suppress(Exception):  # too few deterministic matches: keep the prior
            linker.training.estimate_probability_two_random_records_match(PRIOR_RULES, recall=0.8)
        linker.training.estimate_u_using_random_sampling(max_pairs=min(2_000_000, max(n * 20, 100_000)), seed=1,
                                                         num_chunks=1)  # one pass: same u, 40% less CPU
        model: dict[str, Any] = linker.misc.save_model_to_json()
        for rule in TRAINING_BLOCKS:
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(rule, fix_u_probabilities=True)
            except Exception:
                # Splink (5.0) takes the block's comparisons out of the linker's model before a session that
                # then fails (no pairs in the block): carry on from the model as it was, all comparisons in.
                linker = _linker(table, model)
                continue
            model = linker.misc.save_model_to_json()
    return model


def sanitise(model: dict[str, Any]) -> dict[str, Any]:
    """Keep every probability strictly inside (0, 1): EM can drive an unobserved level to 0 or 1,
    which Splink cannot turn into a weight."""
    eps = 1e-9
    model["probability_two_random_records_match"] = min(max(
        float(model.get("probability_two_random_records_match") or 1e-4), 1e-12), 0.5)
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            for name in ("m_probability", "u_probability"):
                if name in level and level[name] is not None:
                    level[name] = min(max(float(level[name]), eps), 1 - eps)
    return model
