"""`forename_conflict: auto`: the trained model's share of matches with forenames sharing nothing decides."""

from __future__ import annotations

import math

from helpers import model_with_forename_share
from hypothesis import given, settings
from hypothesis import strategies as st

from ptp_pipeline.linkage.model import forename_level_m, forename_rule


def _forename_m(model: dict) -> list[float]:
    forename = next(c for c in model["comparisons"] if c["output_column_name"] == "forename")
    return [lv["m_probability"] for lv in forename["comparison_levels"] if not lv.get("is_null_level")]


@settings(max_examples=80, deadline=None)
@given(share=st.floats(1e-6, 0.9), twins=st.floats(0.001, 0.49))
def test_veto_exactly_while_twins_explain_the_share_else_their_share_is_taken_out(share: float, twins: float) -> None:
    model = model_with_forename_share(share)
    veto, scoring = forename_rule(model, "auto", twins)
    assert veto is (share <= twins)
    m = _forename_m(scoring)
    assert math.isclose(sum(m), 1.0, rel_tol=1e-9)  # still a distribution over the levels
    if veto:
        assert scoring == model
    else:
        assert math.isclose(forename_level_m(scoring) or 0, (share - twins) / (1 - twins), rel_tol=1e-9)
        assert forename_level_m(scoring) < share  # weaker evidence for a link than the raw m gave
    assert forename_level_m(model) == share  # the stored model is not changed


@given(share=st.floats(1e-6, 0.9))
def test_the_project_can_fix_the_rule_whatever_the_data(share: float) -> None:
    model = model_with_forename_share(share)
    assert forename_rule(model, "veto") == (True, model)
    assert forename_rule(model, "evidence") == (False, model)


def test_a_model_that_compares_no_forename_keeps_the_veto() -> None:
    """A project whose partners send no forename (or a model stored without the comparison): nothing to read
    the share from, so `auto` keeps the veto and scores with the model as it is."""
    model = model_with_forename_share(0.5)
    model["comparisons"] = [c for c in model["comparisons"] if c["output_column_name"] != "forename"]
    assert forename_level_m(model) is None
    assert forename_rule(model, "auto") == (True, model)
