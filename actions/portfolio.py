"""Portfolio value with gain, per folio when there are several, per scheme for one folio."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import EventType

from actions.base import AccountAction, Context
from actions.formatting import (
    button,
    day,
    folio_handle,
    folio_label,
    inr,
    short_scheme,
    signed_pct,
)

MAX_HOLDING_LINES = 6


def holding_lines(holdings: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(holdings, key=lambda h: -(h["value"] or 0))
    lines = [f"• {short_scheme(h['scheme_name'])}: {inr(h['value'])} ({signed_pct(h['gain_pct'])})"
             for h in ordered[:MAX_HOLDING_LINES]]
    if len(ordered) > MAX_HOLDING_LINES:
        lines.append(f"• …and {len(ordered) - MAX_HOLDING_LINES} more")
    return lines


class ActionCheckPortfolio(AccountAction):
    intent = "check_portfolio"
    menu_title = "My portfolio"

    async def answer(self, ctx: Context) -> list[EventType]:
        folio = ctx.chosen_folio()
        data = await ctx.client.portfolio(ctx.investor_id, folio)
        stale = " (last known values; live data is delayed)" if data.get("stale") else ""
        head = [
            f"*{'Folio ' + folio_label(folio) if folio else 'Your portfolio'}* (NAV as of {day(data['as_of'])}){stale}",
            f"Value: {inr(data['total_value'])} · Invested: {inr(data['total_invested'])}",
            f"Gain: {inr(data['gain'])} ({signed_pct(data['gain_pct'])})",
        ]
        folios = data.get("folios", [])
        if folio or len(folios) == 1:
            ctx.say("\n".join(head + [""] + holding_lines(folios[0]["holdings"] if folios else [])))
            return []
        lines = [f"• Folio {folio_label(f['number'])}: {inr(f['value'])}" for f in folios]
        buttons = [button(f"Folio {folio_label(f['number'])}",
                          f'/check_portfolio{{"folio":"{folio_handle(f["number"])}"}}', ctx.caps)
                   for f in folios[:ctx.caps.max_list_rows]]
        ctx.say("\n".join(head + [""] + lines + ["", "Tap a folio to see its schemes."]), buttons)
        return []
