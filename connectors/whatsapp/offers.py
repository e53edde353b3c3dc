"""Which reply ids the bot offered to each investor: the only ids accepted back as Rasa payloads.

A tapped reply button, list row or template quick reply comes back with the id we gave it, and our ids are Rasa
payloads (`/check_portfolio`, `/choose{"sip_ref": "..."}`) so that a tap skips NLU. But the id in the webhook
is whatever the investor's client put there: an unofficial client, or anyone able to sign a webhook, can send
`/check_portfolio{"folio": "<someone else's>"}` or an intent the bot never offers (`/action_handoff_resume`).
So the output channel records every payload-shaped id it sends to an investor (before sending, so a tap can
never arrive first), for the 24-hour customer-service window, and the channel accepts an inbound id as a
payload only if it is in that investor's set. Anything else is answered by the reply's title, as plain text.

Kept in the channel's StateStore: Redis (shared by every replica and the gateway) or in-process (embedded).
"""

from __future__ import annotations

from typing import Any

from connectors.whatsapp.messages import reply_ids
from connectors.whatsapp.store import StateStore


def is_payload(reply_id: str) -> bool:
    """Rasa reads text starting with '/' as an intent (with entities), not as language."""
    return reply_id.startswith("/")


class OfferedReplies:
    """Per-investor set of offered payload ids, each valid `ttl` seconds from the last time it was offered."""

    def __init__(self, store: StateStore, prefix: str, ttl: float) -> None:
        self.store = store
        self.prefix = prefix
        self.ttl = ttl

    def _key(self, wa_id: str) -> str:
        return f"{self.prefix}:offered:{wa_id}"

    async def record(self, message: dict[str, Any]) -> None:
        """Remember the payloads an outgoing Graph API message offers its recipient (no call when none)."""
        await self.offer(str(message.get("to", "")), [i for i in reply_ids(message) if is_payload(i)])

    async def offer(self, wa_id: str, payloads: list[str]) -> None:
        if payloads:
            await self.store.offer(self._key(wa_id), payloads, self.ttl)

    async def accepts(self, wa_id: str, payload: str) -> bool:
        """True only if `payload` was offered to `wa_id` within the last `ttl` seconds."""
        return await self.store.offered(self._key(wa_id), payload)
