"""The fallback action on real trackers: suggestions from the ranking, then an offer of a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import ActionFallback, consecutive_fallbacks, suggestions


def user(intent: str, ranking: list[tuple[str, float]] | None = None, faq_key: str | None = None) -> dict[str, Any]:
    parse: dict[str, Any] = {
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in (ranking or [])],
    }
    if faq_key:
        parse["response_selector"] = {"faq": {"response": {"intent_response_key": faq_key}}}
    return {"event": "user", "text": "x", "parse_data": parse}


def tracker(events: list[dict[str, Any]]) -> Tracker:
    latest = events[-1]["parse_data"]
    return Tracker("919800000001", {}, latest, events, False, None, {}, "action_listen")


async def run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    await ActionFallback().run(dispatcher, tracker(events), {})
    return dispatcher.messages


def test_counts_only_the_unbroken_run_of_misses() -> None:
    events = [user("nlu_fallback"), user("greet"), user("nlu_fallback"), {"event": "bot"}, user("nlu_fallback")]
    assert consecutive_fallbacks(events) == 2


def test_suggestions_follow_the_ranking_and_resolve_faq_topics() -> None:
    parse = user(
        "nlu_fallback",
        [("nlu_fallback", 0.5), ("sip_status", 0.3), ("faq", 0.25), ("stop_sip", 0.2), ("kyc_status", 0.1)],
        faq_key="faq/what_is_sip",
    )["parse_data"]
    assert suggestions(parse) == [
        ("My SIPs", "/sip_status"),
        ("What is a SIP?", "what is sip"),
        ("Stop a SIP", "/stop_sip"),
    ]


async def test_first_miss_offers_buttons_second_offers_a_person() -> None:
    first = [user("nlu_fallback", [("nlu_fallback", 0.5), ("check_portfolio", 0.4)])]
    messages = await run(first)
    assert messages[0]["buttons"] == [{"title": "My portfolio", "payload": "/check_portfolio"}]
    messages = await run(first + [{"event": "bot"}, user("nlu_fallback", [("nlu_fallback", 0.6)])])
    assert messages[0]["response"] == "utter_offer_agent"


async def test_nothing_plausible_gets_the_scope_statement() -> None:
    messages = await run([user("nlu_fallback", [("nlu_fallback", 0.9), ("check_nav", 0.12), ("greet", 0.01)])])
    assert messages[0]["response"] == "utter_scope_statement"


async def test_an_out_of_scope_guess_gets_the_reply_for_its_kind() -> None:
    """The NLU's scope_kind entity of this very message sets the slot that picks the scope reply."""
    miss = user("nlu_fallback", [("nlu_fallback", 0.6), ("out_of_scope", 0.55), ("faq", 0.05)])
    miss["parse_data"]["entities"] = [{"entity": "scope_kind", "value": "deposits"}]
    messages = await run([miss])
    assert messages[0]["response"] == "utter_out_of_scope"


def test_a_doubtful_faq_offers_its_likeliest_topics() -> None:
    parse = user("nlu_fallback", [("nlu_fallback", 0.5), ("faq", 0.9)], faq_key="faq/elss_lock_in")["parse_data"]
    parse["response_selector"]["faq"]["ranking"] = [
        {"intent_response_key": "faq/elss_lock_in", "confidence": 0.45},
        {"intent_response_key": "faq/capital_gains_tax", "confidence": 0.35},
        {"intent_response_key": "faq/exit_load", "confidence": 0.1},
    ]
    assert suggestions(parse) == [
        ("ELSS lock-in", "what is the lock in period of elss"),
        ("Tax on gains", "how are mutual fund gains taxed"),
    ]
