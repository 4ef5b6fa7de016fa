"""Hypothesis profiles: moderate and random by default, small and derandomised in CI, long on demand.

Pick one with HYPOTHESIS_PROFILE=dev|ci|long; CI (any value) selects "ci" unless a profile is named.
Profiles are global to the session once loaded, so they only set sizes and determinism.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", _BASE, max_examples=200)
settings.register_profile("ci", _BASE, max_examples=100, derandomize=True, print_blob=True)
settings.register_profile("long", _BASE, max_examples=5_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
