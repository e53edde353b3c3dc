"""The one way the handoff service speaks to investors: Rasa's HTTP API, authenticated with RASA_TOKEN.

Agent replies are appended to the conversation as bot events with `execute_side_effects`, under Rasa's
conversation lock, so they leave through the investor's own channel (`output_channel=latest`, i.e. WhatsApp)
and land in the same transcript. Closing a ticket runs `action_handoff_resume`, which greets the investor
back and emits ConversationResumed. Neither call is retried automatically: a retry after a timeout could
send the investor the same message twice, so a failure is shown to the agent, who decides.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import aiohttp


class RasaError(RuntimeError):
    """Rasa refused or could not deliver; the message says what the agent should know."""


class RasaClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _post(self, path: str, payload: Any, params: dict[str, str]) -> Any:
        params = {**params, "token": self.token}
        try:
            async with self._client().post(f"{self.base_url}{path}", json=payload, params=params) as resp:
                if resp.status >= 300:
                    detail = (await resp.text())[:300]
                    raise RasaError(f"Rasa answered {resp.status}: {detail}")
                return await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise RasaError(f"Rasa is unreachable: {exc}") from exc
        except TimeoutError as exc:
            raise RasaError("Rasa did not answer in time; check the transcript before sending again") from exc

    async def send_agent_message(
        self, sender_id: str, *, text: str, client_id: str, agent_name: str, custom: dict[str, Any] | None = None
    ) -> None:
        """Deliver an agent's reply (or an approved template as `custom`) through the investor's channel."""
        event: dict[str, Any] = {
            "event": "bot",
            "text": text,
            "timestamp": time.time(),
            "metadata": {"handoff_message_id": client_id, "handoff_agent": agent_name},
        }
        if custom:
            event["data"] = {"custom": custom}
        await self._post(
            f"/conversations/{quote(sender_id, safe='')}/tracker/events",
            [event],
            {"output_channel": "latest", "execute_side_effects": "true", "include_events": "NONE"},
        )

    async def resume(self, sender_id: str) -> None:
        """Hand the conversation back to the bot: `action_handoff_resume` greets and unpauses."""
        await self._post(
            f"/conversations/{quote(sender_id, safe='')}/execute",
            {"name": "action_handoff_resume", "policy": "handoff", "confidence": 1.0},
            {"output_channel": "latest", "include_events": "NONE"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
