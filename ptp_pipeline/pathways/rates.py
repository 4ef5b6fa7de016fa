"""Harm rates per premises-year with confidence intervals, and the on- vs off-licence rate ratio (issue 20).

One family of methods, with scipy only: the exact Poisson interval of a rate (Garwood, through the
chi-square relation) and, for a ratio of two rates, the exact conditional-binomial interval (given the
total, the on-licence share of events is binomial; Clopper-Pearson through the beta relation). Premises
differ more than a Poisson count allows (a few carry most of the harm), so counts and exposures are
first divided by the Pearson dispersion of the premises' counts about their type's rate when it is
above 1 (quasi-Poisson): the rates stay the same and the intervals widen honestly. Counts may be
fractional: an event shared among the n premises of its nearest distance band counts 1/n at each
(`pathways/premises.py`), and the chi-square and beta relations take non-whole counts as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import beta, chi2

LEVEL = 0.95
NO_DIFFERENCE = "no difference"


def dispersion(events: np.ndarray, exposure: np.ndarray, group: np.ndarray) -> float:
    """Pearson dispersion of per-unit counts about their group's rate (at least 1)."""
    frame = pd.DataFrame({"y": events, "e": exposure, "g": group})
    frame = frame[frame["e"] > 0]
    rate = frame.groupby("g")["y"].transform("sum") / frame.groupby("g")["e"].transform("sum")
    mu = rate * frame["e"]
    ok = mu > 0
    dof = int(ok.sum()) - frame.loc[ok, "g"].nunique()
    if dof <= 0:
        return 1.0
    return max(1.0, float((((frame["y"] - mu) ** 2)[ok] / mu[ok]).sum() / dof))


def rate_interval(events: float, exposure: float, phi: float = 1.0) -> tuple[float, float, float]:
    """Rate per unit of exposure and its exact Poisson interval (counts scaled by the dispersion `phi`)."""
    if exposure <= 0:
        return (np.nan, np.nan, np.nan)
    n, e, a = events / phi, exposure / phi, 1 - LEVEL
    low = chi2.ppf(a / 2, 2 * n) / 2 if n > 0 else 0.0
    high = chi2.ppf(1 - a / 2, 2 * (n + 1)) / 2
    return (events / exposure, float(low / e), float(high / e))


@dataclass(frozen=True)
class RateRatio:
    """Rate of `a` over rate of `b`, its interval and what it means in words."""

    ratio: float | None
    low: float | None
    high: float | None
    verdict: str  # "higher", "lower", "no difference" or "not enough data"


def rate_ratio(events_a: float, exposure_a: float, events_b: float, exposure_b: float,
               phi: float = 1.0) -> RateRatio:
    """Exact conditional interval of the rate ratio a/b; "no difference" when it includes 1."""
    if min(exposure_a, exposure_b) <= 0 or events_a + events_b <= 0 or events_b <= 0 or events_a <= 0:
        return RateRatio(None, None, None, "not enough data")
    x, n, a = events_a / phi, (events_a + events_b) / phi, 1 - LEVEL
    p_low = beta.ppf(a / 2, x, n - x + 1)
    p_high = beta.ppf(1 - a / 2, x + 1, n - x)
    scale = exposure_b / exposure_a
    ratio = events_a / events_b * scale
    low, high = p_low / (1 - p_low) * scale, p_high / (1 - p_high) * scale
    verdict = NO_DIFFERENCE if low <= 1 <= high else ("higher" if low > 1 else "lower")
    return RateRatio(float(ratio), float(low), float(high), verdict)
