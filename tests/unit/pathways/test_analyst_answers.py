"""Every SQL example in docs/analysts.md, run on a small hand-made partnership, gives the answer worked out by hand.

The partnership (default project rules: min_count 8, round_to 5; research min_k 5, month periods, 5-year birth
bands, area level, cost bands 0-50-100-250-500-...), 40 persons, all women born 1980-1983 in LS6:

| group | persons | police arrest (£100) | health A&E (£250) |
|---|---|---|---|
| P | 12 | 05/04/2024 | 2024-04-15 (10 days later, same month) |
| R | 3 | 05/04/2024 | 2024-06-20 (76 days, two months later) |
| S | 2 | 10/05/2024 | 2024-06-02 (23 days, next month) |
| Q | 10 | 10/05/2024 | - |
| H | 13 | - | 2024-06-20 |

Worked by hand (docs/analysts.md "SQL examples", in order):

1. Top 20% = 8 persons, all costing £350: 2,800 of £10,200 = 0.2745 -> 0.275 (the curve keeps every 20th
   percent: ceil(100 x 8 / 40) = 20).
2. Police -> health: 12 + 3 + 2 = 17 persons -> 15; days 10 (x12), 23 (x2), 76 (x3): median (9th of 17) 10.
3. One agency: Q + H = 23 -> 25 persons, (£1,000 + £3,250) / £10,200 = 0.42; two agencies: 17 -> 15, 0.58.
4. April: police 15 -> 15, health 12 -> 10; May: police 12 -> 10, health 0; June: police 0, health 18 -> 20
   (no count in 1-7, so nothing withheld and months are kept, not quarters; zero is published).
5. Research: group S (2 persons alike on agencies and first-seen month May) stays below min_k 5 whatever is
   suppressed, so S leaves the tier with its events. A&E in the same or the next month after police: P = 12
   (R is two months later, S is gone).
6. Events left in the tier: police (P 12 + R 3 + Q 10) 25 in band 100-250; health (P 12 + R 3 + H 13) 28 in 250-500.
7. Persons: one agency Q + H = 23, two agencies P + R = 15, all in birth band 1980-1984.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

from helpers import assert_conserved, write_csv

from ptp_pipeline import pipeline
from ptp_pipeline.pathways import rebuild
from ptp_pipeline.privacy.nhs_number import check_digit
from ptp_pipeline.runtime import Runtime

DOC = Path(__file__).resolve().parents[3] / "docs" / "analysts.md"
QUERIES = [q.strip().rstrip(";") for q in re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)
           if q.lstrip().upper().startswith("SELECT")]

POLICE = ["surname", "forenames", "birth_date", "home_postcode", "sex", "nhs_number", "occurred_on",
          "incident_type", "estimated_cost"]
HEALTH = ["nhs_number", "given_name", "family_name", "dob", "postcode", "sex", "attendance_date", "activity",
          "alcohol_related", "drug_related", "tariff_cost"]
# group -> (persons, police date or None, health date or None)
GROUPS = {"P": (12, "05/04/2024", "2024-04-15"), "R": (3, "05/04/2024", "2024-06-20"),
          "S": (2, "10/05/2024", "2024-06-02"), "Q": (10, "10/05/2024", None), "H": (13, None, "2024-06-20")}
FORENAMES = ["Ada", "Beth", "Cora", "Dina", "Edna", "Faye", "Gwen", "Hope", "Iris", "Jane", "Kate", "Lena",
             "Mona", "Nora", "Opal", "Pia", "Rosa", "Sian", "Tess", "Una"]
SURNAMES = ["Ashworth", "Blenkinsop", "Cartwright", "Dunderdale"]

# The doc's SQL examples, in order, and their answers worked out above (rows in the query's order; the
# agency overlap query has no ORDER BY, so its rows are compared sorted).
EXPECTED: list[list[tuple[object, ...]]] = [
    [(0.275,)],
    [("health", 15, 10)],
    [("any 1 agency", 25, 0.42), ("any 2 agencies", 15, 0.58)],
    [("2024-04", "health", 10), ("2024-04", "police", 15), ("2024-05", "health", 0), ("2024-05", "police", 10),
     ("2024-06", "health", 20), ("2024-06", "police", 0)],
    [(12,)],
    [("health", "250-500", 28), ("police", "100-250", 25)],
    [(1, "1980-1984", 23), (2, "1980-1984", 15)],
]


def _nhs(i: int) -> str:
    stem = 401_000_000 + 17 * i
    while check_digit(str(stem)) is None:
        stem += 1
    return f"{stem}{check_digit(str(stem))}"


def _extracts(folder: Path) -> tuple[Path, Path]:
    police: list[list[str]] = []
    health: list[list[str]] = []
    i = 0
    for persons, police_on, health_on in GROUPS.values():
        for _ in range(persons):
            forename, surname = FORENAMES[i % 20], SURNAMES[i // 20] + FORENAMES[(7 * i) % 20].lower()
            born = date(1980, 1, 1) + timedelta(days=35 * i)
            nhs, postcode = _nhs(i), f"LS6 {1 + i % 9}A{'BDEFGHJLNPQRSTUWXYZ'[i % 19]}"
            if police_on:
                serial = (born - date(1899, 12, 30)).days
                police.append([surname, forename, str(serial), postcode, "F", nhs, police_on, "arrest", "100"])
            if health_on:
                health.append([nhs, forename, surname, born.isoformat(), postcode, "F", health_on, "ae_attendance",
                               "N", "N", "250.00"])
            i += 1
    return write_csv(folder / "police.csv", POLICE, police), write_csv(folder / "health.csv", HEALTH, health)


def test_every_sql_example_gives_the_hand_worked_answer(rt: Runtime, tmp_path: Path) -> None:
    assert len(QUERIES) == len(EXPECTED), "docs/analysts.md has a new SQL example: work its answer out here"
    police, health = _extracts(tmp_path)
    assert pipeline.ingest(rt, police, "police", "incidents").status == "merged"
    assert pipeline.ingest(rt, health, "health", "attendances").status == "merged"
    assert_conserved(rt)
    rebuild(rt)
    persons = rt.warehouse.query("SELECT n_agencies, count(*) AS n FROM shared.person GROUP BY 1 ORDER BY 1")
    assert persons.astype(int).values.tolist() == [[1, 23], [2, 17]], "the answers rest on this linkage"
    for i, (sql, expected) in enumerate(zip(QUERIES, EXPECTED, strict=True)):
        frame = rt.warehouse.query(sql).astype(object)
        rows = [tuple(round(v, 3) if isinstance(v, float) else v for v in row)
                for row in frame.itertuples(index=False, name=None)]
        assert (sorted(rows, key=str) if i == 2 else rows) == expected, f"query {i + 1} of docs/analysts.md:\n{sql}"
