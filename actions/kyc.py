"""KYC state with what to do next."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions.base import AccountAction, Context
from actions.formatting import AGENT_BUTTON, day

LABEL = {"verified": "✅ KYC verified", "registered": "⏳ KYC under process", "on_hold": "⚠️ KYC on hold",
         "rejected": "❌ KYC rejected"}


class ActionKycStatus(AccountAction):
    intent = "kyc_status"
    menu_title = "My KYC status"

    async def answer(self, ctx: Context) -> list[EventType]:
        kyc = await ctx.client.kyc(ctx.investor_id)
        lines = [f"*{LABEL.get(kyc['status'], kyc['status'])}* ({kyc.get('kra', 'KRA')}, updated "
                 f"{day(kyc.get('updated_on'))})"]
        if kyc.get("remarks"):
            lines.append(f"Reason: {kyc['remarks']}")
        if kyc.get("next_steps"):
            lines.append(f"Next: {kyc['next_steps']}")
        ctx.say("\n".join(lines), [AGENT_BUTTON] if kyc["status"] in {"on_hold", "rejected"} else None)
        return []
