"""How the handoff action words business hours (actions/handoff.py); the rest of it is in tests/handoff/."""

from __future__ import annotations

import pytest

from actions.handoff import describe_hours


@pytest.mark.parametrize(("spec", "said"), [
    ("Mon-Sat 09:00-18:00", "Mon-Sat, 9 am to 6 pm IST"),
    ("Sat-Tue 10:30-19:00", "Sat-Tue, 10:30 am to 7 pm IST"),  # wraps past Sunday
    ("Sun-Mon 09:00-13:00", "Sun-Mon, 9 am to 1 pm IST"),
    ("Mon-Sun 09:00-18:00", "Mon-Sun, 9 am to 6 pm IST"),
    ("Wed-Wed 09:00-18:00", "Wed-Wed, 9 am to 6 pm IST"),
])
def test_describe_hours_names_the_days_as_configured(spec: str, said: str) -> None:
    assert describe_hours(spec) == said
