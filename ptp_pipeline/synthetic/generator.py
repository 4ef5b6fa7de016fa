"""``generate``: write the three partner extracts and their ground truth for one config.

Output (same config -> byte-identical files):
  landing/<partner>/<dataset>/<partner>_<dataset>_<start>_<end>.csv   the extracts
  truth/persons.csv                     the true person table (never in an extract)
  truth/households.csv                  person_id, address_id, from, to, household_id (blank when
                                        communal), communal_kind, role: one row per residence spell
  truth/<partner>_<dataset>.csv         source_row, person_id, is_duplicate, is_invalid
  truth/summary.json                    true counts and cost shares from valid, non-duplicate rows
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ptp_pipeline.synthetic.config import ExtractFile, SyntheticConfig, SyntheticResult
from ptp_pipeline.synthetic.events import build_events
from ptp_pipeline.synthetic.extracts import SPECS, render
from ptp_pipeline.synthetic.faults import FaultedExtract, add_faults
from ptp_pipeline.synthetic.households import residence_truth
from ptp_pipeline.synthetic.population import PARTNERS, build_population, day_number, persons_frame, stream

TOP_SHARE = 0.20  # "top 20% of people": the pilot's headline cost concentration


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """UTF-8, comma, minimal quoting, "\\n" line ends: stable bytes for a stable frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def top_share(totals: NDArray[np.int64], share: float = TOP_SHARE) -> tuple[NDArray[np.bool_], float]:
    """Mask of the top ``share`` of persons by cost (ties by person order) and their cost share."""
    k = round(share * totals.size)
    order = np.argsort(-totals, kind="stable")
    top = np.zeros(totals.size, dtype=bool)
    top[order[:k]] = True
    total = int(totals.sum())
    return top, (int(totals[top].sum()) / total if total else 0.0)


def _summary(
    config: SyntheticConfig,
    known: NDArray[np.bool_],
    totals: NDArray[np.int64],
    by_agency: dict[str, int],
    top: NDArray[np.bool_],
    share: float,
    extracts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """True figures a perfect pipeline should report back, within rounding."""
    n_agencies = known.sum(axis=1)
    any_ = int(np.sum(n_agencies >= 1))
    two = int(np.sum(n_agencies >= 2))
    three = int(np.sum(n_agencies == 3))
    return {
        "config": config.as_json(),
        "persons": int(totals.size),
        "persons_per_agency": {p: int(known[:, j].sum()) for j, p in enumerate(PARTNERS)},
        "known_to_any": any_,
        "known_to_2_plus": two,
        "known_to_all_3": three,
        "share_known_to_2_plus": round(two / any_, 6) if any_ else 0.0,
        "share_known_to_all_3": round(three / any_, 6) if any_ else 0.0,
        "total_cost": round(int(totals.sum()) / 100, 2),
        "cost_by_agency": {p: round(v / 100, 2) for p, v in by_agency.items()},
        "top20_persons": int(top.sum()),
        "top20_cost": round(int(totals[top].sum()) / 100, 2),
        "top20_cost_share": round(share, 6),
        "extracts": extracts,
    }


def generate(out_dir: Path, config: SyntheticConfig = SyntheticConfig()) -> SyntheticResult:  # noqa: B008
    """Write synthetic partner extracts plus ground truth under ``out_dir``; deterministic per config."""
    out_dir = Path(out_dir)
    truth_dir = out_dir / "truth"
    pop = build_population(config)
    person_ids = pop.person_id
    known = np.zeros((pop.n, len(PARTNERS)), dtype=bool)
    totals = np.zeros(pop.n, dtype=np.int64)
    by_agency: dict[str, int] = {}
    written: list[ExtractFile] = []
    stats: dict[str, dict[str, Any]] = {}
    for j, partner in enumerate(PARTNERS):
        spec = SPECS[partner]
        events = build_events(pop, partner, config)
        faulted: FaultedExtract = add_faults(
            render(pop, events, spec, config),
            events.person,
            events.cost_pence,
            pop.nhs_number,
            spec,
            config.duplicate_rate,
            config.invalid_rate,
            stream(config.seed, f"faults:{partner}"),
        )
        path = out_dir / "landing" / partner / spec.dataset / spec.file_name(config)
        _write_csv(faulted.frame, path)
        rows = len(faulted.frame)
        truth = pd.DataFrame(
            {
                "source_row": np.arange(1, rows + 1),
                "person_id": person_ids[faulted.person],
                "is_duplicate": faulted.is_duplicate,
                "is_invalid": faulted.is_invalid,
            }
        )
        _write_csv(truth, truth_dir / f"{partner}_{spec.dataset}.csv")
        ok = ~faulted.is_duplicate & ~faulted.is_invalid
        np.add.at(totals, faulted.person[ok], faulted.cost_pence[ok])
        known[:, j] = np.bincount(faulted.person[ok], minlength=pop.n) > 0
        by_agency[partner] = int(faulted.cost_pence[ok].sum())
        written.append(ExtractFile(partner=partner, dataset=spec.dataset, path=path, rows=rows))
        stats[f"{partner}_{spec.dataset}"] = {
            "file": path.relative_to(out_dir).as_posix(),
            "rows": rows,
            "valid_rows": int(ok.sum()),
            "duplicate_rows": int(faulted.is_duplicate.sum()),
            "invalid_rows": int(faulted.is_invalid.sum()),
            "invalid_kinds": faulted.invalid_kinds,
        }
    top, share = top_share(totals)
    persons = persons_frame(pop, totals, top)
    _write_csv(persons, truth_dir / "persons.csv")
    spells = residence_truth(pop.living, pop.moved_on, day_number(config.start), day_number(config.end),
                             person_ids)
    _write_csv(spells, truth_dir / "households.csv")
    summary = _summary(config, known, totals, by_agency, top, share, stats)
    (truth_dir / "summary.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8", newline="\n"
    )
    return SyntheticResult(extracts=written, truth_dir=truth_dir, persons=persons)
