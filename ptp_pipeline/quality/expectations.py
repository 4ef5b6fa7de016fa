"""Custom Great Expectations expectations for checks GX does not ship.

Privacy design: GX never receives a raw identifier, so neither can its results, stores or
Data Docs. The NHS-number expectation therefore does not see NHS numbers. The check stage
(which holds them anyway) derives one number per row: the modulus-11 weighted digit sum
(10*d1 + 9*d2 + ... + 2*d9 + 1*d10, between 0 and 495; -1 when the value is not ten digits).
A number is valid exactly when that sum divides by 11, so GX does the real check-digit test,
on a value that thousands of NHS numbers share. Tokens would not do: a keyed hash cannot be
checked, and status columns alone would only repeat a verdict reached elsewhere.

Event dates are not identifiers (they are shared with analysts), so the event-date expectation
checks them directly: on or before the run date (nothing from the future) and inside the
protocol's validity period. Dates arrive as ISO text, so comparisons are plain and vectorised.

Importing this module registers the classes with GX (needed before a file context reloads a
suite that uses them).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from ptp_pipeline.privacy.normalise import NEVER_ISSUED_SUM

__all__ = ["ExpectColumnValuesToBeEventDatesInProtocolPeriod", "ExpectColumnValuesToBeValidNhsMod11Sums"]


class ColumnValuesNhsMod11SumValid(ColumnMapMetricProvider):
    """Row by row: the weighted digit sum divides by 11 (and the value had ten digits)."""

    condition_metric_name = "column_values.ptp_nhs_mod11_sum_valid"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        total = pd.to_numeric(column)
        # A number never issued has a correct check digit: its own expectation names that problem.
        return (total == NEVER_ISSUED_SUM) | ((total >= 0) & (total % 11 == 0))


class ExpectColumnValuesToBeValidNhsMod11Sums(ColumnMapExpectation):
    """Each NHS number (given as its modulus-11 weighted digit sum) has a correct check digit.

    Blank values are skipped: whether the field may be blank is the protocol's `required`.
    """

    map_metric: ClassVar[str] = "column_values.ptp_nhs_mod11_sum_valid"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ColumnValuesEventDateInPeriod(ColumnMapMetricProvider):
    """Row by row: valid_from <= date <= min(valid_to, as_of), on ISO date text."""

    condition_metric_name = "column_values.ptp_event_date_in_period"
    condition_value_keys = ("valid_from", "valid_to", "as_of")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, valid_from: str, valid_to: str, as_of: str, **kwargs: Any) -> pd.Series:
        latest = min(valid_to, as_of)
        if isinstance(column.dtype, pd.CategoricalDtype):  # decide once per distinct date
            dates = column.cat.categories.astype(str)
            ok = np.append(np.asarray((dates >= valid_from) & (dates <= latest), dtype=bool), False)
            return pd.Series(ok[column.cat.codes.to_numpy()], index=column.index)  # code -1 (blank) -> False
        text = column.astype("string")
        return ((text >= valid_from) & (text <= latest)).fillna(False).astype(bool)


class ExpectColumnValuesToBeEventDatesInProtocolPeriod(ColumnMapExpectation):
    """Each event date is not in the future (after `as_of`) and inside the protocol's validity.

    Dates are ISO `YYYY-MM-DD` text. Blank dates are skipped: the field's status covers them.
    """

    valid_from: str
    valid_to: str
    as_of: str

    map_metric: ClassVar[str] = "column_values.ptp_event_date_in_period"
    success_keys: ClassVar[tuple[str, ...]] = ("valid_from", "valid_to", "as_of", "mostly")
