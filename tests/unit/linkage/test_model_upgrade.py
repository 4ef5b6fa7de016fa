"""A linkage model stored before a comparison existed (address evidence) is not used as it is: it would
ignore that evidence for good."""

from __future__ import annotations

import pandas as pd

from ptp_pipeline.linkage.fields import IDENT, TOKEN_COLUMNS
from ptp_pipeline.linkage.model import settings
from ptp_pipeline.linkage.store import model_for, save_model
from ptp_pipeline.runtime import Runtime

NONE_NEW = pd.DataFrame({c: pd.Series(dtype="string") for c in (IDENT, *TOKEN_COLUMNS)})


def test_a_model_stored_before_address_evidence_is_set_aside(wh_rt: Runtime) -> None:
    current = settings()
    old = {**current, "comparisons": [c for c in current["comparisons"]
                                      if c["output_column_name"] not in ("address", "locality")]}
    save_model(wh_rt.warehouse, old, 10)
    assert model_for(wh_rt.warehouse, NONE_NEW) is None  # too few identities to train: the priors serve


def test_a_current_stored_model_is_used(wh_rt: Runtime) -> None:
    save_model(wh_rt.warehouse, settings(), 10)
    model = model_for(wh_rt.warehouse, NONE_NEW)
    assert model is not None and {c["output_column_name"] for c in model["comparisons"]} >= {"address", "locality"}


def test_a_model_stored_before_a_level_was_added_is_set_aside(wh_rt: Runtime) -> None:
    """Names swapped and then mistyped are a level of both name comparisons (stop 36): a model without it would
    score such pairs as names that share nothing for good."""
    current = settings()
    old = {**current, "comparisons": [
        {**c, "comparison_levels": [lv for lv in c["comparison_levels"]
                                    if lv.get("label_for_charts") != "names swapped, alike"]}
        for c in current["comparisons"]]}
    assert old != current
    save_model(wh_rt.warehouse, old, 10)
    assert model_for(wh_rt.warehouse, NONE_NEW) is None  # too few identities to train: the priors serve
