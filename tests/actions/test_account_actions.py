"""Account actions run in-process on real trackers against the real stand-in (no mocks of our services)."""

from __future__ import annotations

import time
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.kyc import ActionKycStatus
from actions.nav import ActionCheckNav
from actions.portfolio import ActionCheckPortfolio
from actions.service_requests import ActionConfirmRequest
from actions.sessions import Conversation, get_sessions
from actions.sip import ActionStopSip
from actions.verification import ActionResumeAccount, ValidateVerificationForm
from tests.actions.conftest import user_event
from tests.e2e_support.stack import AccountsApi

ASHA, RAHUL, FATIMA = "919800000001", "919800000002", "919800000003"


def tracker(sender: str, intent: str, entities: dict[str, Any] | None = None, slots: dict[str, Any] | None = None,
            text: str = "") -> Tracker:
    event = user_event(text or f"/{intent}", intent, entities)
    return Tracker(sender, dict(slots or {}), event["parse_data"], [event], False, None, {}, "action_listen")


async def verified(accounts_api: AccountsApi, sender: str) -> str:
    """Mint the session a right code would have minted (actions/sessions.py); returns the investor id."""
    status, body, _ = accounts_api.call("GET", f"/v1/investors/by-mobile/{sender}")
    assert status == 200
    await get_sessions().mint(Conversation("whatsapp", sender), str(body["investor_id"]))
    return str(body["investor_id"])


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or m.get("response") or "" for m in dispatcher.messages)


async def test_unregistered_number_reveals_nothing(action_env: AccountsApi) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionCheckPortfolio().run(dispatcher, tracker("919800000099", "check_portfolio"), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_not_registered"]
    assert not any(e.get("event") == "followup" for e in events)


async def test_unverified_investor_gets_an_otp_and_the_question_is_kept(action_env: AccountsApi) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionCheckPortfolio().run(dispatcher, tracker(RAHUL, "check_portfolio", {"folio": "9/11"}), {})
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["pending_intent"] == "check_portfolio" and slots["pending_args"] == {"folio": "9/11"}
    assert slots["otp_sent_to"] == "91XXXXXX0002" and "otp_id" not in slots  # the code's id stays server-side
    assert (await get_sessions().pending_code(Conversation("whatsapp", RAHUL)))["mobile"] == RAHUL
    assert events[-1] == {"event": "followup", "timestamp": None, "name": "verification_form"}


async def test_multiple_folios_get_buttons_with_masked_folios(action_env: AccountsApi) -> None:
    dispatcher = CollectingDispatcher()
    await verified(action_env, RAHUL)
    await ActionCheckPortfolio().run(dispatcher, tracker(RAHUL, "check_portfolio"), {})
    message = dispatcher.messages[0]
    assert "Your portfolio" in message["text"] and "₹" in message["text"]
    assert len(message["buttons"]) == 3 and all(len(b["title"]) <= 20 for b in message["buttons"])
    folios = [f["number"] for f in action_env.call("GET", f"/v1/investors/by-mobile/{RAHUL}")[1]["folios"]]
    for number in folios:  # neither the text nor the buttons carry a full folio number
        assert number not in message["text"] and all(number not in b["payload"] for b in message["buttons"])


async def test_expired_verification_asks_again(action_env: AccountsApi) -> None:
    await verified(action_env, ASHA)
    await get_sessions().end(Conversation("whatsapp", ASHA))  # what the record's expiry does after idle time
    dispatcher = CollectingDispatcher()
    events = await ActionKycStatus().run(dispatcher, tracker(ASHA, "kyc_status"), {})
    assert "verification ends" in texts(dispatcher)
    assert events[-1]["name"] == "verification_form"


async def test_otp_validation_wrong_then_right(action_env: AccountsApi) -> None:
    issued = action_env.call("POST", "/v1/otp", {"mobile": FATIMA}, {"Idempotency-Key": f"k{time.time_ns()}"})[1]
    conversation = Conversation("whatsapp", FATIMA)
    await get_sessions().remember_code(conversation, issued["otp_id"], FATIMA)
    form = ValidateVerificationForm()
    dispatcher = CollectingDispatcher()
    wrong = await form.validate_otp("000000", dispatcher, tracker(FATIMA, "inform"), {})
    assert wrong == {"otp": None} and dispatcher.messages[0]["attempts_left"] == 2
    code = action_env.last_otp(FATIMA)
    right = await form.validate_otp(f"my code is {code[:3]} {code[3:]}", dispatcher, tracker(FATIMA, "inform"), {})
    assert right == {"otp": "******", "verification_result": "verified"}  # no identity in slots
    assert await get_sessions().verified_investor(conversation) is not None  # the session is minted server-side
    not_code = await form.validate_otp("what?", dispatcher, tracker(FATIMA, "inform"), {})
    assert not_code == {"otp": None, "otp_misses": 1}


async def test_resume_answers_the_pending_question(action_env: AccountsApi) -> None:
    await verified(action_env, FATIMA)
    slots = {"verification_result": "verified", "pending_intent": "kyc_status", "pending_args": {}}
    dispatcher = CollectingDispatcher()
    await ActionResumeAccount().run(dispatcher, tracker(FATIMA, "inform", slots=slots), {})
    assert dispatcher.messages[0]["response"] == "utter_verified"
    assert "KYC on hold" in texts(dispatcher) and "Address proof" in texts(dispatcher)


async def test_resume_without_a_session_asks_to_verify(action_env: AccountsApi) -> None:
    """A tracker that only says "verified" (slots are the caller's word) gets the verify path, not the answer."""
    slots = {"verification_result": "verified", "pending_intent": "kyc_status", "pending_args": {}}
    dispatcher = CollectingDispatcher()
    events = await ActionResumeAccount().run(dispatcher, tracker(FATIMA, "inform", slots=slots), {})
    assert "KYC" not in texts(dispatcher) and events[-1]["name"] == "verification_form"


async def test_nav_is_public_and_fuzzy(action_env: AccountsApi) -> None:
    dispatcher = CollectingDispatcher()
    await ActionCheckNav().run(dispatcher, tracker("919800000099", "check_nav", {"scheme": "flexy cap"}), {})
    assert "Sahyadri Flexi Cap Fund" in texts(dispatcher) and "NAV as of" in texts(dispatcher)
    dispatcher = CollectingDispatcher()
    await ActionCheckNav().run(dispatcher, tracker("919800000099", "check_nav"), {})
    assert len(dispatcher.messages[0]["buttons"]) == 3


async def test_stop_sip_confirm_places_once(action_env: AccountsApi) -> None:
    inv = await verified(action_env, ASHA)
    slots: dict[str, Any] = {}
    dispatcher = CollectingDispatcher()
    events = await ActionStopSip().run(dispatcher, tracker(ASHA, "stop_sip", slots=slots), {})
    pending = next(e["value"] for e in events if e.get("name") == "pending_request")
    assert pending["kind"] == "sip_cancel" and [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        "/affirm", "/deny"]
    confirm_slots = {**slots, "pending_request": pending, "awaiting_confirmation": True}
    first, second = CollectingDispatcher(), CollectingDispatcher()
    await ActionConfirmRequest().run(first, tracker(ASHA, "affirm", slots=confirm_slots), {})
    await ActionConfirmRequest().run(second, tracker(ASHA, "affirm", slots=confirm_slots), {})
    assert "Done" in texts(first) and "already placed" in texts(second)
    placed = action_env.call("GET", f"/v1/investors/{inv}/service-requests")[1]["service_requests"]
    assert sum(1 for r in placed if r["target"] == pending["sip_ref"]) == 1


async def test_outage_gives_an_honest_answer_fast(action_env: AccountsApi) -> None:
    action_env.faults(outage=True)
    dispatcher = CollectingDispatcher()
    started = time.monotonic()
    events = await ActionCheckPortfolio().run(dispatcher, tracker("919800000005", "check_portfolio"), {})
    assert time.monotonic() - started < 8.0
    assert dispatcher.messages[0]["response"] == "utter_account_unavailable"
    assert {"title": "Talk to an agent", "payload": "/talk_to_agent"} in dispatcher.messages[0]["buttons"]
    assert {"event": "slot", "timestamp": None, "name": "handoff_reason", "value": "account_api_down"} in events


async def test_the_handoff_tells_agents_who_is_writing_only_when_verified_and_masked(action_env: AccountsApi) -> None:
    from actions.handoff import ActionHandoff

    def identity_of(events: list[dict[str, Any]]) -> Any:
        return next(e["value"] for e in events if e.get("name") == "handoff_identity")

    unverified = await ActionHandoff().run(CollectingDispatcher(), tracker(RAHUL, "talk_to_agent"), {})
    assert identity_of(unverified) == {"verified": False}
    investor_id = await verified(action_env, RAHUL)
    events = await ActionHandoff().run(CollectingDispatcher(), tracker(RAHUL, "talk_to_agent"), {})
    shown = identity_of(events)
    _, investor, _ = action_env.call("GET", f"/v1/investors/by-mobile/{RAHUL}")
    assert str(investor["investor_id"]) == investor_id
    assert shown["verified"] is True and shown["name"] == investor["name"]
    assert shown["pan"] != investor["pan"] and shown["pan"][:2] + shown["pan"][-3:] == investor["pan"][:2] + \
        investor["pan"][-3:]
    assert [f[-4:] for f in shown["folios"]] == [f["number"][-4:] for f in investor["folios"]]
    assert all(f["number"] not in str(shown) for f in investor["folios"])
    assert events[-1]["event"] == "pause"
