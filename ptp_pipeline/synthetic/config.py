"""Configuration and result types of the synthetic generator (the public API's data half)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate; every default is calibrated and its source stated here.

    Population (Hard Edges, Lankelly Chase / Heriot-Watt 2015, England, one year: 586k
    known to any of homelessness, substance-misuse treatment, criminal justice; 222k to
    two or more; 58k to all three):
      share_two_plus=0.38, share_all_three=0.10 of ``n_persons`` (exact counts);
      male_share=0.75 and ages mostly 25-44 ("mostly men aged 25-44");
      children_share=0.60 ("almost 60% live with or are in contact with children").
    Cost (Total Place pilot: the top 20% of service users carry ~80% of the cost):
      frailty_sigma=1.0 is the spread of each person's lognormal activity level, and
      tier_intensity=(1, 4, 12) multiplies it for people known to 1, 2, 3 agencies;
      max_events_per_agency=150 caps one person's events at one agency in the period.
      With the unit costs in ``events.py`` the top-20% share is 0.80 (seeds 0-7 at
      n=5000: 0.79-0.81), at about 9.4 extract rows per person.
    Identifiers, per extract row: nhs_rate_* = share of rows carrying an NHS number
      (council 30%, health 97%, police 3%, typical of what each system records);
      second_client_ref_rate = council clients holding two references.
    Noise, per row unless stated: typo_rate 3%, nickname_rate 5% (rows whose forename has
      a common nickname), surname_variant_rate 3% (case, spacing, punctuation),
      moved_rate 10% of persons (new postcode for events after a move date),
      dob_error_rate 1% (day/month transposed or off by a day), sex_unknown_rate 1%,
      postcode_missing_rate 2% (no fixed abode), postcode_format_rate 5% (no space or
      lower case), middle_name_rate 30% of persons (police write all forenames).
    Faults, per extract: duplicate_rate 1% extra exact duplicate lines; invalid_rate 0.5%
      extra mis-keyed rows (impossible date, wrong NHS check digit, blank event date,
      negative cost or unknown event type). Both are marked in the truth files.
    nhs_prefixes: leading digits of NHS numbers; ("999",) keeps to NHS test numbers.
    Households and addresses (assumptions, see ``households.py``): communal_share 8% of persons
      start in a hostel, HMO, care home or prison; flat_share 30% of private properties are
      flats; join_household_rate 30% of movers move in with another household;
      shared_surname_rate 80% of family members share the first member's surname.
      Addresses per row: uprn_rate_council 90% and uprn_rate_police 5% of rows carry the UPRN
      (health none); address_from_rate 80% of council rows say since when the person lives
      there; flat_omitted_rate 1% of flat rows leave the flat out; communal_flag_rate 95% of
      council rows at a communal establishment say what kind it is.
    """

    n_persons: int = 5000
    seed: int = 42
    start: date = date(2024, 4, 1)
    end: date = date(2025, 3, 31)
    share_two_plus: float = 0.38
    share_all_three: float = 0.10
    male_share: float = 0.75
    children_share: float = 0.60
    frailty_sigma: float = 1.0
    tier_intensity: tuple[float, float, float] = (1.0, 4.0, 12.0)
    max_events_per_agency: int = 150
    nhs_prefixes: tuple[str, ...] = ("4", "6", "9")
    nhs_rate_council: float = 0.30
    nhs_rate_health: float = 0.97
    nhs_rate_police: float = 0.03
    second_client_ref_rate: float = 0.03
    typo_rate: float = 0.03
    nickname_rate: float = 0.05
    surname_variant_rate: float = 0.03
    moved_rate: float = 0.10
    dob_error_rate: float = 0.01
    sex_unknown_rate: float = 0.01
    postcode_missing_rate: float = 0.02
    postcode_format_rate: float = 0.05
    middle_name_rate: float = 0.30
    duplicate_rate: float = 0.01
    invalid_rate: float = 0.005
    communal_share: float = 0.08
    flat_share: float = 0.30
    join_household_rate: float = 0.30
    shared_surname_rate: float = 0.80
    uprn_rate_council: float = 0.90
    uprn_rate_police: float = 0.05
    address_from_rate: float = 0.80
    flat_omitted_rate: float = 0.01
    communal_flag_rate: float = 0.95

    def __post_init__(self) -> None:
        """Fail early on settings that would silently produce nonsense data."""
        if self.seed < 0:
            raise ValueError("seed must be non-negative")
        if self.n_persons < 1:
            raise ValueError("n_persons must be at least 1")
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if not 0.0 <= self.share_all_three <= self.share_two_plus <= 1.0:
            raise ValueError("need 0 <= share_all_three <= share_two_plus <= 1")
        if self.frailty_sigma < 0 or min(self.tier_intensity) <= 0:
            raise ValueError("frailty_sigma must be >= 0 and tier_intensity > 0")
        if self.max_events_per_agency < 1:
            raise ValueError("max_events_per_agency must be at least 1")
        for prefix in self.nhs_prefixes:
            if not (prefix.isdigit() and 1 <= len(prefix) <= 8 and prefix[0] != "0"):
                raise ValueError("nhs_prefixes must be 1-8 digits not starting with 0")
        if not self.nhs_prefixes:
            raise ValueError("nhs_prefixes must not be empty")
        for f in fields(self):
            if f.name.endswith(("_rate", "_share")) or f.name.startswith("nhs_rate"):
                value = getattr(self, f.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{f.name} must be between 0 and 1")

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-ready form, written into summary.json so a run can be reproduced."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["end"] = self.end.isoformat()
        out["tier_intensity"] = list(self.tier_intensity)
        out["nhs_prefixes"] = list(self.nhs_prefixes)
        return out


@dataclass(frozen=True)
class ExtractFile:
    """One partner extract written to the landing area; rows excludes the header."""

    partner: str
    dataset: str
    path: Path
    rows: int


@dataclass(frozen=True)
class SyntheticResult:
    """Where the extracts and ground truth went, plus the true person table."""

    extracts: list[ExtractFile]
    truth_dir: Path
    persons: pd.DataFrame
