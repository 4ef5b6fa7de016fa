"""Rates and their intervals, hours bands, and the protocol rules of locations, alcohol codes and registers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ptp_pipeline.cli import main
from ptp_pipeline.pathways.premises import hours_band
from ptp_pipeline.pathways.rates import dispersion, rate_interval, rate_ratio

REPO_PROTOCOLS = Path(__file__).resolve().parents[3] / "protocols"


def test_exact_poisson_interval_matches_the_tables() -> None:
    rate, low, high = rate_interval(10, 2.0)
    assert rate == 5.0
    assert (low * 2, high * 2) == pytest.approx((4.795, 18.39), abs=0.01)  # Garwood 95% for 10 events
    assert rate_interval(0, 1.0)[1:] == pytest.approx((0.0, 3.689), abs=0.001)


def test_the_rate_ratio_says_what_it_found() -> None:
    assert rate_ratio(100, 100, 200, 100).verdict == "lower"
    assert rate_ratio(300, 100, 100, 100).verdict == "higher"
    same = rate_ratio(100, 100, 104, 100)
    assert same.verdict == "no difference" and same.low is not None and same.low < 1 < (same.high or 0)
    assert rate_ratio(0, 10, 5, 10).verdict == "not enough data"


def test_overdispersion_widens_the_interval() -> None:
    narrow, wide = rate_ratio(100, 100, 200, 100, phi=1.0), rate_ratio(100, 100, 200, 100, phi=4.0)
    assert wide.ratio == narrow.ratio
    assert (wide.low or 0) < (narrow.low or 0) and (wide.high or 0) > (narrow.high or 0)
    rng = np.random.default_rng(1)
    clumped = rng.negative_binomial(1, 0.2, 400).astype(float)
    assert dispersion(clumped, np.ones(400), np.zeros(400)) > 2
    assert dispersion(rng.poisson(4, 400).astype(float), np.ones(400), np.zeros(400)) < 1.3


def test_hours_bands() -> None:
    got = hours_band(pd.Series(["22:30", "23:00", "23:30", "00:30", "02:00", "03:00", "24:00", None]))
    assert got.tolist() == ["to 23:00", "to 23:00", "to 02:00", "to 02:00", "to 02:00", "after 02:00",
                            "to 02:00", "to 23:00"]


POLICE = (REPO_PROTOCOLS / "police_incidents.yaml").read_text(encoding="utf-8")
REGISTER = (REPO_PROTOCOLS / "licensing_register.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("text", "message"), [
    (POLICE.replace("locates: uprn,", "locates: uprn, identifies: uprn,"),
     "field 'location_uprn' both identifies a person and locates an event"),
    (POLICE.replace("name: location_premises_ref, type: string, role: quasi_identifier, treatment: pseudonymise",
                    "name: location_premises_ref, type: string, role: quasi_identifier, treatment: keep"),
     "field 'location_premises_ref' locates an event and would be shared as it is"),
    (POLICE.replace("alcohol_codes: [ALC]", "alcohol_codes: [ALK]"),
     "alcohol_codes of field 'incident_qualifier' name code(s) ALK that are not in its allowed_values"),
    (REGISTER.replace("hours: latest_hour", "hours: closing_time"),
     "premises.hours names 'closing_time', which is not a kept field"),
    (REGISTER.replace('allowed_values: ["on", "off", both, club]', 'allowed_values: ["on", "off", bar]'),
     "a licensing register's event type is the licence type"),
], ids=["location-and-identity", "location-kept", "unknown-alcohol-code", "premises-field-missing", "licence-types"])
def test_location_and_register_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                     message: str) -> None:
    path = tmp_path / "protocol.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["protocol", "validate", str(path)]) == 3
    assert message in capsys.readouterr().err
