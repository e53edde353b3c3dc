"""How account data reads on a phone: Indian rupee grouping, short dates, short scheme names, masked numbers.

Kept apart from the actions so every answer formats money and masks identifiers the same way. Button titles and
list lengths follow the investor's channel (`capabilities(tracker)`, declared in connectors/capabilities.py); with
no channel given, the strictest limits (WhatsApp's) apply.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rasa_sdk import Tracker

from common.pii import mask_account, mask_text
from connectors.capabilities import DEFAULT, Capabilities, for_channel


def capabilities(tracker: Tracker) -> Capabilities:
    """What the channel the investor wrote on can show: button and list limits, text length."""
    return for_channel(tracker.get_latest_input_channel())


def inr(amount: float | None, paise: bool = False) -> str:
    """₹ with Indian digit grouping: 1234567.8 -> '₹12,34,568' (or '₹12,34,567.80' with paise)."""
    if amount is None:
        return "-"
    value = Decimal(str(amount)).quantize(Decimal("0.01") if paise else Decimal("1"), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    whole, _, frac = f"{abs(value):f}".partition(".")
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        groups: list[str] = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        whole = ",".join(groups + [tail])
    return f"{sign}₹{whole}" + (f".{frac}" if paise and frac else "")


def nav_value(nav: float | None) -> str:
    return "-" if nav is None else f"₹{nav:,.4f}"


def signed_pct(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{'+' if value >= 0 else ''}{value:.2f}%"


def day(value: str | None, with_year: bool = True) -> str:
    """ISO date -> '20 Nov 2026' (or '20 Nov')."""
    if not value:
        return "-"
    parsed = dt.date.fromisoformat(value[:10])
    return parsed.strftime("%-d %b %Y" if with_year else "%-d %b")


def short_scheme(name: str) -> str:
    """'Sahyadri Flexi Cap Fund - Direct Plan - Growth' -> 'Flexi Cap (Direct-Growth)'."""
    base, _, rest = name.partition(" - ")
    words = base.split()
    if len(words) > 2:
        words = words[1:]  # drop the fund house's name: every scheme here is theirs
    if words and words[-1].lower() == "fund":
        words = words[:-1]
    label = " ".join(words)
    if rest:
        plan, _, option = rest.partition(" - ")
        label += f" ({plan.replace(' Plan', '')}-{option})"
    return label


def scheme_title(name: str, extra: str = "", caps: Capabilities = DEFAULT) -> str:
    """A button title: the scheme's short name without the plan, cut to fit with `extra` (e.g. an amount)."""
    base = short_scheme(name).split(" (")[0]
    room = caps.button_title_max - (len(extra) + 1 if extra else 0)
    if len(base) > room:
        base = base[: max(room - 1, 1)].rstrip() + "…"
    return f"{base} {extra}".strip() if extra else base


def folio_label(number: str) -> str:
    """Folio as shown to the investor: 'XXXX2376/47'."""
    masked = mask_text(number)
    return masked if masked != number else mask_account(number)


def folio_handle(number: str) -> str:
    """What a button sends back for a folio: last 4 digits and suffix ('2376/47'), never the full number."""
    head, _, suffix = number.partition("/")
    return head[-4:] + (f"/{suffix}" if suffix else "")


def match_folio(folios: list[str], wanted: str | None) -> str | None:
    """The investor's folio that a typed or tapped value refers to (full number, or its last digits)."""
    if not wanted:
        return None
    cleaned = wanted.strip().upper().lstrip("X")
    for number in folios:
        if number == cleaned or number.endswith(cleaned) or number.split("/")[0].endswith(cleaned):
            return number
    return None


def button(title: str, payload: str, caps: Capabilities = DEFAULT) -> dict[str, Any]:
    return {"title": title[:caps.button_title_max], "payload": payload}


AGENT_BUTTON = button("Talk to an agent", "/talk_to_agent")
