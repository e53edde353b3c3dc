"""The bot side of the handoff: reasons, what the investor is told, pause carried over a session start."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (
    ActionHandoff,
    ActionHandoffResume,
    ActionSessionStart,
    describe_hours,
    handoff_reason,
    within_hours,
)


def tracker(events: list[dict[str, Any]], text: str = "/talk_to_agent", slots: dict[str, Any] | None = None,
            paused: bool = False) -> Tracker:
    latest = {"text": text, "intent": {"name": "talk_to_agent", "confidence": 1.0}}
    return Tracker("919800000001", slots or {}, latest, events, paused, None, None, "action_listen")


def user(intent: str) -> dict[str, Any]:
    return {"event": "user", "parse_data": {"intent": {"name": intent, "confidence": 0.3}}}


def test_reasons() -> None:
    assert handoff_reason(tracker([user("talk_to_agent")])) == "asked_for_human"
    assert handoff_reason(tracker([user("nlu_fallback"), user("nlu_fallback"), user("talk_to_agent")])) == (
        "repeated_fallback"
    )
    assert handoff_reason(tracker([], text="I want to file a complaint")) == "complaint"
    outage = {"event": "slot", "name": "handoff_reason", "value": "account_api_down"}
    slots = {"handoff_reason": "account_api_down"}
    # 'Talk to a person' right under the outage notice: that is why.
    assert handoff_reason(tracker([user("check_portfolio"), outage, user("talk_to_agent")], slots=slots)) == (
        "account_api_down"
    )
    # The same slot left over from earlier in the conversation does not label a later request.
    later = [user("check_portfolio"), outage, user("greet"), user("talk_to_agent")]
    assert handoff_reason(tracker(later, slots=slots)) == "asked_for_human"


def test_business_hours_in_ist() -> None:
    spec = "Mon-Sat 09:00-18:00"
    monday_10_ist = dt.datetime(2025, 11, 24, 4, 30, tzinfo=dt.timezone.utc)
    sunday_10_ist = dt.datetime(2025, 11, 23, 4, 30, tzinfo=dt.timezone.utc)
    assert within_hours(spec, monday_10_ist) and not within_hours(spec, sunday_10_ist)
    assert describe_hours(spec) == "Mon-Sat, 9 am to 6 pm IST"
    with pytest.raises(ValueError):
        within_hours("weekdays")


async def test_handoff_pauses_even_when_the_handoff_service_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_URL", "http://127.0.0.1:9")  # nothing listens: no queue position to give
    monkeypatch.setenv("HANDOFF_BUSINESS_HOURS", "Mon-Sun 00:00-24:00")
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff().run(dispatcher, tracker([user("talk_to_agent")]), {})
    assert [(e["event"], e.get("name")) for e in events] == [
        ("slot", "handoff_reason"), ("slot", "handoff_identity"), ("pause", None)
    ]
    assert dispatcher.messages[0]["response"] == "utter_handoff_queued_no_position"


async def test_resume_listens_and_a_new_session_stays_paused() -> None:
    resumed = await ActionHandoffResume().run(CollectingDispatcher(), tracker([], paused=True), {})
    assert [e["event"] for e in resumed] == ["resume", "slot", "slot", "action"]
    started = await ActionSessionStart().run(CollectingDispatcher(), tracker([], paused=True), {})
    assert [e["event"] for e in started] == ["session_started", "pause", "action"]
    fresh = await ActionSessionStart().run(CollectingDispatcher(), tracker([], paused=False), {})
    assert [e["event"] for e in fresh] == ["session_started", "action"]
