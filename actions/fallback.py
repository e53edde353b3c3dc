"""The low-confidence path: suggestions when a guess is plausible, the scope statement when none is, then a person.

The fallback classifier (bot/components/confidence.py) turns a parse into `nlu_fallback` when the intent's
confidence is low or ambiguous, or when the intent is an FAQ but the FAQ topic's own confidence is low; it keeps
the classifier's rankings. When some meanings are plausible, offering them as buttons turns most "didn't get
that" moments into one tap; for a doubtful FAQ the buttons are its likeliest topics. When nothing is plausible
the message is far from what the bot does, and "I can't help with that" is the honest answer: the reply for
its kind when the NLU's best guess was an out-of-scope kind (the `scope_kind` entity of this message), the
general statement otherwise. A second miss in a row means the investor is stuck, so the bot offers a human
instead of looping.
"""

from __future__ import annotations

import functools
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import load_actions
from actions.formatting import AGENT_BUTTON

FALLBACK_INTENT = "nlu_fallback"
SCOPE_KIND_ENTITY = "scope_kind"  # set by the NLU (bot/components/scope.py) when its best guess is out of scope


@functools.cache
def intent_suggestions() -> dict[str, tuple[str, str]]:
    """Intent -> (button title, payload a tap sends back): each account answer's `menu_title` (actions/base.py,
    one place for what an answer is called), and a person."""
    menu = {intent: (cls.menu_title, f"/{intent}") for intent, cls in load_actions().items() if cls.menu_title}
    menu["talk_to_agent"] = (str(AGENT_BUTTON["title"]), str(AGENT_BUTTON["payload"]))
    return menu


# FAQ topics are suggested by their question: a tap sends the question, which the model answers.
FAQ_SUGGESTIONS: dict[str, tuple[str, str]] = {
    "what_is_nav": ("What is NAV?", "what is nav"),
    "what_is_sip": ("What is a SIP?", "what is sip"),
    "start_sip": ("How to start a SIP", "how do i start a sip"),
    "redeem_units": ("How to redeem", "how do i redeem my units"),
    "redemption_timeline": ("Redemption timeline", "how many days does redemption take"),
    "exit_load": ("Exit load", "what is exit load"),
    "elss_lock_in": ("ELSS lock-in", "what is the lock in period of elss"),
    "capital_gains_tax": ("Tax on gains", "how are mutual fund gains taxed"),
    "kyc_documents": ("KYC documents", "which documents are needed for kyc"),
    "update_kyc": ("Update KYC", "how do i update my kyc"),
    "nomination": ("Nomination", "how do i add a nominee"),
    "cut_off_time": ("Cut-off time", "what is the cut off time for nav"),
    "switch_scheme": ("Switch schemes", "how do i switch between schemes"),
    "minimum_investment": ("Minimum investment", "what is the minimum investment amount"),
    "direct_vs_regular": ("Direct vs regular", "difference between direct and regular plan"),
    "what_is_folio": ("What is a folio?", "what is a folio number"),
    "swp_stp": ("SWP and STP", "what is swp and stp"),
    "riskometer": ("Riskometer", "what is the riskometer"),
    "idcw": ("What is IDCW?", "what is idcw"),
    "change_bank_account": ("Change bank account", "how do i change my bank account"),
    "unclaimed_amount": ("Unclaimed amount", "how do i claim unclaimed redemption amount"),
}
MIN_SUGGESTION_CONFIDENCE = 0.2  # below this a guess is noise, not a meaning worth offering
MAX_BUTTONS = 3  # WhatsApp reply buttons


def consecutive_fallbacks(events: list[dict[str, Any]]) -> int:
    """How many of the investor's most recent messages in a row were not understood (this one included)."""
    count = 0
    for event in reversed(events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
        if intent != FALLBACK_INTENT:
            break
        count += 1
    return count


def faq_topics(parse_data: dict[str, Any]) -> list[str]:
    """The FAQ topics the NLU found plausible (`response_selector.faq`), most likely first (at least its top one)."""
    selector = (parse_data.get("response_selector") or {}).get("faq") or {}
    top = (selector.get("response") or {}).get("intent_response_key") or ""
    keys = [top] if top else []
    for ranked in selector.get("ranking") or []:
        key = str(ranked.get("intent_response_key") or "")
        if float(ranked.get("confidence") or 0.0) >= MIN_SUGGESTION_CONFIDENCE and key and key not in keys:
            keys.append(key)
    return [key.split("/", 1)[-1] for key in keys]


def suggestions(parse_data: dict[str, Any]) -> list[tuple[str, str]]:
    """The classifier's best guesses for a message it was not sure about, as (title, payload) buttons."""
    picked: list[tuple[str, str]] = []
    for ranked in parse_data.get("intent_ranking") or []:
        name, confidence = ranked.get("name"), float(ranked.get("confidence") or 0.0)
        if confidence < MIN_SUGGESTION_CONFIDENCE:
            break
        if name == "faq":
            buttons = [FAQ_SUGGESTIONS.get(topic) for topic in faq_topics(parse_data)]
        else:
            buttons = [intent_suggestions().get(str(name))]
        for button in buttons:
            if button and button not in picked and len(picked) < MAX_BUTTONS:
                picked.append(button)
        if len(picked) == MAX_BUTTONS:
            break
    return picked


def scope_reply(parse_data: dict[str, Any]) -> str:
    """The reply for the out-of-scope kind the NLU guessed for this very message, or the general statement.

    `utter_out_of_scope` picks its text by the `scope_kind` slot, which this message's entity has just set;
    without that entity the slot may hold an older message's kind, so the general statement is used.
    """
    kind_known = any(e.get("entity") == SCOPE_KIND_ENTITY for e in parse_data.get("entities") or [])
    return "utter_out_of_scope" if kind_known else "utter_scope_statement"


class ActionFallback(Action):
    """First miss: the plausible meanings as buttons, or the scope statement. Second miss in a row: an agent."""

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if consecutive_fallbacks(tracker.events) >= 2:
            dispatcher.utter_message(response="utter_offer_agent")
            return []
        buttons = suggestions(tracker.latest_message or {})
        if buttons:
            dispatcher.utter_message(
                text="Sorry, I'm not sure I understood. Did you mean one of these? Or say it another way.",
                buttons=[{"title": title, "payload": payload} for title, payload in buttons],
            )
        else:
            dispatcher.utter_message(response=scope_reply(tracker.latest_message or {}))
        return []
