"""The Rasa channel `rest` for developers and tests: `make chat`, curl, the test-suite. Never an investor's door.

Rasa's own `rest:` channel takes any `sender` from anyone, and its conversations share ids with WhatsApp's, so
one unauthenticated POST could speak as any investor's WhatsApp number (docs/security.md). This channel keeps
Rasa's REST contract (`POST /webhooks/rest/webhook {"sender", "message"}`, replies in the response) with three
differences:

- it answers only requests with `Authorization: Bearer <REST_CHANNEL_TOKEN>`;
- its conversations are its own: the sender id Rasa sees is `rest:<sender>`, so no REST message can reach, or
  change the output channel of, a WhatsApp conversation (whose ids are bare `wa_id` digits);
- it is off when `APP_ENV=production` unless `REST_CHANNEL_ENABLED=true` (every route answers 404).

credentials.yml:

    connectors.rest.TokenRestInput:
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.config import env_bool, env_secret, is_production
from common.logs import configure_logging

logger = logging.getLogger(__name__)

SENDER_PREFIX = "rest:"


def conversation_id(sender: str) -> str:
    """The Rasa sender id of a REST sender (what `/conversations/<id>/tracker` needs)."""
    return sender if sender.startswith(SENDER_PREFIX) else SENDER_PREFIX + sender


class TokenRestInput(RestInput):
    """Rasa's REST channel behind a bearer token, in a sender namespace of its own."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TokenRestInput:
        configure_logging("rasa")  # Rasa always loads its channels: our masked JSON logging whatever the stores
        enabled = env_bool("REST_CHANNEL_ENABLED", not is_production())
        return cls(token=env_secret("REST_CHANNEL_TOKEN", "dev-rest-token") if enabled else "", enabled=enabled)

    def __init__(self, token: str = "", enabled: bool = True) -> None:
        self.token = token
        self.enabled = enabled and bool(token)

    async def _extract_sender(self, req: Request) -> str | None:
        sender = (req.json or {}).get("sender") if isinstance(req.json, dict) else None
        return conversation_id(str(sender)) if sender not in (None, "") else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        if not self.enabled:
            logger.info("REST channel disabled (APP_ENV=production and REST_CHANNEL_ENABLED is not true)")
            return Blueprint("rest_disabled", url_prefix="/webhooks/rest")
        webhook = super().blueprint(on_new_message)

        @webhook.middleware("request")
        async def authenticate(request: Request) -> HTTPResponse | None:
            supplied = request.headers.get("authorization", "")
            if hmac.compare_digest(supplied.encode(), f"Bearer {self.token}".encode()):
                return None
            return response.json({"error": "authentication required"}, status=401)

        return webhook
