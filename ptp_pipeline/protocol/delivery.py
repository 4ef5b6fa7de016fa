"""When a partner delivers extracts, and whom to tell when something goes wrong: part of the protocol.

`delivery: {every: monthly, by_day: 5, grace_days: 2}` says each month's extract is due by the 5th;
from the 8th on, housekeeping alerts when nothing has arrived since the 1st (`late`), or since the
start of the previous period too (`missing`). `quarterly` counts periods from January, April, July and
October. `contacts: [{role, email}]` are the people told about this protocol's failures, refusals,
late extracts and expiry (each contact may narrow that with `alerts`); operations (`PTP_ALERT_EMAILS`)
are always told as well.

Contacts are not part of the approved content hash (`protocol/approval.py`): a new data officer does
not change what was agreed. The delivery schedule is.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from ptp_pipeline.protocol.model import Strict

Alert = Literal["failure", "refusal", "late", "expiry"]
ALERTS: tuple[Alert, ...] = ("failure", "refusal", "late", "expiry")
EMAIL = r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$"


class Delivery(Strict):
    """How often extracts are due and by when."""

    every: Literal["monthly", "quarterly"] = Field(description="One extract per month, or per quarter.")
    by_day: int = Field(ge=1, le=28, description="Day of the period's first month by which its extract is due.")
    grace_days: int = Field(default=0, ge=0, le=28, description="Days after `by_day` before it is called late.")

    def period_start(self, today: date) -> date:
        """First day of the delivery period `today` falls in."""
        month = today.month if self.every == "monthly" else 1 + 3 * ((today.month - 1) // 3)
        return date(today.year, month, 1)

    def previous_start(self, today: date) -> date:
        start = self.period_start(today)
        months = 1 if self.every == "monthly" else 3
        index = start.year * 12 + start.month - 1 - months
        return date(index // 12, index % 12 + 1, 1)

    def due(self, today: date) -> date:
        return self.period_start(today).replace(day=self.by_day)

    def overdue(self, today: date) -> bool:
        """True from the day after `by_day` + `grace_days` of the period's first month."""
        start = self.period_start(today)
        return (today - start).days + 1 > self.by_day + self.grace_days

    def describe(self) -> str:
        grace = f", late after {self.grace_days} more day(s)" if self.grace_days else ""
        period = "month" if self.every == "monthly" else "quarter (January, April, July, October)"
        return f"one extract each {period}, by day {self.by_day}{grace}"


class Contact(Strict):
    """Someone told about this protocol's problems."""

    role: str = Field(min_length=2, description="e.g. data officer, information governance, analyst.")
    email: str = Field(pattern=EMAIL, description="Where alerts go.")
    alerts: list[Alert] = Field(default_factory=lambda: list(ALERTS),
                                description="Which alerts: failure, refusal, late, expiry (default all).")
