"""The last few transactions: purchases, SIP instalments (incl. failed debits), redemptions, switches."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions.base import AccountAction, Context
from actions.formatting import day, folio_label, inr, short_scheme

KIND = {"purchase": "Purchase", "sip": "SIP", "redemption": "Redemption", "switch_in": "Switch in",
        "switch_out": "Switch out"}


class ActionTransactionHistory(AccountAction):
    intent = "transaction_history"
    menu_title = "My transactions"

    async def answer(self, ctx: Context) -> list[EventType]:
        folio = ctx.chosen_folio()
        rows = (await ctx.client.transactions(ctx.investor_id, folio, limit=5)).get("transactions", [])
        if not rows:
            ctx.say("I found no transactions yet.")
            return []
        lines = []
        for t in rows:
            what = f"{KIND.get(t['kind'], t['kind'])} {inr(t['amount'])} · {short_scheme(t['scheme_name'])}"
            if t["status"] == "failed":
                what += f" ❌ failed ({t.get('remarks') or 'not processed'})"
            elif t.get("units"):
                what += f" · {t['units']:.3f} units"
            lines.append(f"• {day(t['date'], False)}: {what}")
        title = f"*Last {len(rows)} transactions*" + (f" (folio {folio_label(folio)})" if folio else "")
        ctx.say(title + "\n" + "\n".join(lines) + "\n\nFor a full history, ask me for a statement.")
        return []
