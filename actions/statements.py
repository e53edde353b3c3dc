"""Statement requests (CAS, capital gains, account statement): placed once per kind per day, sent by e-mail."""

from __future__ import annotations

import datetime as dt

from rasa_sdk.events import EventType

from actions.api.accounts import idempotency_key
from actions.base import AccountAction, Context, sender_mobile
from actions.formatting import button
from common.pii import mask_email

KINDS = {"cas": "consolidated account statement (CAS)", "capital_gains": "capital gains statement",
         "account_statement": "account statement"}
ALIASES = {"cas": "cas", "consolidated": "cas", "capital gains": "capital_gains", "capital_gain": "capital_gains",
           "cg": "capital_gains", "tax": "capital_gains", "account": "account_statement", "soa": "account_statement"}


def statement_kind(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    return value if value in KINDS else (ALIASES.get(value.replace("_", " ")) or ALIASES.get(value))


class ActionRequestStatement(AccountAction):
    intent = "request_statement"
    menu_title = "Get a statement"

    async def answer(self, ctx: Context) -> list[EventType]:
        kind = statement_kind(ctx.args.get("statement_type"))
        if kind is None:
            ctx.say("Which statement do you need?", [
                button("CAS (all funds)", '/request_statement{"statement_type":"cas"}'),
                button("Capital gains", '/request_statement{"statement_type":"capital_gains"}'),
                button("Account statement", '/request_statement{"statement_type":"account_statement"}'),
            ])
            return []
        folio = ctx.chosen_folio()
        # One request per investor, kind and folio per day: a repeat (by the investor or the network) gets the
        # same reference instead of a second e-mail.
        key = idempotency_key("statement", sender_mobile(ctx.tracker), kind, folio or "*", dt.date.today())
        result = await ctx.client.request_statement(ctx.investor_id, kind, folio, key=key)
        minutes = int(result.get("eta_minutes", 30))
        ctx.say(f"Done ✅ Your {KINDS[kind]} will be e-mailed to {mask_email(result['delivery']['to'])} within "
                f"{minutes} minutes. Reference: {result['ref']}.")
        return []
