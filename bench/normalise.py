"""Time each identifier normaliser on a synthetic extract (default 1,000,000 rows).

Run from the repository root: ``python bench/normalise.py [--rows N] [--repeat R]``. Prints the
median seconds per function. The data imitates a partner extract: NHS numbers nearly all
distinct in mixed layouts, postcodes, names and dates of birth repeating as they do in life,
plus one column of all-distinct names as the worst case for the per-distinct-value work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptp_pipeline.privacy.nhs_number import WEIGHTS
from ptp_pipeline.privacy.normalise import (
    canonical_forename,
    first_token,
    generalise_birth_date,
    normalise_name,
    normalise_nhs_number,
    normalise_postcode,
    parse_dates,
    soundex,
)

FORENAMES = ["William", "bill", "BOB", "Robert", "José", "Zoë", "Mary Ann", "Peggy", "Kate", "Mohammed", "Иван",
             "Aoife", "Siobhán", "Jean-Luc", "Dr. Ann", "mr  john", "Chloé", "Wei", "王芳", "Oliver"]  # fmt: skip
SURNAMES = ["Smith", "O'Brien", "Smith-Jones", "Nguyen", "Müller", "Khan", "Wójcik", "Петров", "Jones"]
LETTERS = np.array(list("ABCDEFGHJKLMNPRSTUWY"))


def make_extract(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Synthetic identifier columns with realistic repetition and mess."""
    nine = rng.integers(0, 10, size=(rows, 9))
    check = (11 - (nine * np.array(WEIGHTS)).sum(axis=1) % 11) % 11
    number = nine @ (10 ** np.arange(9, 0, -1)) + check  # check 10 leaves an invalid number in
    plain = pd.Series(number).astype(str).str.zfill(10)
    layout = rng.integers(0, 4, rows)
    nhs = plain.where(layout == 0, plain.str[:3] + " " + plain.str[3:6] + " " + plain.str[6:])
    nhs = nhs.where(layout != 2, plain.str[:3] + "-" + plain.str[3:6] + "-" + plain.str[6:])
    nhs = nhs.where(layout != 3, None)

    pool_size = 30_000
    outward = (
        pd.Series(LETTERS[rng.integers(0, 20, pool_size)])
        + pd.Series(LETTERS[rng.integers(0, 20, pool_size)])
        + pd.Series(rng.integers(1, 30, pool_size).astype(str))
    )
    inward = (
        pd.Series(rng.integers(0, 10, pool_size).astype(str))
        + pd.Series(LETTERS[rng.integers(0, 20, pool_size)])
        + pd.Series(LETTERS[rng.integers(0, 20, pool_size)])
    )
    pool = (outward + " " + inward).to_numpy()
    postcode = pd.Series(pool[rng.integers(0, pool_size, rows)])
    postcode = postcode.where(rng.random(rows) > 0.3, postcode.str.lower().str.replace(" ", "", regex=False))

    to_letters = str.maketrans("0123456789", "bcdfghklmn")
    forenames = pd.Series(np.array(FORENAMES)[rng.integers(0, len(FORENAMES), rows)])
    surnames = pd.Series(np.array(SURNAMES)[rng.integers(0, len(SURNAMES), rows)]) + pd.Series(
        rng.integers(0, 2_000, rows).astype(str)
    ).str.translate(to_letters)
    distinct = "X" + pd.Series(np.arange(rows).astype(str)).str.translate(to_letters)

    born = pd.Timestamp("1930-01-01") + pd.to_timedelta(rng.integers(0, 29_000, rows), unit="D")
    dob = pd.Series(born.strftime("%d/%m/%Y"))
    excel = pd.Series((born - pd.Timestamp("1899-12-30")).days.astype(str))
    return pd.DataFrame({"nhs": nhs, "postcode": postcode, "forename": forenames, "surname": surnames,
                         "name": forenames + " " + surnames,
                         "distinct": distinct, "dob": dob, "excel": excel})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = make_extract(args.rows, np.random.default_rng(20240601))
    dates = parse_dates(frame["dob"], ["%d/%m/%Y"])
    cases: dict[str, Callable[[], object]] = {
        "normalise_nhs_number": lambda: normalise_nhs_number(frame["nhs"]),
        "normalise_postcode": lambda: normalise_postcode(frame["postcode"]),
        "normalise_name (full names)": lambda: normalise_name(frame["name"]),
        "normalise_name (all distinct)": lambda: normalise_name(frame["distinct"]),
        "first_token": lambda: first_token(frame["forename"]),
        "canonical_forename": lambda: canonical_forename(frame["forename"]),
        "soundex (surnames)": lambda: soundex(frame["surname"]),
        "parse_dates %d/%m/%Y": lambda: parse_dates(frame["dob"], ["%d/%m/%Y"]),
        "parse_dates excel": lambda: parse_dates(frame["excel"], ["%Y-%m-%d", "excel"]),
        "generalise_birth_date year": lambda: generalise_birth_date(dates, "year"),
        "generalise_birth_date age_band_5": lambda: generalise_birth_date(dates, "age_band_5", at=date(2025, 1, 1)),
    }  # fmt: skip
    # CPU time beside wall time: on a shared machine, other work inflates the wall clock.
    print(f"{args.rows:,} rows, median of {args.repeat}; seconds (wall / CPU)")
    for name, case in cases.items():
        wall, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            case()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"{name:36s} {statistics.median(wall):6.3f} / {statistics.median(cpu):6.3f}")


if __name__ == "__main__":
    main()
