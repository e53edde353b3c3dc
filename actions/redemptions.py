"""Where the redemption money is: open redemptions with expected credit date, else the last one paid."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions.base import AccountAction, Context
from actions.formatting import day, inr, short_scheme
from common.pii import mask_account


class ActionRedemptionStatus(AccountAction):
    intent = "redemption_status"
    menu_title = "My redemption"

    async def answer(self, ctx: Context) -> list[EventType]:
        open_rows = (await ctx.client.redemptions(ctx.investor_id, only_open=True)).get("redemptions", [])
        if open_rows:
            lines = ["*Redemption in progress*"]
            for r in open_rows[:3]:
                lines.append(f"• {inr(r['amount'])} from {short_scheme(r['scheme_name'])}, requested "
                             f"{day(r['requested_on'], False)}\n   Expected credit: *{day(r['expected_payout_date'])}* "
                             f"to {r['bank_name']} a/c {mask_account(r['bank_account'])}")
            ctx.say("\n".join(lines))
            return []
        past = (await ctx.client.redemptions(ctx.investor_id, only_open=False)).get("redemptions", [])
        if past:
            r = past[0]
            ctx.say(f"No redemption is pending. Your last one, {inr(r['amount'])} from "
                    f"{short_scheme(r['scheme_name'])}, was credited on {day(r['paid_on'])} to "
                    f"{r['bank_name']} a/c {mask_account(r['bank_account'])}.")
        else:
            ctx.say("You have no redemption requests with us.")
        return []
