"""Sample extracts for protocol tests (importable as `protocol_samples`): written fresh in each test."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from helpers import write_csv

from ptp_pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]

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


def neet_theme(protocols: Path, sample: Path) -> None:
    """What a data officer writes: project.yaml for the theme, then the college's protocol drafted and agreed.

    `sample` is a `college_sample`; the theme goes in `protocols/neet/` beside the deployment's other themes.
    """
    folder = protocols / "neet"
    folder.mkdir()
    project = (REPO / "protocols" / "project.yaml").read_text(encoding="utf-8")
    project = project.replace("id: leeds-ptp", "id: leeds-neet").replace(
        "name: Leeds Total Place partnership (synthetic example)", "name: Leeds NEET partnership (synthetic example)")
    (folder / "project.yaml").write_text(project, encoding="utf-8")
    out = folder / "college_learners.yaml"
    assert main(["--theme", "neet", "protocol", "draft", str(sample), "--partner", "college", "--dataset", "learners",
                 "--organisation", "Leeds City College"]) == 0
    text = out.read_text(encoding="utf-8").replace("TO AGREE: ", "").replace("status: draft", "status: approved")
    text = text.replace("signatories: []", f"signatories: [{{name: D. Example, role: Data Protection Officer, "
                                           f"organisation: Leeds City College, date: {date.today()}}}]")
    out.write_text(text, encoding="utf-8")
    assert main(["--theme", "neet", "protocol", "validate"]) == 0
