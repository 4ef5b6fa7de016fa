"""Sample extracts for protocol tests (importable as `protocol_samples`): written fresh in each test."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from helpers import write_csv

SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Wright"]
FIRST = ["Aisha", "Ben", "Chloe", "Dylan", "Ella", "Finn", "Grace", "Harry", "Isla", "Jack"]
NOTES = ["Needs support", "Attended", "Did not attend", "Referred on"]


def college_sample(tmp_path: Path, dob_format: str = "%d/%m/%Y", dob_name: str = "DateOfBirth") -> Path:
    """A further-education college's extract: 16-18-year-olds, their contacts with an adviser."""
    rng = random.Random(17)
    today = date.today()
    header = [dob_name, "EventDate", "Last Name", "First Name", "learner number", "NI number", "adviser notes",
              "Outcome"]
    rows = []
    for i in range(80):
        born = today - timedelta(days=rng.randint(16 * 365, 18 * 365))
        seen = today - timedelta(days=rng.randint(10, 300))
        ni = f"{rng.choice('ABCEHJKLMNPRSTWXYZ')}{rng.choice('ABCEHJKLMNPRSTWXYZ')}{rng.randint(0, 999999):06d}A"
        rows.append([born.strftime(dob_format), seen.strftime("%d/%m/%Y"), rng.choice(SURNAMES), rng.choice(FIRST),
                     f"{4000000000 + i * 7919}", ni, rng.choice(NOTES), rng.choice(["education", "employment",
                                                                                     "training", "neet"])])
    return write_csv(tmp_path / "college.csv", header, rows)
