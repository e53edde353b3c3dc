"""Requests that change something (SIP cancellation, contact change): confirmed by the investor, placed once.

The idempotency key is derived from who asks for what on which day, not from a random id: a double tap on
"Yes", a retried HTTP call or a re-asked question all land on the same request. The API also answers an
identical open request with the existing one (`duplicate: true`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.api import ApiRejected, NotFound
from actions.api.accounts import idempotency_key
from actions.base import AccountAction, Context, sender_mobile
from actions.formatting import AGENT_BUTTON, button, day
from common.pii import mask_email, mask_phone

FIELDS = {"email": "e-mail", "mobile": "mobile number", "address": "address"}


class ActionUpdateContact(AccountAction):
    intent = "update_contact"
    menu_title = "Update contact info"

    async def answer(self, ctx: Context) -> list[EventType]:
        field = (ctx.args.get("contact_field") or "").lower()
        if field in {"phone", "number", "mobile number"}:
            field = "mobile"
        if field in {"mail", "email id", "e-mail"}:
            field = "email"
        if field not in FIELDS:
            ctx.say("What would you like to update?", [
                button("E-mail", '/update_contact{"contact_field":"email"}'),
                button("Mobile number", '/update_contact{"contact_field":"mobile"}'),
                button("Address", '/update_contact{"contact_field":"address"}'),
            ])
            return []
        current = {"email": mask_email(ctx.investor.get("email", "")),
                   "mobile": mask_phone(ctx.investor.get("mobile", "")), "address": "on record"}[field]
        ctx.say(f"Raise a request to change your registered {FIELDS[field]} ({current})? We'll send a secure link "
                f"by SMS to your registered mobile to enter and verify the new {FIELDS[field]}.",
                [button("Yes, raise it", "/affirm"), button("No", "/deny")])
        return [SlotSet("awaiting_confirmation", True),
                SlotSet("pending_request", {"kind": "contact_change", "field": field})]


class ActionConfirmRequest(AccountAction):
    """The investor said yes: place the pending request exactly once."""

    intent = "confirm_request"
    ends_pending_confirmation = False  # it is the answer to that yes/no: `answer` clears it once placed

    def args(self, tracker: Tracker) -> dict[str, Any]:
        return dict(tracker.get_slot("pending_request") or {})

    async def answer(self, ctx: Context) -> list[EventType]:
        request = dict(ctx.args)
        done = [SlotSet("awaiting_confirmation", False), SlotSet("pending_request", None)]
        if request.get("kind") not in {"sip_cancel", "contact_change"}:
            ctx.say("There's nothing waiting for your confirmation. What would you like to do?")
            return done
        body = {"kind": request["kind"]}
        if request["kind"] == "sip_cancel":
            body["sip_ref"] = request["sip_ref"]
        else:
            body["field"] = request["field"]
        key = idempotency_key("service_request", sender_mobile(ctx.tracker), body.get("kind"),
                              body.get("sip_ref") or body.get("field"), dt.date.today())
        try:
            result = await ctx.client.create_service_request(ctx.investor_id, body, key=key)
        except (ApiRejected, NotFound) as exc:
            ctx.say(f"I couldn't place that request: {exc}. An agent can help.", [AGENT_BUTTON])
            return done
        if result.get("duplicate") or result.get("replayed"):
            ctx.say(f"This request is already placed (ref {result['ref']}); nothing more to do.")
        elif request["kind"] == "sip_cancel":
            ctx.say(f"Done ✅ Your {request.get('label', 'SIP')} SIP is being cancelled (ref {result['ref']}). "
                    f"No instalment will be debited after {day(result['details'].get('effective_from'))}.")
        else:
            ctx.say(f"Done ✅ Request {result['ref']} raised. Check your SMS for the secure link to enter and verify "
                    f"your new {FIELDS.get(request['field'], request['field'])}.")
        return done


class ActionCancelRequest(Action):
    """The investor said no: drop the pending request."""

    def name(self) -> str:
        return "action_cancel_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_request_not_placed")
        return [SlotSet("awaiting_confirmation", False), SlotSet("pending_request", None)]
