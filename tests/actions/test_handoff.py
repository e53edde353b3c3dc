"""How the handoff action words business hours (actions/handoff.py); the rest of it is in tests/handoff/."""

from __future__ import annotations

import datetime as dt

import pytest

from actions.handoff import describe_hours, within_hours


@pytest.mark.parametrize(("spec", "said"), [
    ("Mon-Sat 09:00-18:00", "Mon-Sat, 9 am to 6 pm IST"),
    ("Sat-Tue 10:30-19:00", "Sat-Tue, 10:30 am to 7 pm IST"),  # wraps past Sunday
    ("Sun-Mon 09:00-13:00", "Sun-Mon, 9 am to 1 pm IST"),
    ("Mon-Sun 09:00-18:00", "Mon-Sun, 9 am to 6 pm IST"),
    ("Wed-Wed 09:00-18:00", "Wed-Wed, 9 am to 6 pm IST"),
    ("Mon-Fri 14:00-24:00", "Mon-Fri, 2 pm to midnight IST"),
    ("Mon-Sun 00:00-24:00", "Mon-Sun, round the clock"),
])
def test_describe_hours_names_the_days_as_configured(spec: str, said: str) -> None:
    assert describe_hours(spec) == said


def test_a_desk_open_round_the_clock_is_open_in_the_last_minute_of_the_day() -> None:
    """`00:00-24:00` covers 23:59 IST, which `00:00-23:59` left out (a test once failed at that minute)."""
    last_minute_ist = dt.datetime(2026, 12, 7, 18, 29, 30, tzinfo=dt.timezone.utc)  # Mon 23:59:30 IST
    assert within_hours("Mon-Sun 00:00-24:00", last_minute_ist)
    assert not within_hours("Mon-Sun 00:00-23:59", last_minute_ist)


@pytest.mark.parametrize("spec", ["Mon-Sat 18:00-09:00", "Mon-Sat 09:00-24:30", "Mon-Sat 09:60-18:00",
                                  "Mon-Xyz 09:00-18:00"])
def test_hours_that_do_not_run_forward_within_a_day_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        describe_hours(spec)
