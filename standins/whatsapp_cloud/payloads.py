"""Meta-shaped JSON the simulator produces: webhook envelopes, investor messages, statuses, Graph API errors.

Shapes follow the WhatsApp Cloud API reference (webhooks `messages` field; Graph API error objects), so the
channel's tests exercise exactly what Meta sends.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

WABA_ID = "102290129340398"

# code -> (HTTP status, message, details)
ERRORS: dict[int, tuple[int, str, str]] = {
    190: (401, "Invalid OAuth access token - Cannot parse access token", ""),
    100: (400, "(#100) Invalid parameter", ""),
    131009: (400, "(#131009) Parameter value is not valid", ""),
    130429: (400, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    80007: (400, "(#80007) Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    131056: (
        400,
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone number in a short period.",
    ),
    131000: (500, "(#131000) Something went wrong", "Message failed to send due to an unknown error."),
    131047: (
        400,
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied.",
    ),
    132001: (404, "(#132001) Template name does not exist in the translation", "template name does not exist"),
}


def new_wamid() -> str:
    return "wamid." + secrets.token_urlsafe(24)


def graph_error(code: int, details: str = "") -> tuple[int, dict[str, Any]]:
    status, message, default_details = ERRORS.get(code, (400, f"(#{code}) Error", ""))
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if details or default_details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or default_details}
    return status, {"error": error}


def status_error(code: int) -> dict[str, Any]:
    _, message, details = ERRORS.get(code, (400, f"(#{code}) Error", ""))
    title = message.split(") ", 1)[-1]
    return {"code": code, "title": title, "message": title, "error_data": {"details": details}}


def envelope(phone_number_id: str, display_number: str, value: dict[str, Any]) -> dict[str, Any]:
    body = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_number, "phone_number_id": phone_number_id},
    }
    body.update(value)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": body, "field": "messages"}]}],
    }


def investor_message(
    wa_id: str, content: dict[str, Any], timestamp: int | None = None, msg_id: str | None = None
) -> dict[str, Any]:
    """`content` is the type-specific part, e.g. {"type": "text", "text": {"body": "hi"}}."""
    message = {"from": wa_id, "id": msg_id or new_wamid(), "timestamp": str(timestamp or int(time.time()))}
    message.update(content)
    return message


def content_from_request(data: dict[str, Any]) -> dict[str, Any]:
    """The simulator's compact input (`{"text": "hi"}`, `{"button_reply": {...}}`, ...) -> Meta's message content."""
    if "message" in data:  # already Meta-shaped (tests send every documented type this way)
        return dict(data["message"])
    if "button_reply" in data:
        return {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": data["button_reply"]}}
    if "list_reply" in data:
        return {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": data["list_reply"]}}
    if "image" in data:
        return {
            "type": "image",
            "image": {
                "id": secrets.token_hex(8),
                "mime_type": "image/jpeg",
                "sha256": secrets.token_hex(16),
                **data["image"],
            },
        }
    return {"type": "text", "text": {"body": str(data.get("text", ""))}}


def status(
    wamid: str, state: str, recipient: str, errors: list[dict[str, Any]] | None = None, callback: str = ""
) -> dict[str, Any]:
    item: dict[str, Any] = {"id": wamid, "status": state, "timestamp": str(int(time.time())), "recipient_id": recipient}
    if state in {"sent", "delivered"}:
        item["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if errors:
        item["errors"] = errors
    if callback:
        item["biz_opaque_callback_data"] = callback
    return item
