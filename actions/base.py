"""The account-action base: every account answer is an `AccountAction` subclass, registered by its intent.

A subclass sets `intent` (its action is `action_<intent>`) and implements `answer`; defining it adds it to
`REGISTRY`, which is the one Python-side list of account answers (`action_resume_account` finds the question's
action there). `AccountAction.run`:
1. the WhatsApp number (Rasa's sender id) must be a registered mobile on a folio; otherwise the investor is told
   how to register and nothing about any account is revealed;
2. a verification session of this conversation (actions/sessions.py) lets the answer through; otherwise
   actions/verification.py sends a code and collects it, then answers the remembered question;
3. every answer is bounded by `ACCOUNTS_ANSWER_DEADLINE` seconds: a slow or failing API gives an honest message
   and an agent button, never a hang.
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import logging
import pkgutil
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.api import AccountsClient, ApiUnavailable, get_client
from actions.formatting import AGENT_BUTTON, button, capabilities, match_folio
from actions.handoff import REASON_SLOT
from actions.sessions import Conversation, get_sessions
from common.config import env_float
from connectors.capabilities import Capabilities

logger = logging.getLogger(__name__)

# Entities an account question may carry; they are kept across verification in `pending_args`.
ARG_ENTITIES = ("folio", "scheme", "statement_type", "contact_field", "sip_ref", "date")


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

    @property
    def caps(self) -> Capabilities:
        """What the investor's channel can show (buttons, list rows, title and text lengths)."""
        return capabilities(self.tracker)

    def say(self, text: str, buttons: list[dict[str, Any]] | None = None) -> None:
        self.dispatcher.utter_message(text=text, buttons=buttons or [])

    def chosen_folio(self) -> str | None:
        """The investor's folio the message named (by its last digits or in full), or None for all of them."""
        return match_folio([f["number"] for f in self.investor.get("folios", [])], self.args.get("folio"))


REGISTRY: dict[str, type[AccountAction]] = {}


def load_actions() -> dict[str, type[AccountAction]]:
    """Import every module of the actions package (as rasa-sdk's action server does at start-up), so that
    `REGISTRY` holds every account answer wherever it is read."""
    import actions

    for module in pkgutil.iter_modules(actions.__path__):
        importlib.import_module(f"actions.{module.name}")
    return REGISTRY


class AccountAction(Action, abc.ABC):
    """Base of every account answer; subclasses set `intent` and implement `answer`. Abstract: not registered."""

    intent: ClassVar[str] = ""
    # The button that offers this answer when the bot is unsure what the investor meant (actions/fallback.py);
    # WhatsApp shows at most 20 characters. Empty: never offered (an answer to a question the bot asked).
    menu_title: ClassVar[str] = ""
    needs_verification: ClassVar[bool] = True
    # A new question drops a pending yes/no; the action that answers the yes keeps it for itself to clear.
    ends_pending_confirmation: ClassVar[bool] = True

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
        return await bounded(self.name(), dispatcher, self.gate(dispatcher, tracker, self.args(tracker)))

    async def gate(self, dispatcher: CollectingDispatcher, tracker: Tracker, args: dict[str, str],
                   on_verified: list[EventType] | None = None) -> list[EventType]:
        """Answer if this conversation proved it is the number's investor (actions/sessions.py); else verify."""
        # verification.py builds on this base (its form resumes through REGISTRY): imported when first needed.
        from actions.verification import start_verification

        client = get_client()
        ctx = Context(dispatcher, tracker, client, args)
        events: list[EventType] = []
        if self.ends_pending_confirmation:
            events.append(SlotSet("awaiting_confirmation", False))
        if not self.needs_verification:
            return events + await self.answer(ctx)
        investor = await client.investor_by_mobile(sender_mobile(tracker))
        if investor is None:
            dispatcher.utter_message(response="utter_not_registered")
            return events
        ctx.investor = investor
        if await get_sessions().verified_investor(Conversation.of(tracker)) == str(investor["investor_id"]):
            for message in on_verified or []:
                dispatcher.utter_message(**message)
            return events + await self.answer(ctx)
        return events + await start_verification(ctx, self.intent)


async def bounded(name: str, dispatcher: CollectingDispatcher, work: Awaitable[list[EventType]]) -> list[EventType]:
    """Every answer within `ACCOUNTS_ANSWER_DEADLINE`: a slow or failing API gives the honest answer instead."""
    started = time.monotonic()
    try:
        return await asyncio.wait_for(work, answer_deadline())
    except (ApiUnavailable, asyncio.TimeoutError) as exc:
        logger.warning("%s: account API unavailable after %.1fs (%s)", name, time.monotonic() - started,
                       type(exc).__name__)
        return [SlotSet("awaiting_confirmation", False), *unavailable(dispatcher)]
