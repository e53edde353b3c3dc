"""SIP status (next instalment, last debit) and SIP cancellation (confirmed first, placed once)."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import EventType, SlotSet

from actions.base import AccountAction, Context
from actions.formatting import AGENT_BUTTON, button, day, folio_label, inr, scheme_title, short_scheme

STATUS_ICON = {"active": "🟢", "paused": "⏸️", "ceased": "⚪"}


def sip_line(sip: dict[str, Any]) -> str:
    line = f"{STATUS_ICON.get(sip['status'], '')} *{short_scheme(sip['scheme_name'])}* {inr(sip['amount'])} monthly"
    if sip.get("cancellation_request"):
        return line + f"\n   Cancellation requested (ref {sip['cancellation_request']})."
    if sip["status"] == "active":
        line += f"\n   Next: {day(sip['next_date'])}"
    elif sip["status"] == "paused":
        line += f"\n   Paused till {day(sip['paused_until'])}; resumes {day(sip['next_date'])}"
    else:
        return line + "\n   Ceased."
    debit = sip.get("last_debit") or {}
    if debit.get("date"):
        if debit.get("status") == "failed":
            line += f"\n   Last debit {day(debit['date'], False)}: ❌ failed ({debit.get('reason') or 'bank declined'})"
        else:
            line += f"\n   Last debit {day(debit['date'], False)}: ✅ done"
    return line


class ActionSipStatus(AccountAction):
    intent = "sip_status"
    menu_title = "My SIPs"

    async def answer(self, ctx: Context) -> list[EventType]:
        sips = (await ctx.client.sips(ctx.investor_id)).get("sips", [])
        if not sips:
            ctx.say("You have no SIPs with us yet.")
            return []
        order = {"active": 0, "paused": 1, "ceased": 2}
        sips.sort(key=lambda s: order.get(s["status"], 3))
        text = "*Your SIPs*\n" + "\n".join(sip_line(s) for s in sips[:8])
        if any((s.get("last_debit") or {}).get("status") == "failed" and s["status"] == "active" for s in sips):
            text += "\n\nA failed debit is not retried: keep the amount in your bank before the next date."
        ctx.say(text)
        return []


class ActionStopSip(AccountAction):
    """Lists the SIPs that can be stopped, then asks for confirmation; `action_confirm_request` places it."""

    intent = "stop_sip"
    menu_title = "Stop a SIP"

    async def answer(self, ctx: Context) -> list[EventType]:
        sips = [s for s in (await ctx.client.sips(ctx.investor_id)).get("sips", [])
                if s["status"] in {"active", "paused"} and not s.get("cancellation_request")]
        wanted = ctx.args.get("sip_ref")
        if wanted:
            sips = [s for s in sips if s["ref"] == wanted] or sips
        if not sips:
            ctx.say("You have no active or paused SIP to stop.", [AGENT_BUTTON])
            return []
        if len(sips) > 1:
            ctx.say("Which SIP do you want to stop?",
                    [button(scheme_title(s["scheme_name"], inr(s["amount"]), ctx.caps),
                            f'/stop_sip{{"sip_ref":"{s["ref"]}"}}', ctx.caps)
                     for s in sips[:ctx.caps.max_list_rows]])
            return []
        sip = sips[0]
        ctx.say(f"Stop your SIP of {inr(sip['amount'])} in *{short_scheme(sip['scheme_name'])}*, folio "
                f"{folio_label(sip['folio'])}? No further instalments will be debited.",
                [button("Yes, stop it", "/affirm"), button("No, keep it", "/deny")])
        request = {"kind": "sip_cancel", "sip_ref": sip["ref"], "label": short_scheme(sip["scheme_name"]),
                   "amount": sip["amount"]}
        return [SlotSet("awaiting_confirmation", True), SlotSet("pending_request", request)]
