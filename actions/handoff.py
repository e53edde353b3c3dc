"""Handing the conversation to a person, and taking it back.

`action_handoff` records why (asked for a human, repeated fallback, account API down, complaint), tells the
investor what happens next (their place in the queue, or the team's hours) and pauses the conversation.
Rasa's processor predicts nothing for a paused tracker, so the bot stays silent while a person holds the
conversation by construction, not because every action remembers to check. The pause event reaches the
handoff service through the event broker and opens a ticket.

`action_handoff_resume` is run by the handoff service (Rasa HTTP API) when the agent closes the ticket:
it greets the investor back, optionally asks for a rating, and resumes the bot.

Agents see who is writing without being told more than they need (docs/handoff.md, "Identity"): the handoff
action sets `handoff_identity` to whether this conversation is verified right now (the server-side session of
actions/sessions.py, never a slot) and, if it is, the investor's name, masked PAN and masked folio numbers.

`action_session_start` carries the pause into a new session: Rasa's default session start resets the
tracker, which would unpause a conversation still waiting in the queue after the session expired.

Settings (docs/configuration.md): HANDOFF_URL, HANDOFF_INTERNAL_TOKEN, HANDOFF_BUSINESS_HOURS,
HANDOFF_ASK_RATING.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, ConversationResumed, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from common.config import env_bool, env_str
from common.pii import mask_account, mask_pan

logger = logging.getLogger(__name__)

REASON_SLOT = "handoff_reason"
IDENTITY_SLOT = "handoff_identity"
REASONS = ("asked_for_human", "repeated_fallback", "account_api_down", "complaint")
COMPLAINT_RE = re.compile(r"\b(complain\w*|grievance|escalat\w*|fraud|cheat\w*|worst|unacceptable|sebi|scores)\b", re.I)
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
IST = ZoneInfo("Asia/Kolkata")


def preset_reason(tracker: Tracker) -> str | None:
    """A reason another action set for *this* handoff: only while the investor's current message answers it
    (say, 'Talk to a person' under the outage notice). Set earlier in the conversation, it must not label a
    later, unrelated request: the account system may long be back by then."""
    users = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users += 1
            if users > 1:
                return None
        elif event.get("event") == "slot" and event.get("name") == REASON_SLOT:
            value = event.get("value")
            return str(value) if value in REASONS else None
    return None


def handoff_reason(tracker: Tracker) -> str:
    """Why the bot hands over: a reason set by another action for this turn wins, then what the events show."""
    preset = preset_reason(tracker)
    if preset:
        return preset
    text = (tracker.latest_message or {}).get("text") or ""
    if COMPLAINT_RE.search(text):
        return "complaint"
    misses = 0
    for event in reversed(tracker.events[-30:]):
        if event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent == "nlu_fallback":
                misses += 1
            elif misses or intent != "talk_to_agent":
                break
    if misses >= 2:
        return "repeated_fallback"
    return "asked_for_human"


def parse_hours(spec: str) -> tuple[set[int], int, int]:
    """`Mon-Sat 09:00-18:00` -> ({0..5}, 540, 1080): the days and the minutes of the day, in IST. The end may be
    24:00 (`Mon-Sun 00:00-24:00`: a desk staffed round the clock)."""
    match = re.fullmatch(r"\s*(\w{3})-(\w{3})\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})\s*", spec)
    if not match or match[1].lower() not in DAYS or match[2].lower() not in DAYS:
        raise ValueError(f"HANDOFF_BUSINESS_HOURS must look like 'Mon-Sat 09:00-18:00', got {spec!r}")
    start, end = int(match[3]) * 60 + int(match[4]), int(match[5]) * 60 + int(match[6])
    if int(match[4]) > 59 or int(match[6]) > 59 or not 0 <= start < end <= 24 * 60:
        raise ValueError(f"HANDOFF_BUSINESS_HOURS: the hours must run forward within one day, got {spec!r}")
    first, last = DAYS.index(match[1].lower()), DAYS.index(match[2].lower())
    days = set(range(first, last + 1)) if first <= last else set(range(first, 7)) | set(range(0, last + 1))
    return days, start, end


def within_hours(spec: str, now: dt.datetime | None = None) -> bool:
    days, start, end = parse_hours(spec)
    local = (now or dt.datetime.now(dt.timezone.utc)).astimezone(IST)
    return local.weekday() in days and start <= local.hour * 60 + local.minute < end


def describe_hours(spec: str) -> str:
    days, start, end = parse_hours(spec)
    names = [d.capitalize() for d in DAYS]
    # The run of days may wrap past Sunday ("Sat-Tue"): it starts at the day whose eve is not in it.
    first = next((d for d in sorted(days) if (d - 1) % 7 not in days), 0)
    last = (first + len(days) - 1) % 7
    if (start, end) == (0, 24 * 60):
        return f"{names[first]}-{names[last]}, round the clock"

    def clock(minutes: int) -> str:
        hour, minute = divmod(minutes, 60)
        if hour == 24:
            return "midnight"
        return f"{hour % 12 or 12}{':%02d' % minute if minute else ''} {'am' if hour < 12 else 'pm'}"

    return f"{names[first]}-{names[last]}, {clock(start)} to {clock(end)} IST"


async def queue_status(base_url: str, token: str) -> dict[str, Any] | None:
    """Ask the handoff service how many are waiting; None when it cannot say (the message is then generic)."""
    try:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(
                f"{base_url.rstrip('/')}/internal/queue", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                if resp.status != 200:
                    return None
                data = await resp.json()
                return data if isinstance(data, dict) else None
    except Exception as exc:  # the handoff itself must still happen
        logger.warning("Handoff service queue status unavailable: %s", exc.__class__.__name__)
        return None


async def identity_for_agents(tracker: Tracker) -> dict[str, Any]:
    """Verified or not, and if verified the name with the PAN and folios masked; nothing when unsure."""
    # actions.base imports this module (account answers hand over when the API is down): imported when needed
    from actions.api import get_client
    from actions.base import sender_mobile
    from actions.sessions import Conversation, get_sessions

    try:
        verified = await get_sessions().verified_investor(Conversation.of(tracker))
        investor = await get_client().investor_by_mobile(sender_mobile(tracker)) if verified else None
    except Exception as exc:  # the handoff itself must still happen
        logger.warning("Identity for the agent unavailable: %s", exc.__class__.__name__)
        return {"verified": False}
    if investor is None or str(investor.get("investor_id")) != verified:
        return {"verified": False}
    folios = [mask_account(str(f.get("number", ""))) for f in investor.get("folios") or []]
    return {"verified": True, "name": str(investor.get("name") or ""), "pan": mask_pan(str(investor.get("pan") or "")),
            "folios": folios[:10]}


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reason = handoff_reason(tracker)
        hours = env_str("HANDOFF_BUSINESS_HOURS", "Mon-Sat 09:00-18:00")
        status = await queue_status(
            env_str("HANDOFF_URL", "http://127.0.0.1:8091"), env_str("HANDOFF_INTERNAL_TOKEN", "dev-token")
        )
        staffed = status is not None and int(status.get("agents_available") or 0) > 0
        if not within_hours(hours) and not staffed:
            dispatcher.utter_message(response="utter_handoff_closed_hours", business_hours=describe_hours(hours))
        elif status is not None:
            # this ticket is not open yet when we ask: the investor is behind everyone already waiting
            dispatcher.utter_message(response="utter_handoff_queued", queue_position=int(status["waiting"]) + 1)
        else:
            dispatcher.utter_message(response="utter_handoff_queued_no_position")
        return [SlotSet(REASON_SLOT, reason), SlotSet(IDENTITY_SLOT, await identity_for_agents(tracker)),
                ConversationPaused()]


class ActionHandoffResume(Action):
    def name(self) -> str:
        return "action_handoff_resume"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_handoff_resumed")
        if env_bool("HANDOFF_ASK_RATING", False):
            dispatcher.utter_message(response="utter_handoff_ask_rating")
        # action_listen: the investor's next message is then a fresh turn, which the rules expect
        return [ConversationResumed(), SlotSet(REASON_SLOT, None), SlotSet(IDENTITY_SLOT, None),
                ActionExecuted("action_listen")]


class ActionSessionStart(Action):
    """Rasa's session start, except that a paused conversation stays paused in the new session."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [SessionStarted()]
        if tracker.is_paused():
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events
