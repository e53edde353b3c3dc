"""Webhook payloads as documented by Meta (WhatsApp Cloud API, webhooks reference: `messages` field).

One message object per type Meta sends, copied in shape from the reference examples (ids and numbers
replaced). `webhook()` wraps messages/statuses in the documented envelope.
"""

from __future__ import annotations

from typing import Any

PHONE_NUMBER_ID = "100000000000001"
DISPLAY_NUMBER = "15550001111"
INVESTOR = "919812345678"


def webhook(
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages is not None:
        value["contacts"] = contacts or [{"profile": {"name": "Asha Rao"}, "wa_id": INVESTOR}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def message(
    msg_id: str, content: dict[str, Any], sender: str = INVESTOR, timestamp: int = 1_700_000_000
) -> dict[str, Any]:
    return {"from": sender, "id": msg_id, "timestamp": str(timestamp), **content}


TEXT = {"type": "text", "text": {"body": "What is my portfolio value?"}}
BUTTON_REPLY = {
    "type": "interactive",
    "interactive": {"type": "button_reply", "button_reply": {"id": "/check_portfolio", "title": "Portfolio"}},
}
LIST_REPLY = {
    "type": "interactive",
    "interactive": {
        "type": "list_reply",
        "list_reply": {"id": "/sip_status", "title": "SIP status", "description": "Your running SIPs"},
    },
}
LIST_REPLY_PLAIN_ID = {
    "type": "interactive",
    "interactive": {"type": "list_reply", "list_reply": {"id": "row-3", "title": "Tax statement"}},
}
TEMPLATE_BUTTON = {"type": "button", "button": {"payload": "/talk_to_agent", "text": "Talk to us"}}
IMAGE = {
    "type": "image",
    "image": {"caption": "", "mime_type": "image/jpeg", "sha256": "HASH", "id": "1479537139650973"},
}
IMAGE_WITH_CAPTION = {
    "type": "image",
    "image": {"caption": "what is this charge?", "mime_type": "image/jpeg", "sha256": "HASH", "id": "1479537139650974"},
}
DOCUMENT = {
    "type": "document",
    "document": {
        "filename": "cas_statement.pdf",
        "mime_type": "application/pdf",
        "sha256": "HASH",
        "id": "1479537139650975",
    },
}
AUDIO = {
    "type": "audio",
    "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "HASH", "id": "14795371396", "voice": True},
}
VIDEO = {"type": "video", "video": {"mime_type": "video/mp4", "sha256": "HASH", "id": "14795371397"}}
STICKER = {
    "type": "sticker",
    "sticker": {"mime_type": "image/webp", "sha256": "HASH", "id": "14795371398", "animated": False},
}
LOCATION = {
    "type": "location",
    "location": {"latitude": 19.0760, "longitude": 72.8777, "name": "Branch office", "address": "Fort, Mumbai"},
}
CONTACTS = {
    "type": "contacts",
    "contacts": [
        {
            "name": {"formatted_name": "Ravi Kumar", "first_name": "Ravi", "last_name": "Kumar"},
            "phones": [{"phone": "+91 98123 00000", "type": "CELL", "wa_id": "919812300000"}],
        }
    ],
}
REACTION = {"type": "reaction", "reaction": {"message_id": "wamid.REPLIED", "emoji": "\U0001f44d"}}
UNSUPPORTED = {
    "type": "unsupported",
    "errors": [
        {
            "code": 131051,
            "title": "Message type unknown",
            "message": "Message type unknown",
            "error_data": {"details": "Message type is currently not supported."},
        }
    ],
}
UNKNOWN_FUTURE_TYPE = {"type": "hologram", "hologram": {"id": "1"}}
REPLY_WITH_CONTEXT = {
    "type": "text",
    "text": {"body": "yes"},
    "context": {"from": DISPLAY_NUMBER, "id": "wamid.ORIGINAL"},
}

STATUS_SENT = {
    "id": "wamid.OUT1",
    "status": "sent",
    "timestamp": "1700000001",
    "recipient_id": INVESTOR,
    "conversation": {"id": "CONVERSATION_ID", "expiration_timestamp": "1700086400", "origin": {"type": "service"}},
    "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
}
STATUS_DELIVERED = {**STATUS_SENT, "status": "delivered", "timestamp": "1700000002"}
STATUS_READ = {"id": "wamid.OUT1", "status": "read", "timestamp": "1700000003", "recipient_id": INVESTOR}
STATUS_FAILED = {
    "id": "wamid.OUT2",
    "status": "failed",
    "timestamp": "1700000004",
    "recipient_id": INVESTOR,
    "errors": [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours have passed."},
        }
    ],
}
