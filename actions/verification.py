"""Who is asking: the registered-mobile check, the OTP form, verification expiry, and the account-action base.

Every account intent goes through `AccountAction.run`:
1. the WhatsApp number (Rasa's sender id) must be a registered mobile on a folio; otherwise the investor is told
   how to register and nothing about any account is revealed;
2. a verified state younger than `ACCOUNTS_VERIFICATION_IDLE_SECONDS` (refreshed on every answer) lets the
   answer through; otherwise the account API sends an OTP and `verification_form` collects it, remembering the
   question (`pending_intent`, `pending_args`) so `action_resume_account` answers it once the code is right;
3. the API decides attempts and lockout (it is the system of record); the bot only words the outcome;
4. every answer is bounded by `ACCOUNTS_ANSWER_DEADLINE` seconds: a slow or failing API gives an honest message
   and an agent button, never a hang.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.api import AccountsClient, ApiUnavailable, NotFound, OtpExpired, OtpLocked, get_client
from actions.api.accounts import idempotency_key
from actions.formatting import AGENT_BUTTON, button
from actions.handoff import REASON_SLOT
from common.config import env_float
from common.pii import mask_phone

logger = logging.getLogger(__name__)

# Entities an account question may carry; they are kept across verification in `pending_args`.
ARG_ENTITIES = ("folio", "scheme", "statement_type", "contact_field", "sip_ref", "date")
CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def idle_seconds() -> float:
    return env_float("ACCOUNTS_VERIFICATION_IDLE_SECONDS", 600.0)


def answer_deadline() -> float:
    return env_float("ACCOUNTS_ANSWER_DEADLINE", 8.0)


def sender_mobile(tracker: Tracker) -> str:
    """The investor's WhatsApp id (country code + number) is Rasa's sender id on every channel."""
    return re.sub(r"\D", "", tracker.sender_id or "")


def latest_args(tracker: Tracker) -> dict[str, str]:
    """Entities of the latest message only: slots would carry a scheme or folio over from an older question."""
    args: dict[str, str] = {}
    for entity in (tracker.latest_message or {}).get("entities") or []:
        name, value = entity.get("entity"), entity.get("value")
        if name in ARG_ENTITIES and value not in (None, "") and name not in args:
            args[name] = str(value)
    return args


def message_id(tracker: Tracker) -> str:
    """An id for the investor's latest message, stable when Rasa re-sends the same action call."""
    latest = tracker.latest_message or {}
    return str(latest.get("message_id") or f"{tracker.sender_id}:{len(tracker.events)}")


def unavailable(dispatcher: CollectingDispatcher) -> list[EventType]:
    """The honest answer while the account system is down or slow, with a way to a person."""
    dispatcher.utter_message(response="utter_account_unavailable", buttons=[AGENT_BUTTON, button("Try again later",
                                                                                                 "/greet")])
    return [SlotSet(REASON_SLOT, "account_api_down")]


@dataclass
class Context:
    """What an account answer needs: where to speak, who is asking, what they asked."""

    dispatcher: CollectingDispatcher
    tracker: Tracker
    client: AccountsClient
    args: dict[str, str]
    investor: dict[str, Any] = field(default_factory=dict)

    @property
    def investor_id(self) -> int:
        return int(self.investor["investor_id"])

    def say(self, text: str, buttons: list[dict[str, Any]] | None = None) -> None:
        self.dispatcher.utter_message(text=text, buttons=buttons or [])


REGISTRY: dict[str, type[AccountAction]] = {}


class AccountAction(Action, abc.ABC):
    """Base of every account answer; subclasses set `intent` and implement `answer`. Abstract: not registered."""

    intent: ClassVar[str] = ""
    needs_verification: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.intent:
            REGISTRY[cls.intent] = cls

    def name(self) -> str:
        return f"action_{self.intent}"

    @abc.abstractmethod
    async def answer(self, ctx: Context) -> list[EventType]:
        """Answer for a verified investor (or anyone, when `needs_verification` is False)."""

    def args(self, tracker: Tracker) -> dict[str, str]:
        return latest_args(tracker)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        started = time.monotonic()
        try:
            events = await asyncio.wait_for(self.gate(dispatcher, tracker), answer_deadline())
        except (ApiUnavailable, asyncio.TimeoutError) as exc:
            logger.warning("%s: account API unavailable after %.1fs (%s)", self.name(), time.monotonic() - started,
                           type(exc).__name__)
            return [SlotSet("awaiting_confirmation", False), *unavailable(dispatcher)]
        return events

    async def gate(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        client = get_client()
        ctx = Context(dispatcher, tracker, client, self.args(tracker))
        events: list[EventType] = []
        if self.intent != "confirm_request":
            events.append(SlotSet("awaiting_confirmation", False))
        if not self.needs_verification:
            return events + await self.answer(ctx)
        investor = await client.investor_by_mobile(sender_mobile(tracker))
        if investor is None:
            dispatcher.utter_message(response="utter_not_registered")
            return events
        ctx.investor = investor
        if is_verified(tracker, investor):
            return events + await self.answer(ctx) + [SlotSet("verified_at", time.time())]
        return events + await start_verification(ctx, self.intent)


def is_verified(tracker: Tracker, investor: dict[str, Any]) -> bool:
    verified_at = tracker.get_slot("verified_at")
    same_investor = str(tracker.get_slot("investor_id") or "") == str(investor["investor_id"])
    return bool(same_investor and verified_at and time.time() - float(verified_at) < idle_seconds())


async def start_verification(ctx: Context, intent: str) -> list[EventType]:
    """Ask the account API for an OTP and hand over to `verification_form`, remembering the question."""
    tracker, mobile = ctx.tracker, sender_mobile(ctx.tracker)
    if tracker.get_slot("verified_at"):
        ctx.say(f"For your security, verification ends after {int(idle_seconds() // 60)} minutes without activity.")
    try:
        issued = await ctx.client.issue_otp(mobile, key=idempotency_key("otp", mobile, message_id(tracker)))
    except OtpLocked as exc:
        return locked(ctx.dispatcher, exc.retry_after)
    except NotFound:
        ctx.dispatcher.utter_message(response="utter_not_registered")
        return []
    return [
        SlotSet("verified_at", None),
        SlotSet("investor_id", None),
        SlotSet("otp_id", issued["otp_id"]),
        SlotSet("otp_sent_to", mask_phone(mobile)),
        SlotSet("otp", None),
        SlotSet("otp_misses", 0),
        SlotSet("verification_result", None),
        SlotSet("pending_intent", intent),
        SlotSet("pending_args", ctx.args),
        FollowupAction("verification_form"),
    ]


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
    """Checks the code with the account API; never echoes it and overwrites the slot once checked."""

    def name(self) -> str:
        return "validate_verification_form"

    async def validate_otp(self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: DomainDict) -> dict[str, Any]:
        done = "******"  # the slot must be filled to end the form; the code itself is not kept
        text = re.sub(r"(?<=\d)[\s-](?=\d)", "", str(slot_value or ""))
        match = CODE_RE.search(text)
        latest_intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if match is None and latest_intent == tracker.get_slot("pending_intent"):
            # The form starts on the very message that asked the question ("mera portfolio kitna hai"):
            # that is not a wrong code, so say nothing and wait for the investor's answer.
            return {"otp": None}
        if match is None:
            misses = int(tracker.get_slot("otp_misses") or 0) + 1
            if misses >= 3:
                return {"otp": done, "verification_result": "abandoned"}
            dispatcher.utter_message(response="utter_otp_not_a_code")
            return {"otp": None, "otp_misses": misses}
        client = get_client()
        otp_id = str(tracker.get_slot("otp_id") or "")
        try:
            result = await asyncio.wait_for(
                client.verify_otp(otp_id, match.group(1), key=idempotency_key("otpv", otp_id, message_id(tracker))),
                answer_deadline(),
            )
        except OtpLocked as exc:
            return {"otp": done, "verification_result": "locked", "lock_seconds": exc.retry_after}
        except (OtpExpired, NotFound):
            return await self._reissue(dispatcher, tracker, client)
        except (ApiUnavailable, asyncio.TimeoutError):
            return {"otp": done, "verification_result": "unavailable"}
        if result.get("verified"):
            return {"otp": done, "verification_result": "verified", "investor_id": str(result["investor_id"]),
                    "verified_at": time.time()}
        left = int(result.get("attempts_left", 0))
        if left <= 0:
            return {"otp": done, "verification_result": "locked", "lock_seconds": result.get("retry_after", 900)}
        dispatcher.utter_message(response="utter_otp_wrong", attempts_left=left)
        return {"otp": None}

    async def _reissue(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                       client: AccountsClient) -> dict[str, Any]:
        mobile = sender_mobile(tracker)
        try:
            issued = await client.issue_otp(mobile, key=idempotency_key("otp", mobile, message_id(tracker)))
        except OtpLocked as exc:
            return {"otp": "******", "verification_result": "locked", "lock_seconds": exc.retry_after}
        except (ApiUnavailable, NotFound):
            return {"otp": "******", "verification_result": "unavailable"}
        dispatcher.utter_message(response="utter_otp_expired_resent")
        return {"otp": None, "otp_id": issued["otp_id"]}


class ActionResumeAccount(Action):
    """After `verification_form`: answer the question that started it, or say why not."""

    def name(self) -> str:
        return "action_resume_account"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        result = tracker.get_slot("verification_result")
        intent = str(tracker.get_slot("pending_intent") or "")
        args = dict(tracker.get_slot("pending_args") or {})
        events: list[EventType] = [SlotSet("otp", None), SlotSet("otp_id", None), SlotSet("pending_intent", None),
                                   SlotSet("pending_args", None), SlotSet("verification_result", None),
                                   SlotSet("otp_misses", 0)]
        if result == "locked":
            return events + locked(dispatcher, int(tracker.get_slot("lock_seconds") or 900))
        if result == "unavailable":
            return events + unavailable(dispatcher)
        if result != "verified" or intent not in REGISTRY:
            dispatcher.utter_message(response="utter_verification_stopped")
            return events
        dispatcher.utter_message(response="utter_verified")
        action = REGISTRY[intent]()
        try:
            async def _answer() -> list[EventType]:
                client = get_client()
                investor = await client.investor_by_mobile(sender_mobile(tracker))
                if investor is None:
                    dispatcher.utter_message(response="utter_not_registered")
                    return []
                return await action.answer(Context(dispatcher, tracker, client, args, investor))

            answered = await asyncio.wait_for(_answer(), answer_deadline())
        except (ApiUnavailable, asyncio.TimeoutError):
            return events + unavailable(dispatcher)
        return events + answered + [SlotSet("verified_at", time.time())]
