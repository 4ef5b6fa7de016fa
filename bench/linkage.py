"""Benchmark: pairwise precision and recall of person linkage against the synthetic ground truth.

Not a test: run on demand, e.g.

    .venv/bin/python bench/linkage.py --persons 50000 --noise default|heavy|no-nhs [--cascade-only]

It generates a synthetic partnership, ingests every extract through the real pipeline into a
fresh DuckDB warehouse, then compares persons with the truth, beside two baselines computed on
the raw extracts: NHS number only, and exact name + date of birth as written. Pairs are counted
over records (valid, non-duplicate rows), both overall and across agencies only; persons are
counted against the truth, with the split rate (true persons spread over more than one linked
person) and the false-merge rate (linked persons holding more than one true person).

Noise: `default` is the generator's calibration; `heavy` has typos 15%, nicknames 15%, date-of-birth
errors 5%, movers 30%, postcode missing 6% and NHS numbers on 40% of health rows only; `no-nhs`
is the default with no NHS number anywhere. `--cascade-only` runs the keyed cascade without the
probabilistic pass (project.yaml `linkage.probabilistic: false`), for comparison;
`--no-term-frequencies` runs both passes without the term-frequency adjustment
(`linkage.term_frequencies: false`).
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import pair_counts, peak_rss_mb

from ptp_pipeline.pipeline import ingest
from ptp_pipeline.privacy.normalise import normalise_nhs_number
from ptp_pipeline.runtime import Runtime
from ptp_pipeline.settings import REPO_PROTOCOLS, load_settings
from ptp_pipeline.synthetic import SyntheticConfig, generate

NAME_DOB = {
    "council": ("forename", "surname", "date_of_birth"),
    "health": ("given_name", "family_name", "dob"),
    "police": ("forenames", "surname", "birth_date"),
}


NOISE: dict[str, dict[str, float]] = {
    "default": {},
    "heavy": {"typo_rate": 0.15, "nickname_rate": 0.15, "dob_error_rate": 0.05, "moved_rate": 0.30,
              "postcode_missing_rate": 0.06, "nhs_rate_health": 0.40},
    "no-nhs": {"nhs_rate_council": 0.0, "nhs_rate_health": 0.0, "nhs_rate_police": 0.0},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--noise", choices=list(NOISE), default="default")
    parser.add_argument("--cascade-only", action="store_true")
    parser.add_argument("--no-term-frequencies", action="store_true")
    parser.add_argument("--forename-conflict", choices=["auto", "veto", "evidence"],
                        help="project.yaml linkage.forename_conflict (default: as shipped)")
    parser.add_argument("--threshold", type=float, help="project.yaml linkage.threshold (default: as shipped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        t0 = time.perf_counter()
        data = generate(home / "synthetic", SyntheticConfig(n_persons=args.persons, seed=args.seed,
                                                            **NOISE[args.noise]))
        t_gen = time.perf_counter() - t0
        protocols = home / "protocols"
        shutil.copytree(REPO_PROTOCOLS, protocols)
        project = protocols / "project.yaml"
        if args.cascade_only:
            project.write_text(project.read_text().replace("linkage:\n", "linkage:\n  probabilistic: false\n", 1))
        if args.no_term_frequencies:
            project.write_text(project.read_text().replace("linkage:\n", "linkage:\n  term_frequencies: false\n", 1))
        if args.forename_conflict:
            project.write_text(project.read_text().replace(
                "linkage:\n", f"linkage:\n  forename_conflict: {args.forename_conflict}\n", 1))
        if args.threshold is not None:
            review = min(0.5, args.threshold * 0.6)
            project.write_text(project.read_text().replace(
                "linkage:\n", f"linkage:\n  threshold: {args.threshold}\n  review_threshold: {review}\n", 1))
        rt = Runtime(load_settings({"PTP_HOME": str(home / "ptp"), "PTP_KEY": secrets.token_hex(32),
                                    "PTP_PROTOCOLS_DIR": str(protocols)}))
        t0 = time.perf_counter()
        rows = 0
        frames = []
        for extract in data.extracts:
            outcome = ingest(rt, extract.path, extract.partner, extract.dataset)
            rows += extract.rows
            truth = pd.read_csv(data.truth_dir / f"{extract.partner}_{extract.dataset}.csv")
            raw = pd.read_csv(extract.path, dtype=str, keep_default_na=False)
            f, s, d = NAME_DOB[extract.partner]
            truth["agency"] = extract.partner
            truth["nhs"] = normalise_nhs_number(raw["nhs_number"])["nhs_number"].to_numpy()
            truth["name_dob"] = (raw[f] + "|" + raw[s] + "|" + raw[d]).to_numpy()
            truth["extract_id"] = outcome.extract_id
            frames.append(truth)
        t_ingest = time.perf_counter() - t0
        truth = pd.concat(frames, ignore_index=True)
        truth = truth[~truth.is_duplicate & ~truth.is_invalid]
        linked = rt.warehouse.query("SELECT extract_id, source_row, person_id FROM restricted.link_record")
        truth = truth.merge(linked, on=["extract_id", "source_row"], how="left")
        missing = int(truth.person_id_y.isna().sum())
        method = ("ptp cascade only (keyed tokens)" if args.cascade_only else
                  f"ptp cascade + Splink (keyed tokens{', no TF' if args.no_term_frequencies else ', TF'})")
        results = {
            method: pair_counts(truth.person_id_y, truth.person_id_x, truth.agency),
            "NHS number only": pair_counts(truth.nhs, truth.person_id_x, truth.agency),
            "exact name + DOB (raw)": pair_counts(truth.name_dob.where(truth.name_dob != "||"), truth.person_id_x,
                                                  truth.agency),
        }
        groups = pd.read_csv(data.truth_dir / "persons.csv", usecols=["person_id", "name_group"])
        truth = truth.merge(groups.rename(columns={"person_id": "person_id_x"}), on="person_id_x", how="left")
        by_group = {g: pair_counts(t.person_id_y, t.person_id_x, t.agency) for g, t in truth.groupby("name_group")}
        persons = rt.warehouse.scalar("SELECT count(*) FROM shared.person")
        linked_truth = truth.dropna(subset=["person_id_y"])
        split = float((linked_truth.groupby("person_id_x").person_id_y.nunique() > 1).mean())
        merged = float((linked_truth.groupby("person_id_y").person_id_x.nunique() > 1).mean())
        true_persons = int(linked_truth.person_id_x.nunique())
        rt.close()
    print(f"persons (truth) {args.persons:,}; rows {rows:,}; persons linked {persons:,}; "
          f"valid rows not linked (quarantined) {missing:,}")
    print(f"generate {t_gen:.1f} s; ingest all stages {t_ingest:.1f} s ({rows / t_ingest:,.0f} rows/s); "
          f"peak RSS {peak_rss_mb():,} MB")
    print(f"noise {args.noise}: persons linked {persons:,} for {true_persons:,} true persons with linked records "
          f"({(persons - true_persons) / true_persons:+.2%}); split rate {split:.4f}; false-merge rate {merged:.4f}")
    for name, r in results.items():
        f1 = 2 * r["precision"] * r["recall"] / (r["precision"] + r["recall"]) if r["precision"] + r["recall"] else 0
        print(f"{name}: F1 {f1:.4f}")
    print("| method | precision | recall | cross-agency precision | cross-agency recall |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['precision']:.4f} | {r['recall']:.4f} | {r['x_precision']:.4f} | {r['x_recall']:.4f} |")
    print("\nBias check, ptp cascade by the true person's name group (pairs within the group):")
    print("| name group | precision | recall | cross-agency recall |")
    print("|---|---:|---:|---:|")
    for g, r in by_group.items():
        print(f"| {g} | {r['precision']:.4f} | {r['recall']:.4f} | {r['x_recall']:.4f} |")


if __name__ == "__main__":
    main()
