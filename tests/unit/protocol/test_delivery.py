"""Delivery schedule and contacts in the protocol: when an extract is overdue, who is told, what the agreement says."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptp_pipeline.errors import PtpUserError
from ptp_pipeline.protocol import load_protocol
from ptp_pipeline.protocol.approval import content_sha256
from ptp_pipeline.protocol.delivery import Delivery
from ptp_pipeline.protocol.render import render_html, render_markdown

REPO = Path(__file__).resolve().parents[3]
EXTRA = """
delivery: {every: monthly, by_day: 5, grace_days: 2}
contacts:
  - {role: data officer, email: data.officer@police.example}
  - {role: information governance, email: ig@police.example, alerts: [expiry]}
"""


def _police(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "police_incidents.yaml"
    path.write_text((REPO / "protocols" / "police_incidents.yaml").read_text().rstrip("\n") + "\n" + extra.strip()
                    + "\n")
    return path


@pytest.mark.parametrize(("every", "today", "start", "previous", "overdue"), [
    ("monthly", date(2026, 3, 7), date(2026, 3, 1), date(2026, 2, 1), False),  # day 7 = 5 + 2 grace: still due
    ("monthly", date(2026, 3, 8), date(2026, 3, 1), date(2026, 2, 1), True),
    ("monthly", date(2026, 1, 20), date(2026, 1, 1), date(2025, 12, 1), True),
    ("quarterly", date(2026, 5, 2), date(2026, 4, 1), date(2026, 1, 1), True),  # April 8 was the deadline
    ("quarterly", date(2026, 1, 3), date(2026, 1, 1), date(2025, 10, 1), False),
])
def test_periods_and_when_an_extract_is_overdue(every: str, today: date, start: date, previous: date,
                                                overdue: bool) -> None:
    schedule = Delivery(every=every, by_day=5, grace_days=2)  # type: ignore[arg-type]
    assert (schedule.period_start(today), schedule.previous_start(today), schedule.overdue(today)) == (
        start, previous, overdue)
    assert schedule.due(today) == start.replace(day=5)


@given(st.sampled_from(["monthly", "quarterly"]), st.integers(1, 28), st.integers(0, 28),
       st.dates(date(2000, 1, 1), date(2100, 12, 31)))
def test_a_period_holds_today_and_once_overdue_stays_overdue(every: str, by_day: int, grace: int, today: date) -> None:
    schedule = Delivery(every=every, by_day=by_day, grace_days=grace)  # type: ignore[arg-type]
    start = schedule.period_start(today)
    assert schedule.previous_start(today) < start <= today and start.day == 1
    tomorrow = today + timedelta(days=1)
    if schedule.overdue(today) and schedule.period_start(tomorrow) == start:
        assert schedule.overdue(tomorrow)
    assert not schedule.overdue(start)


@pytest.mark.parametrize(("extra", "expected"), [
    ("delivery: {every: monthly, by_day: 31}", "by_day"),
    ("delivery: {every: weekly, by_day: 5}", "every"),
    ("contacts: [{role: data officer, email: not-an-address}]", "email"),
    ("contacts: [{role: data officer, email: a@b.example, alerts: [everything]}]", "alerts"),
])
def test_a_bad_schedule_or_contact_is_refused_naming_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(PtpUserError) as err:
        load_protocol(_police(tmp_path, extra))
    assert expected in str(err.value.render())


def test_the_agreement_shows_the_schedule_and_contacts(tmp_path: Path) -> None:
    protocol = load_protocol(_police(tmp_path, EXTRA))
    md = render_markdown(protocol, date(2025, 1, 1))
    assert "## Delivery and contacts" in md
    assert "one extract each month, by day 5, late after 2 more day(s)" in md
    assert "| information governance | ig@police.example | expiry |" in md
    html = render_html(protocol, date(2025, 1, 1))
    assert "one extract each month, by day 5" in html and "<td>data.officer@police.example</td>" in html
    assert "failure, refusal, late, expiry" in html


def test_contacts_are_not_part_of_what_was_agreed_but_the_schedule_is(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = load_protocol(REPO / "protocols" / "police_incidents.yaml")
    with_contacts = load_protocol(_police(tmp_path / "a", "contacts: [{role: data officer, email: a@b.example}]"))
    with_schedule = load_protocol(_police(tmp_path / "b", "delivery: {every: monthly, by_day: 5}"))
    assert content_sha256(with_contacts) == content_sha256(plain)
    assert content_sha256(with_schedule) != content_sha256(plain)
