"""Who is asking: the OTP form, verification expiry, and resuming the question that needed it.

An account answer (actions/base.py: `AccountAction.gate`) calls `start_verification` when this conversation has
no verification session for the number's investor:
1. the account API sends an OTP (at most `ACCOUNTS_OTP_MAX_PER_WINDOW` per window, per number and per
   conversation) and `verification_form` collects it, remembering the question (`pending_intent`,
   `pending_args`) so `action_resume_account` answers it once the code is right;
2. a right code mints the session (actions/sessions.py: never read from slots, expiring after
   `ACCOUNTS_VERIFICATION_IDLE_SECONDS` without an answer);
3. the API decides attempts and lockout (it is the system of record); the bot only words the outcome.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import metrics
from actions.api import AccountsClient, ApiUnavailable, NotFound, OtpExpired, OtpLocked, get_client
from actions.api.accounts import idempotency_key
from actions.base import REGISTRY, Context, answer_deadline, bounded, message_id, sender_mobile, unavailable
from actions.formatting import AGENT_BUTTON
from actions.sessions import Conversation, get_sessions
from common.config import env_float
from common.pii import mask_phone

CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
DONE = "******"  # the form's slot must be filled to end it; the code itself is never kept


def find_code(text: str) -> re.Match[str] | None:
    """The 6-digit code in what the investor typed ("482913", "482 913", "my code is 482-913")."""
    return CODE_RE.search(re.sub(r"(?<=\d)[\s-](?=\d)", "", text))


def idle_seconds() -> float:
    return env_float("ACCOUNTS_VERIFICATION_IDLE_SECONDS", 600.0)


async def start_verification(ctx: Context, intent: str) -> list[EventType]:
    """Ask the account API for an OTP and hand over to `verification_form`, remembering the question."""
    tracker, mobile = ctx.tracker, sender_mobile(ctx.tracker)
    sessions, conversation = get_sessions(), Conversation.of(tracker)
    if await sessions.lapsed(conversation):
        ctx.say(f"For your security, verification ends after {int(idle_seconds() // 60)} minutes without activity.")
    if not await sessions.issue_allowed(conversation, mobile):
        return too_many_codes(ctx.dispatcher)
    metrics.OTP_ISSUED.labels("sent").inc()
    try:
        issued = await ctx.client.issue_otp(mobile, key=idempotency_key("otp", mobile, message_id(tracker)))
    except OtpLocked as exc:
        return locked(ctx.dispatcher, exc.retry_after)
    except NotFound:
        ctx.dispatcher.utter_message(response="utter_not_registered")
        return []
    await sessions.remember_code(conversation, str(issued["otp_id"]), mobile)
    return [
        SlotSet("otp_sent_to", mask_phone(mobile)),
        SlotSet("otp", None),
        SlotSet("otp_misses", 0),
        SlotSet("verification_result", None),
        SlotSet("pending_intent", intent),
        SlotSet("pending_args", ctx.args),
        FollowupAction("verification_form"),
    ]


def too_many_codes(dispatcher: CollectingDispatcher) -> list[EventType]:
    metrics.OTP_ISSUED.labels("rate_limited").inc()
    minutes = max(1, int(get_sessions().window // 60))
    dispatcher.utter_message(response="utter_otp_rate_limited", minutes=minutes, buttons=[AGENT_BUTTON])
    return []


def locked(dispatcher: CollectingDispatcher, retry_after: int) -> list[EventType]:
    minutes = max(1, (int(retry_after) + 59) // 60)
    dispatcher.utter_message(response="utter_verification_locked", minutes=minutes, buttons=[AGENT_BUTTON])
    return []


class ActionAskOtp(Action):
    """The form's question; the first time it says where the code went."""

    def name(self) -> str:
        return "action_ask_otp"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.get_slot("requested_slot") == "otp":
            dispatcher.utter_message(response="utter_ask_otp_again")
        else:
            dispatcher.utter_message(response="utter_ask_otp", otp_sent_to=tracker.get_slot("otp_sent_to") or "")
        return []


class ValidateVerificationForm(FormValidationAction):
    """Checks the code with the account API; never echoes it and overwrites the slot once checked.

    The code's id comes from this conversation's own pending record (actions/sessions.py), never from a slot,
    and a right code mints the verification session there: `verification_result` only routes the dialogue.
    """

    def name(self) -> str:
        return "validate_verification_form"

    async def validate_otp(self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        match = find_code(str(slot_value or "")) or find_code(str((tracker.latest_message or {}).get("text") or ""))
        latest_intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if match is None and latest_intent == tracker.get_slot("pending_intent"):
            # The form starts on the very message that asked the question ("mera portfolio kitna hai"):
            # that is not a wrong code, so say nothing and wait for the investor's answer.
            return {"otp": None}
        if match is None:
            misses = int(tracker.get_slot("otp_misses") or 0) + 1
            if misses >= 3:
                return {"otp": DONE, "verification_result": "abandoned"}
            dispatcher.utter_message(response="utter_otp_not_a_code")
            return {"otp": None, "otp_misses": misses}
        try:
            return await asyncio.wait_for(self._check(match.group(1), dispatcher, tracker), answer_deadline())
        except (ApiUnavailable, asyncio.TimeoutError):
            return {"otp": DONE, "verification_result": "unavailable"}

    async def _check(self, code: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        client, sessions, conversation = get_client(), get_sessions(), Conversation.of(tracker)
        pending = await sessions.pending_code(conversation)
        if pending is None:
            return await self._reissue(dispatcher, tracker, client)
        otp_id = str(pending["otp_id"])
        try:
            result = await client.verify_otp(otp_id, code, key=idempotency_key("otpv", otp_id, message_id(tracker)))
        except OtpLocked as exc:
            return {"otp": DONE, "verification_result": "locked", "lock_seconds": exc.retry_after}
        except (OtpExpired, NotFound):
            return await self._reissue(dispatcher, tracker, client)
        if result.get("verified"):
            await sessions.mint(conversation, str(result["investor_id"]))
            return {"otp": DONE, "verification_result": "verified"}
        left = int(result.get("attempts_left", 0))
        if left <= 0:
            await sessions.forget_code(conversation)
            return {"otp": DONE, "verification_result": "locked", "lock_seconds": result.get("retry_after", 900)}
        dispatcher.utter_message(response="utter_otp_wrong", attempts_left=left)
        return {"otp": None}

    async def _reissue(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                       client: AccountsClient) -> dict[str, Any]:
        mobile, sessions, conversation = sender_mobile(tracker), get_sessions(), Conversation.of(tracker)
        if not await sessions.issue_allowed(conversation, mobile):
            return {"otp": DONE, "verification_result": "rate_limited"}
        metrics.OTP_ISSUED.labels("sent").inc()
        try:
            issued = await client.issue_otp(mobile, key=idempotency_key("otp", mobile, message_id(tracker)))
        except OtpLocked as exc:
            return {"otp": DONE, "verification_result": "locked", "lock_seconds": exc.retry_after}
        except (ApiUnavailable, NotFound):
            return {"otp": DONE, "verification_result": "unavailable"}
        await sessions.remember_code(conversation, str(issued["otp_id"]), mobile)
        dispatcher.utter_message(response="utter_otp_expired_resent")
        return {"otp": None}


class ActionResumeAccount(Action):
    """After `verification_form`: answer the question that started it, or say why not.

    `verification_result` says which way the form ended; whether the investor may see an account is decided
    again by the question's own action (`AccountAction.gate`), from the session record, so a tracker that only
    claims "verified" is asked to verify.
    """

    def name(self) -> str:
        return "action_resume_account"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        result = tracker.get_slot("verification_result")
        intent = str(tracker.get_slot("pending_intent") or "")
        args = dict(tracker.get_slot("pending_args") or {})
        events: list[EventType] = [SlotSet("otp", None), SlotSet("pending_intent", None),
                                   SlotSet("pending_args", None), SlotSet("verification_result", None),
                                   SlotSet("otp_misses", 0)]
        if result == "locked":
            return events + locked(dispatcher, int(tracker.get_slot("lock_seconds") or 900))
        if result == "unavailable":
            return events + unavailable(dispatcher)
        if result == "rate_limited":
            return events + too_many_codes(dispatcher)
        if result != "verified" or intent not in REGISTRY:
            dispatcher.utter_message(response="utter_verification_stopped")
            return events
        action = REGISTRY[intent]()
        verified = [{"response": "utter_verified"}]
        return events + await bounded(self.name(), dispatcher, action.gate(dispatcher, tracker, args, verified))
