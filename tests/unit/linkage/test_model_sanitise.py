"""A trained model is made safe for Splink: EM can drive a level's probability to exactly 0 or 1 (no weight can
be computed from it), and a missing or absurd prior would score every pair wrongly without any error."""

from __future__ import annotations

from typing import Any

from ptp_pipeline.linkage.model import sanitise

EPS = 1e-9


def test_every_level_probability_is_kept_strictly_between_zero_and_one() -> None:
    model: dict[str, Any] = {"probability_two_random_records_match": 0.01, "comparisons": [
        {"comparison_levels": [
            {"is_null_level": True},
            {"m_probability": 0.0, "u_probability": 1.0},
            {"m_probability": 0.7, "u_probability": 0.02},
            {"m_probability": None, "u_probability": -0.5},
        ]},
        {"comparison_levels": [{"m_probability": 1.5, "u_probability": 1e-12}]},
    ]}
    first, second = (c["comparison_levels"] for c in sanitise(model)["comparisons"])
    assert first == [
        {"is_null_level": True},
        {"m_probability": EPS, "u_probability": 1 - EPS},
        {"m_probability": 0.7, "u_probability": 0.02},
        {"m_probability": None, "u_probability": EPS},
    ]
    assert second == [{"m_probability": 1 - EPS, "u_probability": EPS}]


def test_the_prior_that_two_records_match_stays_plausible() -> None:
    def prior(value: object) -> float:
        return float(sanitise({"probability_two_random_records_match": value})["probability_two_random_records_match"])

    assert prior(0.01) == 0.01
    assert prior(0.9) == 0.5  # more than even odds for a random pair would link almost everything
    assert prior(1e-15) == 1e-12
    assert prior(None) == 1e-4 and prior(0) == 1e-4  # missing: the shipped default
    assert sanitise({})["probability_two_random_records_match"] == 1e-4
