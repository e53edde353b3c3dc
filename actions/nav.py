"""NAV of a scheme by name (fuzzy), code or ISIN. Public data: no verification needed."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import EventType

from actions.base import AccountAction, Context
from actions.formatting import button, day, nav_value, scheme_title, signed_pct

CONFIDENT = 0.75  # a top match scoring at least this, clearly ahead of the next, is answered directly
CLEAR_GAP = 0.08
POPULAR = [("Flexi Cap", "SFC-DG"), ("ELSS Tax Saver", "STS-DG"), ("Liquid", "SLQ-DG")]


def plan_label(plan: dict[str, Any]) -> str:
    return f"{plan['plan'].title()}-{'Growth' if plan['option'] == 'growth' else 'IDCW'}"


def change(plan: dict[str, Any]) -> str:
    if not plan.get("prev_nav"):
        return ""
    pct = (plan["nav"] - plan["prev_nav"]) / plan["prev_nav"] * 100
    return f" ({'▲' if pct >= 0 else '▼'}{signed_pct(pct).lstrip('+-')})"


class ActionCheckNav(AccountAction):
    intent = "check_nav"
    menu_title = "Check a NAV"
    needs_verification = False

    async def answer(self, ctx: Context) -> list[EventType]:
        query = ctx.args.get("scheme", "").strip()
        if not query:
            ctx.say("Which scheme? Type its name, e.g. *NAV of Flexi Cap*, or pick one:",
                    [button(title, f'/check_nav{{"scheme":"{code}"}}') for title, code in POPULAR])
            return []
        data = await ctx.client.search_navs(query)
        matches = data.get("matches", [])
        if not matches:
            ctx.say(f"I couldn't find a scheme called \"{query[:40]}\" among our funds. Try the name as it appears on "
                    "your statement, e.g. *Flexi Cap* or *Liquid*.")
            return []
        top = matches[0]
        runner_up = matches[1]["score"] if len(matches) > 1 else 0.0
        if top["score"] >= CONFIDENT and top["score"] - runner_up >= CLEAR_GAP or len(top["plans"]) == 1:
            plans = top["plans"]
            chosen = [p for p in plans if p["matches_hints"]] if len(plans) < 4 else []
            if not chosen:
                chosen = [p for p in plans if p["option"] == "growth"] or plans[:2]
            lines = [f"*{top['scheme_name']}*"]
            lines += [f"{plan_label(p)}: {nav_value(p['nav'])}{change(p)}" for p in chosen[:4]]
            lines.append(f"NAV as of {day(chosen[0]['nav_date'])}.")
            if data.get("stale"):
                lines.append("(Last known NAV; live data is delayed.)")
            ctx.say("\n".join(lines))
            return []
        options = [button(scheme_title(m["scheme_name"], caps=ctx.caps),
                          f'/check_nav{{"scheme":"{m["plans"][0]["code"]}"}}', ctx.caps) for m in matches[:5]]
        ctx.say("Which of these did you mean?", options)
        return []
